"""Throw-away certificate authorities and host certificates, for tests and the demo.

Nothing here is meant for a production PKI: keys are generated in memory, never
protected by a passphrase, and the CA is whatever the caller says it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apeltools.messaging.crypto.der import encode

_SHORT_NAMES = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "DC": NameOID.DOMAIN_COMPONENT,
    "emailAddress": NameOID.EMAIL_ADDRESS,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "UID": NameOID.USER_ID,
}


@dataclass(frozen=True)
class Identity:
    """A certificate with its private key (and PEM forms of both)."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, directory, stem: str) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` and ``<stem>.key`` (mode 0600) into directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert_path.write_bytes(self.cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.key_pem)
        return cert_path, key_path


def parse_dn(dn: str) -> x509.Name:
    """``/C=UK/O=eScience/CN=host`` → x509.Name, attributes in the order given."""
    attributes = []
    for part in dn.strip("/").split("/"):
        short, _, value = part.partition("=")
        attributes.append(x509.NameAttribute(_SHORT_NAMES[short], value))
    return x509.Name(attributes)


def new_key(kind: str = "rsa"):
    """A fresh RSA-2048 or EC P-256 private key."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key kind {kind!r} (rsa or ec)")


def _validity(not_before, not_after, days):
    now = dt.datetime.now(dt.timezone.utc)
    not_before = not_before or now - dt.timedelta(hours=1)
    not_after = not_after or now + dt.timedelta(days=days)
    return not_before, not_after


def make_ca(
    dn: str = "/C=XX/O=apeltools/CN=apeltools throw-away CA",
    *,
    kind: str = "rsa",
    issuer: Identity | None = None,
    days: int = 3650,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Identity:
    """A self-signed root CA, or an intermediate CA when ``issuer`` is given."""
    key = new_key(kind)
    subject = parse_dn(dn)
    not_before, not_after = _validity(not_before, not_after, days)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    return Identity(builder.sign(signer_key, hashes.SHA256()), key)


def make_host(
    ca: Identity | None,
    hostname: str,
    *,
    dn: str | None = None,
    kind: str = "rsa",
    days: int = 365,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Identity:
    """A host certificate issued by ``ca`` (self-signed when ``ca`` is None).

    Shaped like a grid (IGTF) host certificate: digitalSignature and
    keyEncipherment, serverAuth and clientAuth, the host name as DNS SAN.
    """
    key = new_key(kind)
    subject = parse_dn(dn or f"/C=XX/O=apeltools/CN={hostname}")
    not_before, not_after = _validity(not_before, not_after, days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject if ca else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False,
                key_encipherment=kind == "rsa", data_encipherment=False,
                key_agreement=kind == "ec", key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    return Identity(builder.sign(ca.key if ca else key, hashes.SHA256()), key)


def make_crl(
    ca: Identity,
    revoked: list[Identity] = (),
    *,
    days: int = 30,
    last_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
) -> bytes:
    """A PEM CRL signed by ``ca`` listing the given certificates as revoked."""
    now = dt.datetime.now(dt.timezone.utc)
    last_update = last_update or now - dt.timedelta(hours=1)
    next_update = next_update or now + dt.timedelta(days=days)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(last_update)
        .next_update(next_update)
    )
    for identity in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(identity.cert.serial_number)
            .revocation_date(last_update)
            .build()
        )
    crl = builder.sign(ca.key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM)


# -- OpenSSL's subject hash, so that `openssl ... -CApath` finds what we write ----------

_STRING_TAGS = {0x0C, 0x13, 0x14, 0x16, 0x1A, 0x1C, 0x1E}  # UTF8, Printable, T61, IA5, Visible, Universal, BMP


def _der_children(buf: bytes):
    pos = 0
    while pos < len(buf):
        tag, length, pos = buf[pos], buf[pos + 1], pos + 2
        if length & 0x80:
            n = length & 0x7F
            length, pos = int.from_bytes(buf[pos:pos + n], "big"), pos + n
        yield tag, buf[pos:pos + length]
        pos += length


def _canonical_value(tag: int, content: bytes) -> bytes:
    """OpenSSL's name canonical form: UTF-8, trimmed, spaces collapsed, ASCII lowercased."""
    if tag not in _STRING_TAGS:
        return encode(tag, content)
    text = content.decode({0x1E: "utf-16-be", 0x1C: "utf-32-be", 0x14: "latin-1"}.get(tag, "utf-8"))
    out, in_space = [], False
    for ch in text.strip(" \t\n\v\f\r"):
        if ch in " \t\n\v\f\r":
            if not in_space:
                out.append(" ")
            in_space = True
            continue
        in_space = False
        out.append(ch.lower() if ch.isascii() else ch)
    return encode(0x0C, "".join(out).encode())


def subject_hash(name: x509.Name) -> str:
    """The 8 hex digits ``openssl x509 -hash`` prints for a certificate with this subject."""
    canonical = b""
    for rdn_tag, rdn in _der_children(next(_der_children(name.public_bytes()))[1]):
        entries = []
        for _, entry in _der_children(rdn):
            (oid_tag, oid), (value_tag, value) = _der_children(entry)
            entries.append(encode(0x30, encode(oid_tag, oid) + _canonical_value(value_tag, value)))
        canonical += encode(0x31, b"".join(sorted(entries)))
    return "%08x" % int.from_bytes(hashlib.sha1(canonical).digest()[:4], "little")


def write_ca_dir(directory, cas: list[Identity], crls: list[bytes] = ()) -> Path:
    """Write a hashed CA directory (``<hash>.0`` certificates, ``<hash>.r0`` CRLs).

    The same layout ``openssl rehash`` makes, so both our verifier and
    ``openssl smime -verify -CApath`` read it.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    def free_name(stem, suffix):
        n = 0
        while (directory / f"{stem}.{suffix}{n}").exists():
            n += 1
        return directory / f"{stem}.{suffix}{n}"

    for ca in cas:
        free_name(subject_hash(ca.cert.subject), "").write_bytes(ca.cert_pem)
    for crl_pem in crls:
        crl = x509.load_pem_x509_crl(crl_pem)
        free_name(subject_hash(crl.issuer), "r").write_bytes(crl_pem)
    return directory
