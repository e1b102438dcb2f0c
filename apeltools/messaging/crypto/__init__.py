"""Where messages are signed, verified, encrypted and decrypted (S/MIME, in-process).

Pure functions of bytes, producing and accepting what ``openssl smime`` produces
and accepts (formats.md §8); every failure is a :class:`CryptoError` whose message
says why. This package's public API is what it exports here; its modules are:

- :mod:`~.signatures`: :func:`sign` and :func:`verify`;
- :mod:`~.envelopes`: :func:`encrypt`, :func:`decrypt`, :func:`is_enveloped`;
- :mod:`~.signer`: SignedData written from one identity's structure, refilled per message;
- :mod:`~.signeddata`: SignedData read (in full, or from a template of the signer's last message)
  and its signature checked;
- :mod:`~.trust`: the CA directory, CRLs and the signer's chain;
- :mod:`~.mime`: MIME framing, base64 and CRLF canonical form;
- :mod:`~.keys` and :mod:`~.certs`: PEM keys and certificates, and the identifiers CMS names them by;
- :mod:`~.names`: distinguished names as OpenSSL writes them (:func:`signer_dn`);
- :mod:`~.der` and :mod:`~.ber`: the DER reader and writer, and BER (streamed) input made DER.
"""

from apeltools.messaging.crypto.envelopes import decrypt, encrypt, is_enveloped
from apeltools.messaging.crypto.keys import check_cert_and_key
from apeltools.messaging.crypto.names import signer_dn
from apeltools.messaging.crypto.signatures import sign, verify

__all__ = [
    "sign", "verify", "encrypt", "decrypt", "signer_dn", "check_cert_and_key", "is_enveloped",
]
