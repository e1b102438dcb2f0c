"""The DER reader (and writer) that every CMS structure is taken apart and put together with.

A minimal reader of tag-length-value elements, enough for SignedData,
EnvelopedData and a certificate's issuer: offsets into the caller's bytes, no
copies. Structures with indefinite lengths (streamed BER) raise
:class:`Indefinite`; :func:`parse_structure` then re-encodes them as DER once
(:mod:`apeltools.messaging.crypto.ber`) and parses again.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, TypeVar

from apeltools.errors import CryptoError
from apeltools.messaging.crypto.ber import to_der

__all__ = ["Indefinite", "Tlv", "read_tlv", "children", "expect", "read_oid", "raw", "parse_structure", "encode"]

T = TypeVar("T")


class Indefinite(CryptoError):
    """An indefinite length where DER has none: the structure is BER (streamed)."""


class Tlv(NamedTuple):
    tag: int
    start: int  # first byte of the tag
    body: int  # first byte of the content
    end: int  # one past the content


def read_tlv(buf: bytes, pos: int, end: int) -> Tlv:
    """The element whose tag is at ``buf[pos]``, which must end by ``end``."""
    if pos + 2 > end:
        raise CryptoError("malformed PKCS#7 structure: truncated")
    tag, length = buf[pos], buf[pos + 1]
    body = pos + 2
    if tag & 0x1F == 0x1F:
        raise CryptoError("malformed PKCS#7 structure: unexpected high tag number")
    if length & 0x80:
        n = length & 0x7F
        if n == 0:
            raise Indefinite("malformed PKCS#7 structure: unexpected indefinite length")
        if n > 4 or body + n > end:
            raise CryptoError("malformed PKCS#7 structure: bad length")
        length = int.from_bytes(buf[body:body + n], "big")
        body += n
    if body + length > end:
        raise CryptoError("malformed PKCS#7 structure: truncated")
    return _new_tlv(Tlv, (tag, pos, body, body + length))


_new_tlv = tuple.__new__  # what Tlv(...) does, without its Python-level __new__: ~40 per message


def children(buf: bytes, parent: Tlv) -> list[Tlv]:
    """The elements inside a constructed element, in order."""
    out, pos = [], parent.body
    while pos < parent.end:
        tlv = read_tlv(buf, pos, parent.end)
        out.append(tlv)
        pos = tlv.end
    return out


def expect(tlv: Tlv, tag: int, what: str) -> Tlv:
    """``tlv`` if it has ``tag``; otherwise a CryptoError saying ``what`` was expected."""
    if tlv.tag != tag:
        raise CryptoError(f"malformed PKCS#7 structure: expected {what}")
    return tlv


# Decoded object identifiers by their encoding: every message repeats the same dozen.
_oids: dict[bytes, str] = {}
_OID_CACHE_SIZE = 1024


def read_oid(buf: bytes, tlv: Tlv) -> str:
    """An OBJECT IDENTIFIER in dotted form."""
    expect(tlv, 0x06, "an OBJECT IDENTIFIER")
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


def raw(buf: bytes, tlv: Tlv) -> bytes:
    """The whole encoding of an element, tag and length included."""
    return buf[tlv.start:tlv.end]


def parse_structure(parse: Callable[[bytes], T], data: bytes) -> tuple[T, bytes]:
    """``(parse(data), the bytes parsed)``: BER (streamed) input is re-encoded as DER first,
    and the reader's slips on missing fields or bad integers become CryptoError."""
    try:
        try:
            return parse(data), data
        except Indefinite:
            data = to_der(data)
            return parse(data), data
    except (IndexError, ValueError) as e:
        raise CryptoError(f"malformed PKCS#7 structure: {e}") from None


def encode(tag: int, content: bytes) -> bytes:
    """One DER element: ``tag``, the minimal length of ``content``, ``content``."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content
