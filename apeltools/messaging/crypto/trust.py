"""Where a signer is trusted: the CA directory and CRLs, the chain to a trusted CA, revocation."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections import OrderedDict
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtensionOID

from apeltools.errors import CryptoError
from apeltools.messaging.crypto.certs import matches
from apeltools.messaging.crypto.names import signer_dn, slash_dn
from apeltools.messaging.crypto.signeddata import SignedData

__all__ = ["trusted_signer"]


class _Store(NamedTuple):
    stamp: tuple  # what the file or directory looked like when loaded
    settled: bool  # loaded well after its last change (see _load_store)
    certs: dict  # x509.Name → [x509.Certificate]
    crls: dict  # x509.Name → [x509.CertificateRevocationList]


_stores: dict = {}
_stores_lock = threading.Lock()
_TICK = 1.0  # coarsest file time granularity we expect (seconds)


def _stamp(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError as e:
        raise CryptoError(f"cannot read {path}: {e.strerror}") from None
    return (path, st.st_mtime_ns, st.st_size, st.st_ino)


def _load_store(path: str, want_certs: bool) -> _Store:
    """Every certificate (or CRL) in a file or hashed directory, cached until it changes.

    Hashed directories are updated by ``openssl rehash`` and fetch-crl through
    new files and renames, which change the directory's mtime: that is what the
    cache watches (a file rewritten in place is not noticed).  A change made in
    the same clock tick as the load would not move the mtime, so a store loaded
    within a tick of its last change is loaded once more after that tick.
    """
    key = (path, want_certs)
    stamp = _stamp(path)
    store = _stores.get(key)
    if store is not None and store.stamp == stamp and (
        store.settled or time.time() < stamp[1] / 1e9 + _TICK
    ):
        return store
    with _stores_lock:
        files = [path]
        if os.path.isdir(path):
            files = [os.path.join(path, n) for n in sorted(os.listdir(path)) if not n.startswith(".")]
        by_name: dict = {}
        seen = set()
        for file in files:
            items: list[Any]  # certificates or CRLs
            try:
                with open(file, "rb") as f:
                    text = f.read()
            except OSError:
                continue  # a dangling symlink or a subdirectory
            try:
                if want_certs and b"-----BEGIN CERTIFICATE-----" in text:
                    items = x509.load_pem_x509_certificates(text)
                elif not want_certs and b"-----BEGIN X509 CRL-----" in text:
                    items = [x509.load_pem_x509_crl(b"-----BEGIN X509 CRL-----" + chunk)
                             for chunk in text.split(b"-----BEGIN X509 CRL-----")[1:]]
                else:
                    continue
            except ValueError:
                continue  # one broken file must not take down the whole directory
            for item in items:
                fingerprint = item.fingerprint(hashes.SHA256())
                if fingerprint not in seen:
                    seen.add(fingerprint)
                    by_name.setdefault(item.subject if want_certs else item.issuer, []).append(item)
        if want_certs and not by_name:
            raise CryptoError(f"no CA certificates found in {path}")
        settled = time.time() > stamp[1] / 1e9 + _TICK
        store = _Store(stamp, settled, by_name, {}) if want_certs else _Store(stamp, settled, {}, by_name)
        _stores[key] = store
        return store


_KNOWN_EXTENSIONS = {
    ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.ISSUER_ALTERNATIVE_NAME,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
}  # name and policy constraints are not enforced, so a certificate marking them critical is refused


def _extension(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _check_cert(cert: x509.Certificate, now: dt.datetime, role: str, below: int) -> None:
    """Dates, critical extensions and the use this certificate is put to in the chain."""
    dn = signer_dn(cert)
    if now < cert.not_valid_before_utc:
        raise CryptoError(f"{role} certificate {dn} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S}Z")
    if now > cert.not_valid_after_utc:
        raise CryptoError(f"{role} certificate {dn} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S}Z")
    try:
        extensions = cert.extensions
    except ValueError as e:
        raise CryptoError(f"{role} certificate {dn} has a malformed extension: {e}") from None
    for ext in extensions:
        if ext.critical and ext.oid not in _KNOWN_EXTENSIONS:
            raise CryptoError(f"{role} certificate {dn} has an unknown critical extension {ext.oid.dotted_string}")
    usage = _extension(cert, x509.KeyUsage)
    if role == "signer":
        if usage and not (usage.digital_signature or usage.content_commitment):
            raise CryptoError(f"signer certificate {dn} may not sign (key usage)")
        return
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is None:
        # Only an old v1 self-signed root may lack basicConstraints (as in OpenSSL).
        if not (cert.version == x509.Version.v1 and cert.issuer == cert.subject):
            raise CryptoError(f"{role} certificate {dn} is not a CA certificate")
    elif not constraints.ca:
        raise CryptoError(f"{role} certificate {dn} is not a CA certificate")
    elif constraints.path_length is not None and below > constraints.path_length:
        raise CryptoError(f"{role} certificate {dn} path length constraint exceeded")
    if usage and not usage.key_cert_sign:
        raise CryptoError(f"{role} certificate {dn} may not sign certificates (key usage)")


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


def _build_chain(signer: x509.Certificate, bag: list, trusted: dict, now: dt.datetime) -> list:
    """signer → intermediates from the bag → a certificate of the CA directory."""
    chain = [signer]
    for _ in range(10):
        cert = chain[-1]
        anchor = next((ca for ca in trusted.get(cert.issuer, ()) if _issued(cert, ca)), None)
        if anchor is not None:
            if anchor != cert:  # a trusted self-signed certificate may sign directly
                chain.append(anchor)
            break
        step = next((c for c in bag if c.subject == cert.issuer and c not in chain and _issued(cert, c)), None)
        if step is None:
            raise CryptoError(
                f"certificate {signer_dn(cert)} is not issued by a trusted CA "
                f"(issuer {slash_dn(cert.issuer)})"
            )
        chain.append(step)
    else:
        raise CryptoError(f"certificate chain of {signer_dn(signer)} is too long")
    for depth, cert in enumerate(chain):
        _check_cert(cert, now, "signer" if depth == 0 else "CA", depth - 1)
    return chain


def _check_revocation(chain: list, crls: dict, now: dt.datetime) -> dt.datetime:
    """Every certificate below the trust anchor must be on a current CRL of its issuer.

    Like ``openssl -crl_check_all``: a missing or expired CRL is an error.  Returns
    when the CRLs used stop being current.
    """
    fresh_until = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    for cert, issuer in zip(chain, chain[1:]):
        candidates = [c for c in crls.get(cert.issuer, ()) if c.is_signature_valid(issuer.public_key())]
        if not candidates:
            raise CryptoError(f"no CRL of {signer_dn(issuer)} found")
        crl = max(candidates, key=lambda c: c.last_update_utc)
        if crl.next_update_utc is not None:
            if crl.next_update_utc < now:
                raise CryptoError(f"CRL of {signer_dn(issuer)} expired on {crl.next_update_utc:%Y-%m-%d %H:%M:%S}Z")
            fresh_until = min(fresh_until, crl.next_update_utc)
        revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if revoked is not None:
            raise CryptoError(
                f"certificate {signer_dn(cert)} was revoked on {revoked.revocation_date_utc:%Y-%m-%d}"
            )
    return fresh_until


# A verified chain stays good until a certificate or a CRL in it expires, or the
# CA directory or CRLs change (their stamps are part of the key).
_chains: OrderedDict = OrderedDict()
_CHAIN_CACHE_SIZE = 256


def trusted_signer(sd: SignedData, ca_path: str, crl_path: str | None) -> x509.Certificate:
    """The certificate that signed ``sd``, once its chain to a CA of ``ca_path`` is checked
    (and with ``crl_path``, that none of it is revoked); see :func:`~apeltools.messaging.crypto.verify`."""
    store = _load_store(ca_path, want_certs=True)
    crls = _load_store(crl_path, want_certs=False) if crl_path else None
    key = (store.stamp, crls.stamp if crls else None, sd.sid, sd.cert_ders)
    now = dt.datetime.now(dt.timezone.utc)
    cached = _chains.get(key)
    if cached is not None and now < cached[1]:
        return cached[0]

    try:
        bag = [x509.load_der_x509_certificate(der) for der in sd.cert_ders]
        for cert in bag:  # parsed lazily by cryptography: fail here, not halfway through the chain
            cert.subject, cert.issuer, cert.extensions
    except Exception as e:  # noqa: BLE001 - cryptography has many parse errors; all mean "unreadable"
        raise CryptoError(f"message carries an unreadable certificate: {e}") from None
    named = [c for c in bag if matches(c, sd.sid)]
    if len(named) != 1:
        raise CryptoError("the signer's certificate is not in the message" if not named
                          else "several certificates in the message match the signer")
    signer = named[0]
    chain = _build_chain(signer, bag, store.certs, now)
    strangers = [c for c in bag if c not in chain]
    if strangers:
        raise CryptoError(
            "message carries certificates outside the signer's chain: "
            + ", ".join(signer_dn(c) for c in strangers)
            + f" (signer {signer_dn(signer)})"
        )
    valid_until = min(c.not_valid_after_utc for c in chain)
    if crls is not None:
        valid_until = min(valid_until, _check_revocation(chain, crls.crls, now))
    _chains[key] = (signer, valid_until)
    if len(_chains) > _CHAIN_CACHE_SIZE:
        _chains.popitem(last=False)
    return signer
