"""Where S/MIME messages are signed and verified: the public :func:`sign` and :func:`verify`."""

from __future__ import annotations

import hashlib
import os

from apeltools.errors import CryptoError
from apeltools.messaging.crypto.mime import (
    content_type, decode_base64, split_headers, split_signed, text_payload, to_crlf,
)
from apeltools.messaging.crypto.names import cached_signer_dn
from apeltools.messaging.crypto.signeddata import check_signature, read_signed_data
from apeltools.messaging.crypto.signer import signer_for
from apeltools.messaging.crypto.trust import trusted_signer
from apeltools.quoting import quote

__all__ = ["sign", "verify"]

_TEXT_HEADER = b"Content-Type: text/plain\r\n\r\n"


def sign(data: bytes, cert_pem: bytes, key_pem: bytes) -> bytes:
    """Sign ``data`` as clear-signed S/MIME, like ``openssl smime -sign -text``.

    The result is a detached ``multipart/signed`` message (SHA-256) whose first
    part is ``data`` as a text/plain MIME entity with CRLF line ends and whose
    second part is the PKCS#7 signature carrying the signer's certificate.
    """
    text = to_crlf(data)
    digest = hashlib.sha256(_TEXT_HEADER)
    digest.update(text)
    signature = signer_for(cert_pem, key_pem).sign_base64(digest.digest())
    boundary = "----" + os.urandom(16).hex().upper()
    while boundary.encode() in text:
        boundary = "----" + os.urandom(16).hex().upper()
    return b"".join([
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/signed; protocol="application/x-pkcs7-signature"; '
        b'micalg="sha-256"; boundary="', boundary.encode(), b'"\n\n'
        b"This is an S/MIME signed message\n\n"
        b"--", boundary.encode(), b"\n",
        _TEXT_HEADER, text,
        b"\n--", boundary.encode(), b"\n"
        b'Content-Type: application/x-pkcs7-signature; name="smime.p7s"\n'
        b"Content-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="smime.p7s"\n\n',
        signature,
        b"\n--", boundary.encode(), b"--\n\n",
    ])


def verify(smime: bytes, ca_path: str, crl_path: str | None = None) -> tuple[bytes, str]:
    """Verify a signed S/MIME message; return ``(payload, signer_dn)``.

    Accepts clear-signed ``multipart/signed`` and opaque ``application/pkcs7-mime;
    smime-type=signed-data`` messages with exactly one signer.  Checked: the
    signature over the signed bytes, the chain of the certificate the SignerInfo
    names up to a certificate in ``ca_path`` (a hashed CA directory or a PEM
    file; every certificate in it is trusted), validity dates and CA constraints
    along the chain, that the message carries no certificate outside that chain,
    and with ``crl_path`` (a directory or file of PEM CRLs) that no certificate of
    the chain is revoked.  Extended key usage is not checked: grid host
    certificates carry serverAuth/clientAuth, not emailProtection.

    The payload is the data as signed without its text/plain header, with the
    CRLF line ends of the canonical form turned back into LF (``openssl smime
    -verify -text`` prints CRLF; senders sign LF text).
    """
    headers, body = split_headers(smime)
    kind, params = content_type(headers)
    if kind == "multipart/signed":
        if "boundary" not in params:
            raise CryptoError("multipart/signed message has no boundary")
        content, der = split_signed(smime, body, params["boundary"])
        sd = read_signed_data(der)
        if sd.content is not None:
            raise CryptoError("clear-signed message carries embedded content too")
    elif kind in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        if params.get("smime-type", "signed-data") != "signed-data":
            raise CryptoError(f"message is {quote(params['smime-type'], bare=True)}, not signed data (decrypt it first)")
        sd = read_signed_data(decode_base64(smime[body:], "PKCS#7 message"))
        if sd.content is None:
            raise CryptoError("opaque-signed message has no content")
        content = sd.content
    else:
        raise CryptoError(f"message is {quote(kind or 'untyped', bare=True)}, not S/MIME signed")
    signer = trusted_signer(sd, ca_path, crl_path)
    content = check_signature(sd, content, signer, clear=kind == "multipart/signed")
    return text_payload(content), cached_signer_dn(signer)
