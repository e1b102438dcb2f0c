"""Where messages are signed, verified, encrypted and decrypted (S/MIME, in-process).

Pure functions of bytes, producing and accepting what ``openssl smime`` produces
and accepts (formats.md §8); every failure is a :class:`CryptoError` whose message
says why.  Signing and encryption use ``cryptography``'s PKCS#7 builders.
``cryptography`` has no PKCS#7 verification, so :func:`verify` reads the SignedData
structure with the small DER reader below and checks the signature and the
signer's chain itself: that way the signer is the certificate the SignerInfo
names, never merely the first certificate of the bag. :func:`decrypt` reads
EnvelopedData the same way, because ``cryptography``'s decryption knows only
AES-128/256 and DER while senders also use AES-192, triple DES and streamed
BER (see :mod:`apeltools.messaging.ber`), all of which ``openssl smime``
opens.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtensionOID, NameOID

try:  # cryptography 43 and later keep the old ciphers apart
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - cryptography 42
    TripleDES = algorithms.TripleDES

from apeltools.errors import CryptoError
from apeltools.messaging import ber

__all__ = [
    "sign", "verify", "encrypt", "decrypt", "signer_dn", "check_cert_and_key", "is_enveloped",
]

_TEXT_HEADER = b"Content-Type: text/plain\r\n\r\n"

# -- certificates and keys ------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _load_cert(cert_pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError) as e:
        raise CryptoError(f"cannot read certificate: {e}") from None


# Loading an RSA key checks it, which costs more than a signature: cache by PEM bytes.
@functools.lru_cache(maxsize=16)
def _load_key(key_pem: bytes):
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise CryptoError("private key is protected by a passphrase; give an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm) as e:
        raise CryptoError(f"cannot read private key: {e}") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise CryptoError(f"unsupported private key type {type(key).__name__} (RSA or EC)")
    return key


def _same_key(cert: x509.Certificate, key) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


@functools.lru_cache(maxsize=16)
def _load_identity(cert_pem: bytes, key_pem: bytes):
    cert, key = _load_cert(cert_pem), _load_key(key_pem)
    if not _same_key(cert, key):
        raise CryptoError(f"private key does not match the certificate of {signer_dn(cert)}")
    return cert, key


def check_cert_and_key(cert_pem: bytes, key_pem: bytes, min_valid_seconds: int = 86400) -> dt.datetime:
    """Check a certificate and key are usable for signing; return the expiry time.

    Raises CryptoError when the key is not the certificate's key (RSA or EC),
    the certificate is not yet valid, or it expires within ``min_valid_seconds``.
    Daemons call this at startup and again periodically.
    """
    cert, _ = _load_identity(cert_pem, key_pem)
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


# -- distinguished names -------------------------------------------------------------

# The short names OpenSSL prints (obj_dat.h); anything else is shown as a dotted OID.
_OPENSSL_NAMES = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.USER_ID: "UID",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.TITLE: "title",
    NameOID.INITIALS: "initials",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.STREET_ADDRESS: "street",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    x509.ObjectIdentifier("2.5.4.41"): "name",
    x509.ObjectIdentifier("2.5.4.13"): "description",
}


def signer_dn(cert, rfc4514: bool = False) -> str:
    """A certificate's subject as OpenSSL's slash form, ``/C=UK/O=eScience/CN=host``.

    ``cert`` is an x509.Certificate or PEM bytes.  Attributes keep the
    certificate's order and OpenSSL's short names (the form DN lists use);
    a multi-valued RDN is joined with ``+``.  Values are returned as text, not
    escaped.  With ``rfc4514=True`` the RFC 4514 string is returned instead
    (reversed order, ``CN=host,O=eScience,C=UK``).
    """
    if isinstance(cert, (bytes, bytearray)):
        cert = _load_cert(bytes(cert))
    try:
        if rfc4514:
            return cert.subject.rfc4514_string(_OPENSSL_NAMES)
        return _slash_dn(cert.subject)
    except ValueError as e:  # a malformed attribute value
        raise CryptoError(f"cannot read certificate subject: {e}") from None


@functools.lru_cache(maxsize=256)
def _signer_dn_of(cert: x509.Certificate) -> str:
    return signer_dn(cert)


def _slash_dn(name: x509.Name) -> str:
    return "".join(
        "/" + "+".join(f"{_OPENSSL_NAMES.get(a.oid, a.oid.dotted_string)}={a.value}" for a in rdn)
        for rdn in name.rdns
    )


# -- a minimal DER reader (BER input is re-encoded as DER first, see ber.py) ---------


class _Indefinite(CryptoError):
    """An indefinite length where DER has none: the structure is BER (streamed)."""


class _Tlv(NamedTuple):
    tag: int
    start: int  # first byte of the tag
    body: int  # first byte of the content
    end: int  # one past the content


def _read_tlv(buf: bytes, pos: int, end: int) -> _Tlv:
    if pos + 2 > end:
        raise CryptoError("malformed PKCS#7 structure: truncated")
    tag, length = buf[pos], buf[pos + 1]
    body = pos + 2
    if tag & 0x1F == 0x1F:
        raise CryptoError("malformed PKCS#7 structure: unexpected high tag number")
    if length & 0x80:
        n = length & 0x7F
        if n == 0:
            raise _Indefinite("malformed PKCS#7 structure: unexpected indefinite length")
        if n > 4 or body + n > end:
            raise CryptoError("malformed PKCS#7 structure: bad length")
        length = int.from_bytes(buf[body:body + n], "big")
        body += n
    if body + length > end:
        raise CryptoError("malformed PKCS#7 structure: truncated")
    return _new_tlv(_Tlv, (tag, pos, body, body + length))


_new_tlv = tuple.__new__  # what _Tlv(...) does, without its Python-level __new__: ~40 per message


def _children(buf: bytes, parent: _Tlv) -> list[_Tlv]:
    out, pos = [], parent.body
    while pos < parent.end:
        tlv = _read_tlv(buf, pos, parent.end)
        out.append(tlv)
        pos = tlv.end
    return out


def _expect(tlv: _Tlv, tag: int, what: str) -> _Tlv:
    if tlv.tag != tag:
        raise CryptoError(f"malformed PKCS#7 structure: expected {what}")
    return tlv


# Decoded object identifiers by their encoding: every message repeats the same dozen.
_oids: dict[bytes, str] = {}
_OID_CACHE_SIZE = 1024


def _oid(buf: bytes, tlv: _Tlv) -> str:
    _expect(tlv, 0x06, "an OBJECT IDENTIFIER")
    encoded = buf[tlv.body:tlv.end]
    oid = _oids.get(encoded)
    if oid is None:
        oid = _decode_oid(encoded)
        if len(_oids) < _OID_CACHE_SIZE:
            _oids[encoded] = oid
    return oid


def _decode_oid(encoded: bytes) -> str:
    arcs, value = [], 0
    for byte in encoded:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise CryptoError("malformed PKCS#7 structure: empty OBJECT IDENTIFIER")
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


def _raw(buf: bytes, tlv: _Tlv) -> bytes:
    return buf[tlv.start:tlv.end]


_OID_DATA = "1.2.840.113549.1.7.1"
_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_OID_SIGNING_TIME = "1.2.840.113549.1.9.5"

# SHA-1 is still accepted because senders on old OpenSSL (1.0.x) default to it.
_DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
           "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_RSA_SIGNATURES = {"1.2.840.113549.1.1.1", "1.2.840.113549.1.1.5", "1.2.840.113549.1.1.14",
                   "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13"}
_EC_SIGNATURES = {"1.2.840.10045.2.1", "1.2.840.10045.4.1", "1.2.840.10045.4.3.1",
                  "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4"}


class _SignedData(NamedTuple):
    content: bytes | None  # encapsulated content (opaque signing), None when detached
    cert_ders: tuple[bytes, ...]  # the certificate bag, DER
    sid: tuple  # ("issuer_serial", issuer DER, serial) or ("ski", key id)
    digest: str  # hashlib name
    signed_attrs: bytes | None  # DER of the signed attributes, re-tagged as SET OF
    message_digest: bytes | None
    signature_oid: str
    signature: bytes


def _parse_structure(parse, data: bytes):
    """``(parse(data), the bytes parsed)``: BER (streamed) input is re-encoded as DER first,
    and the reader's slips on missing fields or bad integers become CryptoError."""
    try:
        try:
            return parse(data), data
        except _Indefinite:
            data = ber.to_der(data)
            return parse(data), data
    except (IndexError, ValueError) as e:
        raise CryptoError(f"malformed PKCS#7 structure: {e}") from None


