"""Where certificates are read from PEM and matched to the identifiers CMS names them by.

A SignerInfo names its signer, and a RecipientInfo its recipient, by issuer
and serial number or by subject key identifier: :func:`identifier` reads that
name from the structure, :func:`matches` tells whether a certificate is the
one named (comparing the issuer exactly as encoded, as OpenSSL does).
"""

from __future__ import annotations

import functools

from cryptography import x509

from apeltools.errors import CryptoError
from apeltools.messaging.crypto.der import Tlv, children, raw, read_tlv

__all__ = ["load_cert", "identifier", "matches"]


@functools.lru_cache(maxsize=64)
def load_cert(cert_pem: bytes) -> x509.Certificate:
    """The certificate of PEM bytes (cached: the same few are read for every message)."""
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError) as e:
        raise CryptoError(f"cannot read certificate: {e}") from None


def identifier(der: bytes, tlv: Tlv, whose: str) -> tuple:
    """A signer's or recipient's certificate as named in the structure: by issuer and serial
    number, or by subject key identifier (the form :func:`matches` compares)."""
    if tlv.tag == 0x30:
        issuer, serial = children(der, tlv)[:2]
        return ("issuer_serial", raw(der, issuer), int.from_bytes(der[serial.body:serial.end], "big", signed=True))
    if tlv.tag == 0x80:
        return ("ski", der[tlv.body:tlv.end])
    raise CryptoError(f"malformed PKCS#7 structure: unknown {whose} identifier")


def _tbs_issuer(cert: x509.Certificate) -> bytes:
    """The issuer Name exactly as encoded in the certificate."""
    tbs = cert.tbs_certificate_bytes
    fields = children(tbs, read_tlv(tbs, 0, len(tbs)))
    if fields[0].tag == 0xA0:  # explicit version
        fields = fields[1:]
    return raw(tbs, fields[2])


def matches(cert: x509.Certificate, sid: tuple) -> bool:
    """True when ``cert`` is the certificate an :func:`identifier` names."""
    if sid[0] == "ski":
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            return False
        return ski == sid[1]
    return cert.serial_number == sid[2] and _tbs_issuer(cert) == sid[1]
