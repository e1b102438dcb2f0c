"""Where a host's certificate and private key are loaded, paired and checked for use."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Union

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from apeltools.errors import CryptoError
from apeltools.messaging.crypto.certs import load_cert
from apeltools.messaging.crypto.names import signer_dn

__all__ = ["PrivateKey", "load_key", "load_identity", "check_cert_and_key"]

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]


# Loading an RSA key checks it, which costs more than a signature: cache by PEM bytes.
@functools.lru_cache(maxsize=16)
def load_key(key_pem: bytes) -> PrivateKey:
    """The unencrypted RSA or EC private key of PEM bytes."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise CryptoError("private key is protected by a passphrase; give an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm) as e:
        raise CryptoError(f"cannot read private key: {e}") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise CryptoError(f"unsupported private key type {type(key).__name__} (RSA or EC)")
    return key


def _same_key(cert: x509.Certificate, key: PrivateKey) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


@functools.lru_cache(maxsize=16)
def load_identity(cert_pem: bytes, key_pem: bytes) -> tuple[x509.Certificate, PrivateKey]:
    """A certificate and its private key; CryptoError when the key is another's."""
    cert, key = load_cert(cert_pem), load_key(key_pem)
    if not _same_key(cert, key):
        raise CryptoError(f"private key does not match the certificate of {signer_dn(cert)}")
    return cert, key


def check_cert_and_key(cert_pem: bytes, key_pem: bytes, min_valid_seconds: int = 86400) -> dt.datetime:
    """Check a certificate and key are usable for signing; return the expiry time.

    Raises CryptoError when the key is not the certificate's key (RSA or EC),
    the certificate is not yet valid, or it expires within ``min_valid_seconds``.
    Daemons call this at startup and again periodically.
    """
    cert, _ = load_identity(cert_pem, key_pem)
    now = dt.datetime.now(dt.timezone.utc)
    if now < cert.not_valid_before_utc:
        raise CryptoError(
            f"certificate of {signer_dn(cert)} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S}Z"
        )
    if (cert.not_valid_after_utc - now).total_seconds() < min_valid_seconds:
        state = "expired" if cert.not_valid_after_utc <= now else "expires"
        raise CryptoError(
            f"certificate of {signer_dn(cert)} {state} on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S}Z"
        )
    return cert.not_valid_after_utc