def _parse_signed_data(der: bytes) -> _SignedData:
    sd = _from_template(der)
    if sd is not None:
        return sd
    spans: list = []
    sd, parsed = _parse_structure(lambda data: _parse_signed_data_fields(data, spans), der)
    if parsed is der:  # streamed (BER) structures are rare: parsed in full each time, never templates
        _remember_template(der, sd, spans)
    return sd


# Parsed SignedData structures as templates. One signer's messages differ only in
# the message digest, the signing time and the signature, all of fixed length for
# a given signer (RSA), so every other byte of a new message's DER is compared
# with a template parsed in full before: when all are equal the new structure is
# the template's with those three values read from the same places. Anything
# else is parsed in full. By DER length; a few per length.
_templates: dict[int, list] = {}
_TEMPLATES_PER_LENGTH = 4
_TEMPLATE_LENGTHS = 64


def _from_template(der: bytes) -> _SignedData | None:
    for template, sd, variable, (digest_at, attrs_at, signature_at) in _templates.get(len(der), ()):
        start = 0
        for begin, end in variable:
            if der[start:begin] != template[start:begin]:
                break
            start = end
        else:
            if der[start:] == template[start:]:
                return sd._replace(message_digest=der[digest_at[0]:digest_at[1]],
                                   signed_attrs=b"\x31" + der[attrs_at[0] + 1:attrs_at[1]],
                                   signature=der[signature_at[0]:signature_at[1]])
    return None


