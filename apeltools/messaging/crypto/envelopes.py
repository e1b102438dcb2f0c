"""Where S/MIME messages are encrypted and decrypted: the public :func:`encrypt` and :func:`decrypt`.

Encryption uses ``cryptography``'s PKCS#7 builder. Decryption reads
EnvelopedData with the DER reader, because ``cryptography``'s decryption knows
only AES-128/256 and DER while senders also use AES-192, triple DES and
streamed BER, all of which ``openssl smime`` opens.
"""

from __future__ import annotations

from typing import NamedTuple

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import pkcs7

from apeltools.quoting import quote

try:  # cryptography 43 and later keep the old ciphers apart
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - cryptography 42
    TripleDES = algorithms.TripleDES  # type: ignore[misc]

from apeltools.errors import CryptoError
from apeltools.messaging.crypto.certs import identifier, load_cert, matches
from apeltools.messaging.crypto.der import children, expect, parse_structure, read_oid, read_tlv
from apeltools.messaging.crypto.keys import load_key
from apeltools.messaging.crypto.mime import base64_lines, content_type, decode_base64, split_headers
from apeltools.messaging.crypto.names import signer_dn

__all__ = ["encrypt", "decrypt", "is_enveloped"]


_CIPHERS: dict[str, type[algorithms.AES128] | type[algorithms.AES256]] = {"aes128": algorithms.AES128, "aes-128-cbc": algorithms.AES128,
            "aes256": algorithms.AES256, "aes-256-cbc": algorithms.AES256}


