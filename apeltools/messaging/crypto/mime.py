"""MIME framing of S/MIME messages: headers, the parts of multipart/signed, base64, CRLF."""

from __future__ import annotations

import base64
import binascii
import re

from apeltools.errors import CryptoError
from apeltools.quoting import quote

__all__ = [
    "split_headers", "content_type", "decode_base64", "to_crlf", "from_crlf", "split_signed", "text_payload",
    "base64_lines",
]

_HEADER_END = re.compile(rb"\r?\n\r?\n")


def split_headers(msg: bytes) -> tuple[dict, int]:
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
            raise CryptoError(f"not a MIME message: bad header line {quote(line)}")
    return headers, match.end()


def content_type(headers: dict) -> tuple[str, dict]:
    """The Content-Type (lower-cased) and its parameters."""
    kind, *params = headers.get("content-type", "").split(";")
    values = {}
    for param in params:
        name, _, value = param.partition("=")
        values[name.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), values


def decode_base64(body: bytes, what: str) -> bytes:
    """Base64 ``body`` decoded; CryptoError naming ``what`` when it is not base64."""
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error as e:
        raise CryptoError(f"{what} is not valid base64: {e}") from None


def to_crlf(data: bytes) -> bytes:
    """``data`` in canonical form: every line end CRLF."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    return data.replace(b"\n", b"\r\n")


def from_crlf(data: bytes) -> bytes:
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


def split_signed(msg: bytes, body: int, boundary: str) -> tuple[bytes, bytes]:
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
    headers, offset = split_headers(sig_part)
    kind, _ = content_type(headers)
    if kind not in ("application/x-pkcs7-signature", "application/pkcs7-signature"):
        raise CryptoError(f"second part of multipart/signed is {quote(kind or 'untyped', bare=True)}, not a PKCS#7 signature")
    if headers.get("content-transfer-encoding", "").lower() != "base64":
        raise CryptoError("PKCS#7 signature part is not base64-encoded")
    return signed_part, decode_base64(sig_part[offset:], "PKCS#7 signature")


def text_payload(content: bytes) -> bytes:
    """Strip the text/plain MIME header that ``-text`` signing puts before the data."""
    end = content.find(b"\r\n\r\n")
    kind = ""
    if end > 0:
        try:
            kind, _ = content_type(split_headers(content[:end + 4])[0])
        except CryptoError:
            pass
    if kind != "text/plain":
        raise CryptoError("signed content is not a text/plain MIME entity (sign with -text)")
    return from_crlf(content[end + 4:])


def base64_lines(der: bytes) -> bytes:
    """Base64 in 64-column lines, as OpenSSL writes it."""
    text = base64.b64encode(der)
    return b"\n".join(text[i:i + 64] for i in range(0, len(text), 64)) + b"\n"