def _remember_template(der: bytes, sd: _SignedData, spans: list) -> None:
    """Keep ``der`` as a template when it is clear-signed with signed attributes (the usual case)."""
    found = dict(spans)
    if sd.content is not None or sd.signed_attrs is None or not {"digest", "attrs", "signature"} <= found.keys():
        return
    variable = sorted(found[key] for key in ("digest", "time", "signature") if key in found)
    if any(a[1] > b[0] for a, b in zip(variable, variable[1:])):
        return  # overlapping: not a structure we understand
    if len(_templates) >= _TEMPLATE_LENGTHS and len(der) not in _templates:
        _templates.clear()
    entries = _templates.setdefault(len(der), [])
    if len(entries) >= _TEMPLATES_PER_LENGTH:
        entries.pop(0)
    entries.append((der, sd, variable, (found["digest"], found["attrs"], found["signature"])))


def _parse_signed_data_fields(der: bytes, spans: list | None = None) -> _SignedData:
    """The SignedData of ``der``; ``spans`` gets (name, (start, end)) of the parts that vary
    from one message of a signer to the next (and of the signed attributes)."""
    spans = [] if spans is None else spans
    top = _read_tlv(der, 0, len(der))
    content_type, wrapped = _children(der, _expect(top, 0x30, "a ContentInfo"))[:2]
    if _oid(der, content_type) != _OID_SIGNED_DATA:
        raise CryptoError("PKCS#7 structure is not signed data")
    fields = _children(der, _expect(_children(der, _expect(wrapped, 0xA0, "[0] content"))[0], 0x30, "SignedData"))
    encap = _children(der, _expect(fields[2], 0x30, "encapsulated content info"))
    if _oid(der, encap[0]) != _OID_DATA:
        raise CryptoError("signed content type is not data")
    content = None
    if len(encap) > 1:
        econtent = _children(der, _expect(encap[1], 0xA0, "[0] eContent"))[0]
        content = der[econtent.body:econtent.end] if econtent.tag == 0x04 else None
        if content is None:
            raise CryptoError("PKCS#7 content is not a DER OCTET STRING")
    cert_ders, rest = (), fields[3:]
    if rest and rest[0].tag == 0xA0:
        cert_ders = tuple(_raw(der, c) for c in _children(der, rest[0]) if c.tag == 0x30)
        rest = rest[1:]
    if rest and rest[0].tag == 0xA1:  # CRLs carried in the message are not used
        rest = rest[1:]
    if len(rest) != 1:
        raise CryptoError("malformed PKCS#7 structure: no signer infos")
    signers = _children(der, _expect(rest[0], 0x31, "SignerInfos"))
    if len(signers) != 1:
        raise CryptoError(f"message has {len(signers)} signers; exactly one is accepted")
    info = _children(der, _expect(signers[0], 0x30, "SignerInfo"))
    sid = _identifier(der, info[1], "signer")
    digest_oid = _oid(der, _children(der, info[2])[0])
    if digest_oid not in _DIGESTS:
        raise CryptoError(f"unsupported digest algorithm {digest_oid}")
    rest = info[3:]
    signed_attrs = message_digest = None
    if rest and rest[0].tag == 0xA0:
        attrs = rest[0]
        signed_attrs = b"\x31" + der[attrs.start + 1:attrs.end]
        spans.append(("attrs", (attrs.start, attrs.end)))
        for attr in _children(der, attrs):
            attr_type, values = _children(der, attr)[:2]
            oid, value = _oid(der, attr_type), _children(der, values)
            if oid == _OID_MESSAGE_DIGEST:
                message_digest = der[value[0].body:value[0].end]
                spans.append(("digest", (value[0].body, value[0].end)))
            elif oid == _OID_SIGNING_TIME and len(value) == 1:
                spans.append(("time", (value[0].body, value[0].end)))
            elif oid == _OID_CONTENT_TYPE and _oid(der, value[0]) != _OID_DATA:
                raise CryptoError("signed content type is not data")
        if message_digest is None:
            raise CryptoError("signed attributes lack the message digest")
        rest = rest[1:]
    signature_oid = _oid(der, _children(der, rest[0])[0])
    signature = _expect(rest[1], 0x04, "the signature")
    spans.append(("signature", (signature.body, signature.end)))
    return _SignedData(content, cert_ders, sid, _DIGESTS[digest_oid], signed_attrs,
                       message_digest, signature_oid, der[signature.body:signature.end])