def encrypt(data: bytes, recipient_cert_pem: bytes, cipher: str = "aes128") -> bytes:
    """Encrypt ``data`` to an RSA certificate as S/MIME enveloped data (AES-CBC).

    The bytes are encrypted as given (the signed message from :func:`sign` is
    already canonical); the framing is what ``openssl smime -encrypt`` writes.
    """
    if cipher.lower() not in _CIPHERS:
        raise CryptoError(f"unsupported cipher {quote(cipher)} (aes128 or aes256)")
    cert = load_cert(recipient_cert_pem)
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise CryptoError(f"cannot encrypt to {signer_dn(cert)}: only RSA recipient certificates are supported")
    try:
        der = (
            pkcs7.PKCS7EnvelopeBuilder()
            .set_data(data)
            .add_recipient(cert)
            .set_content_encryption_algorithm(_CIPHERS[cipher.lower()])
            .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise CryptoError(f"cannot encrypt: {e}") from None
    return (
        b"MIME-Version: 1.0\n"
        b'Content-Disposition: attachment; filename="smime.p7m"\n'
        b'Content-Type: application/x-pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\n'
        b"Content-Transfer-Encoding: base64\n\n" + base64_lines(der) + b"\n"
    )


_OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
_OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
# What a received envelope may be encrypted with: everything ``openssl smime -decrypt`` (the
# existing receiver) opens that senders use, i.e. AES-CBC of any key size and DES-EDE3-CBC
# (``-des3``, OpenSSL's old default). cryptography's own PKCS#7 decryption knows only AES-128/256.
_CONTENT_CIPHERS = {
    "2.16.840.1.101.3.4.1.2": (algorithms.AES, 16),
    "2.16.840.1.101.3.4.1.22": (algorithms.AES, 24),
    "2.16.840.1.101.3.4.1.42": (algorithms.AES, 32),
    "1.2.840.113549.3.7": (TripleDES, 24),
}


class _Envelope(NamedTuple):
    recipients: list  # (recipient identifier, key transport OID, encrypted content key)
    cipher: str  # content encryption algorithm OID
    iv: bytes
    ciphertext: bytes


def _parse_enveloped_data(der: bytes) -> _Envelope:
    top = read_tlv(der, 0, len(der))
    content_type, wrapped = children(der, expect(top, 0x30, "a ContentInfo"))[:2]
    if read_oid(der, content_type) != _OID_ENVELOPED_DATA:
        raise CryptoError("PKCS#7 structure is not enveloped data")
    fields = children(der, expect(children(der, expect(wrapped, 0xA0, "[0] content"))[0], 0x30,
                                    "EnvelopedData"))[1:]
    if fields[0].tag == 0xA0:  # CMS originator information: certificates we have no use for
        fields = fields[1:]
    recipients = []
    for recipient in children(der, expect(fields[0], 0x31, "RecipientInfos")):
        if recipient.tag != 0x30:
            continue  # key agreement, KEK or password recipients: not for an RSA host key
        _, rid, algorithm, key = children(der, recipient)[:4]
        recipients.append((identifier(der, rid, "recipient"), read_oid(der, children(der, algorithm)[0]),
                           der[key.body:expect(key, 0x04, "the encrypted key").end]))
    info = children(der, expect(fields[1], 0x30, "EncryptedContentInfo"))
    cipher = children(der, expect(info[1], 0x30, "the content encryption algorithm"))
    iv = expect(cipher[1], 0x04, "the IV") if len(cipher) > 1 else None
    if len(info) < 3 or iv is None:
        raise CryptoError("malformed PKCS#7 structure: no encrypted content or no IV")
    content = info[2]
    if content.tag == 0x80:
        ciphertext = der[content.body:content.end]
    elif content.tag == 0xA0:  # streamed: the OCTET STRING in chunks
        ciphertext = b"".join(der[c.body:expect(c, 0x04, "encrypted content").end] for c in children(der, content))
    else:
        raise CryptoError("malformed PKCS#7 structure: expected [0] encrypted content")
    return _Envelope(recipients, read_oid(der, cipher[0]), der[iv.body:iv.end], ciphertext)


def decrypt(smime: bytes, cert_pem: bytes, key_pem: bytes) -> bytes:
    """Decrypt S/MIME enveloped data to an RSA certificate (AES-CBC or DES-EDE3-CBC content).

    Returns the decrypted bytes unchanged; note that ``openssl smime -encrypt``
    (without ``-binary``) turns LF into CRLF before encrypting. DER or
    streamed BER (``-stream``) are both read.
    """
    headers, body = split_headers(smime)
    kind, params = content_type(headers)
    if kind not in ("application/pkcs7-mime", "application/x-pkcs7-mime") or \
            params.get("smime-type", "enveloped-data") != "enveloped-data":
        raise CryptoError(f"message is {quote(kind or 'untyped', bare=True)}, not S/MIME enveloped data")
    envelope, _ = parse_structure(_parse_enveloped_data, decode_base64(smime[body:], "enveloped message"))
    cert, key = load_cert(cert_pem), load_key(key_pem)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CryptoError("cannot decrypt: only RSA keys are supported")
    mine = [(oid, encrypted) for rid, oid, encrypted in envelope.recipients if matches(cert, rid)]
    if not mine:
        raise CryptoError(f"cannot decrypt: the message is not encrypted to {signer_dn(cert)}")
    if mine[0][0] != _OID_RSA_ENCRYPTION:
        raise CryptoError(f"cannot decrypt: unsupported key transport algorithm {mine[0][0]}")
    if envelope.cipher not in _CONTENT_CIPHERS:
        raise CryptoError(f"cannot decrypt: unsupported content encryption algorithm {envelope.cipher} "
                          "(AES-CBC or DES-EDE3-CBC)")
    algorithm, key_size = _CONTENT_CIPHERS[envelope.cipher]
    try:
        content_key = key.decrypt(mine[0][1], padding.PKCS1v15())
        if len(content_key) != key_size:
            raise ValueError("wrong content key length")
        content_cipher = algorithm(content_key)
        decryptor = Cipher(content_cipher, modes.CBC(envelope.iv)).decryptor()
        plain = decryptor.update(envelope.ciphertext) + decryptor.finalize()
    except ValueError as e:  # a wrong key, a bad IV length, a ciphertext of whole blocks or not
        raise CryptoError(f"cannot decrypt (not for this certificate, or damaged): {e}") from None
    pad = plain[-1] if plain else 0
    if not 1 <= pad <= content_cipher.block_size // 8 or plain[-pad:] != bytes([pad]) * pad:
        raise CryptoError("cannot decrypt (not for this certificate, or damaged): bad padding")
    return plain[:-pad]


def is_enveloped(msg: bytes) -> bool:
    """True when ``msg`` is S/MIME enveloped (encrypted) data."""
    try:
        headers, _ = split_headers(msg[:8192])
    except CryptoError:
        return False
    kind, params = content_type(headers)
    return kind in ("application/pkcs7-mime", "application/x-pkcs7-mime") and \
        params.get("smime-type", "enveloped-data") == "enveloped-data"
