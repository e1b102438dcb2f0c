"""Where BER-encoded (streamed) PKCS#7 structures are turned into DER for the DER reader (der.py).

``openssl smime -sign -stream -nodetach``, ``openssl smime -encrypt -stream`` and
``openssl cms -sign -stream`` write their structures with indefinite lengths
(ended by two zero bytes) and the content as a constructed OCTET STRING of
4 KB chunks, which ``openssl smime -verify`` and ``-decrypt`` read. Rather than
teach every step of the reader those forms, the whole structure is re-encoded
once: lengths definite and minimal, a constructed OCTET STRING one primitive
string. For DER input the result is the input, so signed attributes (which
CMS signs in their DER form, as OpenSSL re-encodes them to check) and
certificates keep their bytes.

Hostile input is bounded: nesting deeper than :data:`MAX_DEPTH` or more than
:data:`MAX_ELEMENTS` elements is refused, and each byte is read once per
level, so time and memory stay linear in the input.
"""

from __future__ import annotations

from apeltools.errors import CryptoError

__all__ = ["to_der", "MAX_DEPTH", "MAX_ELEMENTS"]

# A certificate inside a SignedData nests about a dozen deep; the 4 KB chunks of a
# 32 MB streamed message are about 8,000 elements.
MAX_DEPTH = 64
MAX_ELEMENTS = 200_000

_OCTET_STRING, _CONSTRUCTED_OCTET_STRING = 0x04, 0x24


def _header(tag: int, length: int) -> bytes:
    if length < 0x80:
        return bytes((tag, length))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size


def to_der(ber: bytes) -> bytes:
    """The DER form of the BER element at the start of ``ber`` (bytes after it are ignored).

    Raises CryptoError when the input is not well-formed BER (truncated, a
    missing end-of-contents, a length beyond its container, an indefinite
    length on a primitive element) or exceeds the bounds above.
    """
    reader = _Reader(ber)
    _, tag, pieces, length = reader.element(0, len(ber), 0)
    return b"".join([_header(tag, length), *pieces])


class _Reader:
    def __init__(self, buf: bytes):
        self.buf = buf
        self.count = 0

    def element(self, pos: int, limit: int, depth: int) -> tuple[int, int, list, int]:
        """The element at ``pos``: (where the next begins, its DER tag, content pieces, content length)."""
        buf = self.buf
        self.count += 1
        if depth > MAX_DEPTH:
            raise CryptoError("malformed PKCS#7 structure: nested too deeply")
        if self.count > MAX_ELEMENTS:
            raise CryptoError("malformed PKCS#7 structure: too many elements")
        if pos + 2 > limit:
            raise CryptoError("malformed PKCS#7 structure: truncated")
        tag, first = buf[pos], buf[pos + 1]
        if tag & 0x1F == 0x1F:
            raise CryptoError("malformed PKCS#7 structure: unexpected high tag number")
        if tag == 0:
            raise CryptoError("malformed PKCS#7 structure: end-of-contents out of place")
        body = pos + 2
        end = None  # indefinite: ended by end-of-contents
        if first == 0x80:
            if not tag & 0x20:
                raise CryptoError("malformed PKCS#7 structure: indefinite length on a primitive element")
        else:
            length = first
            if first & 0x80:
                n = first & 0x7F
                if n > 4 or body + n > limit:
                    raise CryptoError("malformed PKCS#7 structure: bad length")
                length = int.from_bytes(buf[body:body + n], "big")
                body += n
            end = body + length
            if end > limit:
                raise CryptoError("malformed PKCS#7 structure: truncated")
            if not tag & 0x20:
                return end, tag, [buf[body:end]], length
        pieces: list = []
        size = 0
        strings = tag == _CONSTRUCTED_OCTET_STRING
        pos = body
        while True:
            if end is None:
                if pos + 2 > limit:
                    raise CryptoError("malformed PKCS#7 structure: truncated (no end-of-contents)")
                if buf[pos] == 0 and buf[pos + 1] == 0:
                    pos += 2
                    break
            elif pos >= end:
                break
            pos, child_tag, child_pieces, child_length = self.element(pos, end or limit, depth + 1)
            if strings:
                # A chunk of the string (itself possibly chunked): only its content counts.
                if child_tag != _OCTET_STRING:
                    raise CryptoError("malformed PKCS#7 structure: constructed OCTET STRING holds another type")
                pieces += child_pieces
                size += child_length
            else:
                header = _header(child_tag, child_length)
                pieces.append(header)
                pieces += child_pieces
                size += len(header) + child_length
        if strings:
            return pos, _OCTET_STRING, [b"".join(pieces)], size
        return pos, tag, pieces, size