def _identifier(der: bytes, tlv: _Tlv, whose: str) -> tuple:
    """A signer's or recipient's certificate as named in the structure: by issuer and serial
    number, or by subject key identifier (the form :func:`_names` compares)."""
    if tlv.tag == 0x30:
        issuer, serial = _children(der, tlv)[:2]
        return ("issuer_serial", _raw(der, issuer), int.from_bytes(der[serial.body:serial.end], "big", signed=True))
    if tlv.tag == 0x80:
        return ("ski", der[tlv.body:tlv.end])
    raise CryptoError(f"malformed PKCS#7 structure: unknown {whose} identifier")


def _tbs_issuer(cert: x509.Certificate) -> bytes:
    """The issuer Name exactly as encoded in the certificate."""
    tbs = cert.tbs_certificate_bytes
    fields = _children(tbs, _read_tlv(tbs, 0, len(tbs)))
    if fields[0].tag == 0xA0:  # explicit version
        fields = fields[1:]
    return _raw(tbs, fields[2])


def _names(cert: x509.Certificate, sid: tuple) -> bool:
    if sid[0] == "ski":
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            return False
        return ski == sid[1]
    return cert.serial_number == sid[2] and _tbs_issuer(cert) == sid[1]


def _check_signature(sd: _SignedData, part: bytes, cert: x509.Certificate, clear: bool) -> bytes:
    """Check the signature over ``part``; return the content that was signed.

    A clear-signed part is signed in canonical form (CRLF line ends).  Senders
    transmit it that way, so the part is first tried as received, which spares
    rewriting megabytes per message; only if a transport changed the line ends
    is it canonicalised, as ``openssl smime -verify`` always does.
    """
    content = part
    if sd.signed_attrs is not None:
        if hashlib.new(sd.digest, content).digest() != sd.message_digest:
            content = _to_crlf(part) if clear else part
            if content is part or hashlib.new(sd.digest, content).digest() != sd.message_digest:
                raise CryptoError("message digest mismatch: the content was altered after signing")
        signed = sd.signed_attrs
    else:
        content = signed = _to_crlf(part) if clear else part
    key, algorithm = cert.public_key(), _HASHES[sd.digest]()
    try:
        if isinstance(key, rsa.RSAPublicKey) and sd.signature_oid in _RSA_SIGNATURES:
            key.verify(sd.signature, signed, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and sd.signature_oid in _EC_SIGNATURES:
            key.verify(sd.signature, signed, ec.ECDSA(algorithm))
        else:
            raise CryptoError(
                f"unsupported signature algorithm {sd.signature_oid} for a {type(key).__name__}"
            )
    except InvalidSignature:
        raise CryptoError("signature does not verify: the content was altered or signed by another key") from None
    return content


# -- trust: the CA directory, CRLs and the signer's chain ----------------------------


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


def _extension(cert, cls):
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


def _build_chain(signer: x509.Certificate, bag: list, trusted: dict, now) -> list:
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
                f"(issuer {_slash_dn(cert.issuer)})"
            )
        chain.append(step)
    else:
        raise CryptoError(f"certificate chain of {signer_dn(signer)} is too long")
    for depth, cert in enumerate(chain):
        _check_cert(cert, now, "signer" if depth == 0 else "CA", depth - 1)
    return chain


