"""check_apel_cert: the host certificate's expiry, that the key matches it, and its chain to the CA directory.

Key and chain are checked the way messages use them: a small message is
signed with the certificate and key and verified against the CA directory,
exactly as apel-receive would verify a message from this host.
"""

from __future__ import annotations

import os

import click
import nagiosplugin
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from nagiosplugin.state import Critical, Ok

from apeltools import events
from apeltools.errors import ApelError, CryptoError
from apeltools.messaging import crypto
from apeltools.probes.runtime import execute, outcome, parse_range, probe

DEFAULTS = {
    "certificate": "/etc/grid-security/hostcert.pem",
    "key": "/etc/grid-security/hostkey.pem",
    "capath": "/etc/grid-security/certificates",
}


def _read(path, what):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ApelError(f"cannot read {what} {path}: {error.strerror}") from None


class CertResource(nagiosplugin.Resource):
    def __init__(self, cert_path, key_path, capath, now):
        self.cert_path, self.key_path, self.capath, self.now = cert_path, key_path, capath, now
        self.subject = self.expires = None
        self.problems = {}

    @property
    def name(self):
        return "APEL-Cert"

    def probe(self):
        cert_pem = _read(self.cert_path, "certificate")
        key_pem = _read(self.key_path, "key")
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as error:
            raise ApelError(f"{self.cert_path} is not a PEM certificate: {error}") from None
        _check_usable(self.key_path, key_pem, self.capath)
        self.subject = crypto.signer_dn(cert)
        self.expires = cert.not_valid_after_utc
        days = (self.expires - self.now).total_seconds() / 86400
        metrics = [nagiosplugin.Metric("days_left", round(days, 2), min=0, context="expiry")]
        try:
            signed = crypto.sign(b"check_apel_cert\n", cert_pem, key_pem)
        except CryptoError as error:
            self.problems["key"] = str(error)
            return metrics + [nagiosplugin.Metric("key", False, context="problem")]
        metrics.append(nagiosplugin.Metric("key", True, context="problem"))
        try:
            crypto.verify(signed, self.capath)
        except CryptoError as error:
            self.problems["chain"] = str(error)
        metrics.append(nagiosplugin.Metric("chain", "chain" not in self.problems, context="problem"))
        return metrics


def _check_usable(key_path, key_pem, capath):
    """ApelError (UNKNOWN) when the probe was given a file that is no key or a CA directory that is not there.

    Then the probe cannot tell whether the host's credentials are good: a usage
    problem, unlike a real key that does not match or a chain that fails
    (CRITICAL). A key protected by a passphrase is a real key the sender
    cannot use, so it is left to the signing check.
    """
    try:
        serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        pass
    except (ValueError, UnsupportedAlgorithm) as error:
        raise ApelError(f"{key_path} is not a PEM private key: {error}") from None
    try:
        os.stat(capath)
    except OSError as error:
        raise ApelError(f"cannot read CA directory {capath}: {error.strerror}") from None


class Problem(nagiosplugin.Context):
    """CRITICAL when the named check (key, chain) failed, with its reason."""

    def evaluate(self, metric, resource):
        if metric.value:
            return self.result_cls(Ok, None, metric)
        return self.result_cls(Critical, f"{metric.name}: {resource.problems[metric.name]}", metric)


class CertSummary(nagiosplugin.Summary):
    def __init__(self, resource):
        self.resource = resource

    def ok(self, results):
        r = self.resource
        days = results["days_left"].metric.value
        return f"[ {r.subject} valid until {r.expires:%Y-%m-%d} ({days:.0f} days), key matches, chain verified ]"

    def problem(self, results):
        r = self.resource
        bad = [result for result in results if result.state != Ok]
        reasons = []
        for result in bad:
            if result.metric.name == "days_left":
                state = "expired" if result.metric.value <= 0 else "expires"
                reasons.append(f"{state} {r.expires:%Y-%m-%d} ({result.metric.value:.0f} days)")
            else:
                reasons.append(result.hint)
        return f"[ {r.subject}: " + "; ".join(reasons) + " ]"


def _days_left(ctx, param, value):
    """A threshold in days left: a bare number N is ``N:`` (alert below N days), as operators type it.

    In Nagios range syntax a bare ``30`` would mean "alert above 30", which
    makes a certificate with a year left CRITICAL; every certificate check
    reads ``-w 30 -c 7`` as days remaining. Anything else is a Nagios range.
    """
    try:
        value = f"{float(value):g}:"
    except ValueError:
        pass
    parse_range(value, "/".join(param.opts))
    return value


@probe("check_apel_cert", epilog="""\b
Examples:
  check_apel_cert
  check_apel_cert --cert /etc/grid-security/hostcert.pem --key /etc/grid-security/hostkey.pem \\
                  --capath /etc/grid-security/certificates -w 30 -c 7
  check_apel_cert --config /etc/apel/sender.cfg
""")
@click.option("--cert", "cert_path", metavar="FILE",
              help=f"Host certificate [default: [certificates] certificate, else {DEFAULTS['certificate']}].")
@click.option("--key", "key_path", metavar="FILE",
              help=f"Its private key [default: [certificates] key, else {DEFAULTS['key']}].")
@click.option("--capath", metavar="DIR",
              help=f"Hashed CA directory [default: [certificates] capath, else {DEFAULTS['capath']}].")
@click.option("-w", "--warning", default="30", show_default=True, metavar="DAYS", callback=_days_left,
              help="WARNING when fewer days than this are left (a Nagios range such as '@0:30' also works).")
@click.option("-c", "--critical", default="7", show_default=True, metavar="DAYS", callback=_days_left,
              help="CRITICAL when fewer days than this are left (or a Nagios range).")
def main(settings, cert_path, key_path, capath, warning, critical):
    """Is the host certificate good for signing accounting messages?

    Days until the certificate expires (WARNING and CRITICAL by -w and -c),
    whether the private key belongs to it, and whether a message signed
    with them verifies against the CA directory (chain, dates, key usage),
    as the receiving side will check it. A key that does not match (or needs
    a passphrase) or a chain that fails is CRITICAL. Perfdata: days_left. Any
    usage error, unreadable file, file that is no certificate or key, missing
    CA directory or timeout is UNKNOWN.
    """
    get = settings.config.get
    cert_path = cert_path or get("certificates", "certificate") or DEFAULTS["certificate"]
    key_path = key_path or get("certificates", "key") or DEFAULTS["key"]
    capath = capath or get("certificates", "capath") or DEFAULTS["capath"]

    def run():
        resource = CertResource(cert_path, key_path, capath, settings.now)
        check = nagiosplugin.Check(
            resource,
            nagiosplugin.ScalarContext("expiry", warning, critical),
            Problem("problem"),
            CertSummary(resource),
        )
        result = outcome(check)
        days = check.results.by_name.get("days_left")
        if days is not None and days.state != Ok:
            events.emit("certificate.expiring", subject=resource.subject, not_after=resource.expires.isoformat(),
                        days_left=days.metric.value)
        return result

    return execute(settings, run)

