"""Where CMS SignedData is read and its signature checked, parsing in full or from a template.

``cryptography`` has no PKCS#7 verification, so the structure is read here
with the DER reader: that way the signer is the certificate the SignerInfo
names (:mod:`apeltools.messaging.crypto.trust` checks it), never merely the
first certificate of the bag.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from apeltools.errors import CryptoError
from apeltools.messaging.crypto.certs import identifier
from apeltools.messaging.crypto.der import children, expect, parse_structure, raw, read_oid, read_tlv
from apeltools.messaging.crypto.mime import to_crlf

__all__ = [
    "OID_MESSAGE_DIGEST", "OID_SIGNING_TIME", "SignedData", "Templates", "templates",
    "read_signed_data", "parse_signed_data", "check_signature",
]

_OID_DATA = "1.2.840.113549.1.7.1"
_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_TIME = "1.2.840.113549.1.9.5"

# SHA-1 is still accepted because senders on old OpenSSL (1.0.x) default to it.
_DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
           "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_RSA_SIGNATURES = {"1.2.840.113549.1.1.1", "1.2.840.113549.1.1.5", "1.2.840.113549.1.1.14",
                   "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13"}
_EC_SIGNATURES = {"1.2.840.10045.2.1", "1.2.840.10045.4.1", "1.2.840.10045.4.3.1",
                  "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4"}


class SignedData(NamedTuple):
    """What verification needs of a SignedData with one signer."""

    content: bytes | None  # encapsulated content (opaque signing), None when detached
    cert_ders: tuple[bytes, ...]  # the certificate bag, DER
    sid: tuple  # ("issuer_serial", issuer DER, serial) or ("ski", key id)
    digest: str  # hashlib name
    signed_attrs: bytes | None  # DER of the signed attributes, re-tagged as SET OF
    message_digest: bytes | None
    signature_oid: str
    signature: bytes


class Templates:
    """Parsed SignedData structures kept as templates for the next messages of their signers.

    One signer's messages differ only in the message digest, the signing time
    and the signature, all of fixed length for a given signer (RSA), so every
    other byte of a new message's DER is compared with a template parsed in
    full before: when all are equal the new structure is the template's with
    those three values read from the same places. Anything else is parsed in
    full. By DER length; a few per length.
    """

    PER_LENGTH = 4
    LENGTHS = 64

    def __init__(self) -> None:
        self._by_length: dict[int, list] = {}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_length.values())

    def clear(self) -> None:
        """Forget every template."""
        self._by_length.clear()

    def match(self, der: bytes) -> SignedData | None:
        """The SignedData of ``der`` read from a template, or None when none fits."""
        for template, sd, variable, (digest_at, attrs_at, signature_at) in self._by_length.get(len(der), ()):
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

    def remember(self, der: bytes, sd: SignedData, spans: list) -> None:
        """Keep ``der`` as a template when it is clear-signed with signed attributes (the usual case)."""
        found = dict(spans)
        if sd.content is not None or sd.signed_attrs is None or not {"digest", "attrs", "signature"} <= found.keys():
            return
        variable = sorted(found[key] for key in ("digest", "time", "signature") if key in found)
        if any(a[1] > b[0] for a, b in zip(variable, variable[1:])):
            return  # overlapping: not a structure we understand
        if len(self._by_length) >= self.LENGTHS and len(der) not in self._by_length:
            self._by_length.clear()
        entries = self._by_length.setdefault(len(der), [])
        if len(entries) >= self.PER_LENGTH:
            entries.pop(0)
        entries.append((der, sd, variable, (found["digest"], found["attrs"], found["signature"])))


templates = Templates()


def read_signed_data(der: bytes) -> SignedData:
    """The SignedData of ``der`` (DER or BER), from a template of the signer's earlier message
    when one fits, else parsed in full (and kept as a template)."""
    matched = templates.match(der)
    if matched is not None:
        return matched
    spans: list = []
    sd, parsed = parse_structure(lambda data: parse_signed_data(data, spans), der)
    if parsed is der:  # streamed (BER) structures are rare: parsed in full each time, never templates
        templates.remember(der, sd, spans)
    return sd


def parse_signed_data(der: bytes, spans: list | None = None) -> SignedData:
    """The SignedData of ``der`` parsed in full; ``spans`` gets (name, (start, end)) of the parts
    that vary from one message of a signer to the next (and of the signed attributes)."""
    spans = [] if spans is None else spans
    top = read_tlv(der, 0, len(der))
    content_type, wrapped = children(der, expect(top, 0x30, "a ContentInfo"))[:2]
    if read_oid(der, content_type) != _OID_SIGNED_DATA:
        raise CryptoError("PKCS#7 structure is not signed data")
    fields = children(der, expect(children(der, expect(wrapped, 0xA0, "[0] content"))[0], 0x30, "SignedData"))
    encap = children(der, expect(fields[2], 0x30, "encapsulated content info"))
    if read_oid(der, encap[0]) != _OID_DATA:
        raise CryptoError("signed content type is not data")
    content = None
    if len(encap) > 1:
        econtent = children(der, expect(encap[1], 0xA0, "[0] eContent"))[0]
        content = der[econtent.body:econtent.end] if econtent.tag == 0x04 else None
        if content is None:
            raise CryptoError("PKCS#7 content is not a DER OCTET STRING")
    cert_ders: tuple[bytes, ...] = ()
    rest = fields[3:]
    if rest and rest[0].tag == 0xA0:
        cert_ders = tuple(raw(der, c) for c in children(der, rest[0]) if c.tag == 0x30)
        rest = rest[1:]
    if rest and rest[0].tag == 0xA1:  # CRLs carried in the message are not used
        rest = rest[1:]
    if len(rest) != 1:
        raise CryptoError("malformed PKCS#7 structure: no signer infos")
    signers = children(der, expect(rest[0], 0x31, "SignerInfos"))
    if len(signers) != 1:
        raise CryptoError(f"message has {len(signers)} signers; exactly one is accepted")
    info = children(der, expect(signers[0], 0x30, "SignerInfo"))
    sid = identifier(der, info[1], "signer")
    digest_oid = read_oid(der, children(der, info[2])[0])
    if digest_oid not in _DIGESTS:
        raise CryptoError(f"unsupported digest algorithm {digest_oid}")
    rest = info[3:]
    signed_attrs = message_digest = None
    if rest and rest[0].tag == 0xA0:
        attrs = rest[0]
        signed_attrs = b"\x31" + der[attrs.start + 1:attrs.end]
        spans.append(("attrs", (attrs.start, attrs.end)))
        for attr in children(der, attrs):
            attr_type, values = children(der, attr)[:2]
            oid, value = read_oid(der, attr_type), children(der, values)
            if oid == OID_MESSAGE_DIGEST:
                message_digest = der[value[0].body:value[0].end]
                spans.append(("digest", (value[0].body, value[0].end)))
            elif oid == OID_SIGNING_TIME and len(value) == 1:
                spans.append(("time", (value[0].body, value[0].end)))
            elif oid == _OID_CONTENT_TYPE and read_oid(der, value[0]) != _OID_DATA:
                raise CryptoError("signed content type is not data")
        if message_digest is None:
            raise CryptoError("signed attributes lack the message digest")
        rest = rest[1:]
    signature_oid = read_oid(der, children(der, rest[0])[0])
    signature = expect(rest[1], 0x04, "the signature")
    spans.append(("signature", (signature.body, signature.end)))
    return SignedData(content, cert_ders, sid, _DIGESTS[digest_oid], signed_attrs,
                       message_digest, signature_oid, der[signature.body:signature.end])


def check_signature(sd: SignedData, part: bytes, cert: x509.Certificate, clear: bool) -> bytes:
    """Check the signature over ``part``; return the content that was signed.

    A clear-signed part is signed in canonical form (CRLF line ends).  Senders
    transmit it that way, so the part is first tried as received, which spares
    rewriting megabytes per message; only if a transport changed the line ends
    is it canonicalised, as ``openssl smime -verify`` always does.
    """
    content = part
    if sd.signed_attrs is not None:
        if hashlib.new(sd.digest, content).digest() != sd.message_digest:
            content = to_crlf(part) if clear else part
            if content is part or hashlib.new(sd.digest, content).digest() != sd.message_digest:
                raise CryptoError("message digest mismatch: the content was altered after signing")
        signed = sd.signed_attrs
    else:
        content = signed = to_crlf(part) if clear else part
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