def _check_revocation(chain: list, crls: dict, now) -> dt.datetime:
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


def _trusted_signer(sd: _SignedData, ca_path: str, crl_path: str | None) -> x509.Certificate:
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
    named = [c for c in bag if _names(c, sd.sid)]
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


# -- MIME framing --------------------------------------------------------------------

_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _split_headers(msg: bytes) -> tuple[dict, int]:
    """Headers (lower-cased names, unfolded) and the offset where the body starts."""
    match = _HEADER_END.search(msg)
    if match is None:
        raise CryptoError("not a MIME message: no blank line after the headers")
    headers: dict = {}
    name = None
    for line in msg[:match.start()].decode("latin-1").splitlines():
        if line[:1] in (" ", "\t") and name:
            headers[name] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers[name] = value.strip()
        else:
            raise CryptoError(f"not a MIME message: bad header line {line[:60]!r}")
    return headers, match.end()


def _content_type(headers: dict) -> tuple[str, dict]:
    kind, *params = headers.get("content-type", "").split(";")
    values = {}
    for param in params:
        name, _, value = param.partition("=")
        values[name.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), values


def _decode_base64(body: bytes, what: str) -> bytes:
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error as e:
        raise CryptoError(f"{what} is not valid base64: {e}") from None


def _to_crlf(data: bytes) -> bytes:
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    return data.replace(b"\n", b"\r\n")


def _from_crlf(data: bytes) -> bytes:
    """``data`` with every CRLF turned into LF (other CRs kept).

    ``bytes.replace`` pays for each of the tens of thousands of line ends of a
    large message (about 3 ms a megabyte); deleting every CR is three times
    faster, and turning the result back and comparing proves, at about the
    same cost again, that each CR deleted was part of a CRLF, which is the
    case for canonical text. Anything else takes the plain way.
    """
    if b"\r" not in data:
        return data
    lf = data.replace(b"\r", b"")
    if lf.replace(b"\n", b"\r\n") == data:
        return lf
    return data.replace(b"\r\n", b"\n")


def _split_signed(msg: bytes, body: int, boundary: str) -> tuple[bytes, bytes]:
    """The signed part (as received) and the DER signature of a multipart/signed."""
    delimiter = b"--" + boundary.encode("latin-1")
    # a delimiter starts a line; the line end before it belongs to the delimiter
    if msg.startswith(delimiter, body):
        first = body
    else:
        first = msg.find(b"\n" + delimiter, body)
        if first < 0:
            raise CryptoError("multipart/signed message has no parts")
        first += 1
    start = msg.find(b"\n", first) + 1
    second = msg.find(b"\n" + delimiter, start)
    closing = msg.find(b"\n" + delimiter, second + 1)
    if start == 0 or second < 0 or closing < 0:
        raise CryptoError("multipart/signed message is truncated")
    if msg[closing + 1 + len(delimiter):closing + 3 + len(delimiter)] != b"--":
        raise CryptoError("multipart/signed message has more than two parts")
    end = second - 1 if msg[second - 1:second] == b"\r" and second > start else second
    signed_part = msg[start:end]
    sig_start = msg.find(b"\n", second + 1) + 1
    sig_part = msg[sig_start:closing]
    headers, offset = _split_headers(sig_part)
    kind, _ = _content_type(headers)
    if kind not in ("application/x-pkcs7-signature", "application/pkcs7-signature"):
        raise CryptoError(f"second part of multipart/signed is {kind or 'untyped'}, not a PKCS#7 signature")
    if headers.get("content-transfer-encoding", "").lower() != "base64":
        raise CryptoError("PKCS#7 signature part is not base64-encoded")
    return signed_part, _decode_base64(sig_part[offset:], "PKCS#7 signature")


def _text_payload(content: bytes) -> bytes:
    """Strip the text/plain MIME header that ``-text`` signing puts before the data."""
    end = content.find(b"\r\n\r\n")
    kind = ""
    if end > 0:
        try:
            kind, _ = _content_type(_split_headers(content[:end + 4])[0])
        except CryptoError:
            pass
    if kind != "text/plain":
        raise CryptoError("signed content is not a text/plain MIME entity (sign with -text)")
    return _from_crlf(content[end + 4:])


# -- public API ------------------------------------------------------------------------


def sign(data: bytes, cert_pem: bytes, key_pem: bytes) -> bytes:
    """Sign ``data`` as clear-signed S/MIME, like ``openssl smime -sign -text``.

    The result is a detached ``multipart/signed`` message (SHA-256) whose first
    part is ``data`` as a text/plain MIME entity with CRLF line ends and whose
    second part is the PKCS#7 signature carrying the signer's certificate.
    """
    text = _to_crlf(data)
    digest = hashlib.sha256(_TEXT_HEADER)
    digest.update(text)
    signature = _signer(cert_pem, key_pem).sign_base64(digest.digest())
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


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


class _Signer:
    """Detached SHA-256 SignedData for one identity, from the content's digest.

    Only the message digest, the signing time and the signature differ from
    one message to the next, so the structure that ``cryptography``'s PKCS#7
    builder makes is taken apart once, and each message costs a hash and one
    private-key operation over the signed attributes: about 40 % less than the
    builder for a 1 KB message (which re-encodes the certificate every time)
    and without copying megabytes into it. The structure is checked at
    construction: rebuilt with the builder's own values it must come out
    byte for byte as the builder made it.
    """

    def __init__(self, cert, key):
        self.cert, self.key = cert, key
        self._time_cache: tuple[int, bytes] = (-1, b"")
        sample = b"Content-Type: text/plain\r\n\r\nsample\r\n"
        der = (pkcs7.PKCS7SignatureBuilder().set_data(sample).add_signer(cert, key, hashes.SHA256())
               .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))
        top = _read_tlv(der, 0, len(der))
        oid, wrapped = _children(der, top)[:2]
        fields = _children(der, _children(der, wrapped)[0])
        infos = fields[-1]
        info = _children(der, _children(der, infos)[0])
        attrs, algorithm, signature = info[3], info[4], info[5]
        self._outer = _raw(der, oid)
        self._head = der[fields[0].start:infos.start]
        self._info_head = der[info[0].start:attrs.start]
        self._algorithm = _raw(der, algorithm)
        self._tail = der[signature.end:_children(der, infos)[0].end]  # unsigned attributes, if any
        self._attrs = der[attrs.body:attrs.end]
        self._digest_at = self._time_at = None
        for attr in _children(der, attrs):
            attr_type, values = _children(der, attr)[:2]
            value = _children(der, values)[0]
            if _oid(der, attr_type) == _OID_MESSAGE_DIGEST:
                self._digest_at = (value.body - attrs.body, value.end - attrs.body)
            elif _oid(der, attr_type) == _OID_SIGNING_TIME:
                self._time_at = (value.body - attrs.body, value.end - attrs.body, value.tag)
        if self._digest_at is None or self._digest_at[1] - self._digest_at[0] != 32:
            raise CryptoError("cannot sign: unexpected signed attributes from the PKCS#7 builder")
        sample_digest = der[attrs.body + self._digest_at[0]:attrs.body + self._digest_at[1]]
        sample_time = None if self._time_at is None else \
            der[attrs.body + self._time_at[0]:attrs.body + self._time_at[1]]
        sample_signature = der[signature.body:signature.end]
        if self._assemble(self._signed_attrs(sample_digest, sample_time), sample_signature) != der:
            raise CryptoError("cannot sign: the PKCS#7 builder's structure was not understood")
        self._encoded = self._fixed_layout(der, attrs.body, signature)

    def _fixed_layout(self, der: bytes, attrs_at: int, signature: _Tlv):
        """For an RSA key every message's DER has the same layout, only the digest, the
        signing time and the signature change: keep the constant pieces, and the base64
        lines of the constant start (whole lines of 48 bytes), to be reused. None for EC,
        whose signatures vary in length."""
        if not isinstance(self.key, rsa.RSAPrivateKey) or signature.end - signature.body != self.key.key_size // 8:
            return None
        holes = [(attrs_at + self._digest_at[0], attrs_at + self._digest_at[1], "digest"),
                 (signature.body, signature.end, "signature")]
        if self._time_at is not None:
            holes.append((attrs_at + self._time_at[0], attrs_at + self._time_at[1], "time"))
        holes.sort()
        if any(a[1] > b[0] for a, b in zip(holes, holes[1:])):
            return None
        line_start = holes[0][0] - holes[0][0] % 48
        pieces, start = [], line_start
        for begin, end, name in holes:
            pieces += [der[start:begin], name]
            start = end
        pieces.append(der[start:])
        return _base64_lines(der[:line_start]) if line_start else b"", pieces

    def _signed_attrs(self, digest: bytes, time_value: bytes | None) -> bytes:
        attrs = bytearray(self._attrs)
        attrs[self._digest_at[0]:self._digest_at[1]] = digest
        if self._time_at is not None:
            attrs[self._time_at[0]:self._time_at[1]] = time_value
        return bytes(attrs)

    def _assemble(self, attrs: bytes, signature: bytes) -> bytes:
        info = _der(0x30, self._info_head + _der(0xA0, attrs) + self._algorithm + _der(0x04, signature)
                    + self._tail)
        signed_data = _der(0x30, self._head + _der(0x31, info))
        return _der(0x30, self._outer + _der(0xA0, signed_data))

    def sign_base64(self, digest: bytes) -> bytes:
        """:meth:`sign` as the base64 lines of an S/MIME signature part."""
        if self._encoded is None:
            return _base64_lines(self.sign(digest))
        head, pieces = self._encoded
        time_value = self._time_value()
        attrs = self._signed_attrs(digest, time_value)
        values = {"digest": digest, "time": time_value, "signature": self._signature(attrs)}
        return head + _base64_lines(b"".join(values[p] if isinstance(p, str) else p for p in pieces))

    def sign(self, digest: bytes) -> bytes:
        """The DER SignedData for content whose SHA-256 is ``digest``."""
        attrs = self._signed_attrs(digest, self._time_value())
        return self._assemble(attrs, self._signature(attrs))

    def _time_value(self) -> bytes | None:
        if self._time_at is None:
            return None
        start, end, tag = self._time_at
        second = int(time.time())
        if self._time_cache[0] != second:  # formatted once a second, not once a message
            now = dt.datetime.fromtimestamp(second, dt.timezone.utc)
            self._time_cache = (second, now.strftime("%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ")
                                .encode())
        if len(self._time_cache[1]) != end - start:
            raise CryptoError("cannot sign: signing time out of the supported range")
        return self._time_cache[1]

    def _signature(self, attrs: bytes) -> bytes:
        to_sign = b"\x31" + _der(0x31, attrs)[1:]
        try:
            if isinstance(self.key, rsa.RSAPrivateKey):
                return self.key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
            return self.key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise CryptoError(f"cannot sign: {e}") from None


@functools.lru_cache(maxsize=16)
def _signer(cert_pem: bytes, key_pem: bytes) -> _Signer:
    cert, key = _load_identity(cert_pem, key_pem)
    try:
        return _Signer(cert, key)
    except (ValueError, TypeError, UnsupportedAlgorithm, IndexError) as e:
        raise CryptoError(f"cannot sign: {e}") from None


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
    headers, body = _split_headers(smime)
    kind, params = _content_type(headers)
    if kind == "multipart/signed":
        if "boundary" not in params:
            raise CryptoError("multipart/signed message has no boundary")
        content, der = _split_signed(smime, body, params["boundary"])
        sd = _parse_signed_data(der)
        if sd.content is not None:
            raise CryptoError("clear-signed message carries embedded content too")
    elif kind in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        if params.get("smime-type", "signed-data") != "signed-data":
            raise CryptoError(f"message is {params['smime-type']}, not signed data (decrypt it first)")
        sd = _parse_signed_data(_decode_base64(smime[body:], "PKCS#7 message"))
        if sd.content is None:
            raise CryptoError("opaque-signed message has no content")
        content = sd.content
    else:
        raise CryptoError(f"message is {kind or 'untyped'}, not S/MIME signed")
    signer = _trusted_signer(sd, ca_path, crl_path)
    content = _check_signature(sd, content, signer, clear=kind == "multipart/signed")
    return _text_payload(content), _signer_dn_of(signer)


_CIPHERS = {"aes128": algorithms.AES128, "aes-128-cbc": algorithms.AES128,
            "aes256": algorithms.AES256, "aes-256-cbc": algorithms.AES256}


def encrypt(data: bytes, recipient_cert_pem: bytes, cipher: str = "aes128") -> bytes:
    """Encrypt ``data`` to an RSA certificate as S/MIME enveloped data (AES-CBC).

    The bytes are encrypted as given (the signed message from :func:`sign` is
    already canonical); the framing is what ``openssl smime -encrypt`` writes.
    """
    if cipher.lower() not in _CIPHERS:
        raise CryptoError(f"unsupported cipher {cipher!r} (aes128 or aes256)")
    cert = _load_cert(recipient_cert_pem)
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
        b"Content-Transfer-Encoding: base64\n\n" + _base64_lines(der) + b"\n"
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
    top = _read_tlv(der, 0, len(der))
    content_type, wrapped = _children(der, _expect(top, 0x30, "a ContentInfo"))[:2]
    if _oid(der, content_type) != _OID_ENVELOPED_DATA:
        raise CryptoError("PKCS#7 structure is not enveloped data")
    fields = _children(der, _expect(_children(der, _expect(wrapped, 0xA0, "[0] content"))[0], 0x30,
                                    "EnvelopedData"))[1:]
    if fields[0].tag == 0xA0:  # CMS originator information: certificates we have no use for
        fields = fields[1:]
    recipients = []
    for info in _children(der, _expect(fields[0], 0x31, "RecipientInfos")):
        if info.tag != 0x30:
            continue  # key agreement, KEK or password recipients: not for an RSA host key
        _, rid, algorithm, key = _children(der, info)[:4]
        recipients.append((_identifier(der, rid, "recipient"), _oid(der, _children(der, algorithm)[0]),
                           der[key.body:_expect(key, 0x04, "the encrypted key").end]))
    info = _children(der, _expect(fields[1], 0x30, "EncryptedContentInfo"))
    algorithm = _children(der, _expect(info[1], 0x30, "the content encryption algorithm"))
    iv = _expect(algorithm[1], 0x04, "the IV") if len(algorithm) > 1 else None
    if len(info) < 3 or iv is None:
        raise CryptoError("malformed PKCS#7 structure: no encrypted content or no IV")
    content = info[2]
    if content.tag == 0x80:
        ciphertext = der[content.body:content.end]
    elif content.tag == 0xA0:  # streamed: the OCTET STRING in chunks
        ciphertext = b"".join(der[c.body:_expect(c, 0x04, "encrypted content").end] for c in _children(der, content))
    else:
        raise CryptoError("malformed PKCS#7 structure: expected [0] encrypted content")
    return _Envelope(recipients, _oid(der, algorithm[0]), der[iv.body:iv.end], ciphertext)


def decrypt(smime: bytes, cert_pem: bytes, key_pem: bytes) -> bytes:
    """Decrypt S/MIME enveloped data to an RSA certificate (AES-CBC or DES-EDE3-CBC content).

    Returns the decrypted bytes unchanged; note that ``openssl smime -encrypt``
    (without ``-binary``) turns LF into CRLF before encrypting. DER or
    streamed BER (``-stream``) are both read.
    """
    headers, body = _split_headers(smime)
    kind, params = _content_type(headers)
    if kind not in ("application/pkcs7-mime", "application/x-pkcs7-mime") or \
            params.get("smime-type", "enveloped-data") != "enveloped-data":
        raise CryptoError(f"message is {kind or 'untyped'}, not S/MIME enveloped data")
    envelope, _ = _parse_structure(_parse_enveloped_data, _decode_base64(smime[body:], "enveloped message"))
    cert, key = _load_cert(cert_pem), _load_key(key_pem)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CryptoError("cannot decrypt: only RSA keys are supported")
    mine = [(oid, encrypted) for rid, oid, encrypted in envelope.recipients if _names(cert, rid)]
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
        decryptor = Cipher(algorithm(content_key), modes.CBC(envelope.iv)).decryptor()
        plain = decryptor.update(envelope.ciphertext) + decryptor.finalize()
    except ValueError as e:  # a wrong key, a bad IV length, a ciphertext of whole blocks or not
        raise CryptoError(f"cannot decrypt (not for this certificate, or damaged): {e}") from None
    pad = plain[-1] if plain else 0
    if not 1 <= pad <= algorithm.block_size // 8 or plain[-pad:] != bytes([pad]) * pad:
        raise CryptoError("cannot decrypt (not for this certificate, or damaged): bad padding")
    return plain[:-pad]


def is_enveloped(msg: bytes) -> bool:
    """True when ``msg`` is S/MIME enveloped (encrypted) data."""
    try:
        headers, _ = _split_headers(msg[:8192])
    except CryptoError:
        return False
    kind, params = _content_type(headers)
    return kind in ("application/pkcs7-mime", "application/x-pkcs7-mime") and \
        params.get("smime-type", "enveloped-data") == "enveloped-data"


def _base64_lines(der: bytes) -> bytes:
    """Base64 in 64-column lines, as OpenSSL writes it."""
    text = base64.b64encode(der)
    return b"\n".join(text[i:i + 64] for i in range(0, len(text), 64)) + b"\n"
