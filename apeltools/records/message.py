"""A whole message: recognise its format (text, XML or JSON) and parse every record of it."""

from functools import partial

from apeltools.errors import MessageError
from apeltools.quoting import quote
from apeltools.records import accelerator, car, star, text
from apeltools.records.columns import lf_block
from apeltools.records.parsed import ParsedMessage
from apeltools.records.types import now as current_time
from apeltools.records.xml import AUR_NAMESPACE, CAR_NAMESPACE, STAR_NAMESPACE, parse_records, read_xml, split_tag


def _text_body(header, crlf, blocks):
    """A message of ``blocks`` with LF line ends (``crlf``: CRLF blocks of ``text.split_lines``)."""
    if crlf:
        blocks = map(lf_block, blocks)
    return header + "\n" + "".join(block.strip("\n") + "\n%%\n" for block in blocks)


def _parse_text(body, now):
    header, blocks, crlf = text.split_lines(body)
    fmt = text.format_for_header(header)
    message = ParsedMessage(fmt.header, fmt.rtype, partial(_text_body, fmt.header, crlf))
    # A CR is data to LOAD DATA (its lines end at LF, which no value holds): a CRLF message is plain.
    message.plain = "\\" not in body and "\t" not in body
    records, bad = text.decode(fmt, blocks, now, crlf)
    if not bad:  # every record good (what senders send): taken as they are
        message.records, message.sources = records, blocks
        return message
    for index, (record, block) in enumerate(zip(records, blocks)):
        if record is None:
            message.reject(bad[index], index, text.first_line(lf_block(block) if crlf else block), block)
        else:
            message.accept(record, block)
    return message


def _parse_xml(body, now):
    """Parse an XML message (CAR jobs or StAR storage records) into a ParsedMessage.

    Raises MessageError for unreadable XML, DTDs or entities, aggregated
    (AUR) records and any other root namespace.
    """
    root = read_xml(body)
    namespace, _ = split_tag(root.tag)
    if namespace == CAR_NAMESPACE:
        return parse_records(root, car, now)
    if namespace == STAR_NAMESPACE:
        return parse_records(root, star, now)
    if namespace == AUR_NAMESPACE:
        raise MessageError(
            "Aggregated compute records (AUR) are not supported: "
            "send summaries as APEL-summary-job-message text instead."
        )
    raise MessageError(f"Message type {quote(root.tag, bare=True)} not recognised.")


def parse_message(body, now=None):
    """Parse a message body (str) of any supported format.

    Raises ``MessageError`` when the message as a whole cannot be used (an
    unknown header, XML or JSON that does not parse); bad records inside a
    good message are reported in the result instead.
    """
    if now is None:
        now = current_time()
    stripped = body.lstrip()
    if not stripped:
        raise MessageError("Empty message.")
    if stripped.startswith("<"):
        return _parse_xml(stripped, now)
    if stripped.startswith("{"):
        return accelerator.parse(stripped, now)
    return _parse_text(stripped, now)


def reject_body(message):
    """A message of the same format holding only the rejected records, to keep for re-processing
    (None when nothing was rejected): the header and each rejected record's own lines for
    text, the same root element with only the rejected record elements for XML, the same
    envelope with only the rejected UsageRecords for JSON."""
    if not message.rejected:
        return None
    return message.wrap(message.rejected)


def describe_errors(message, limit=20):
    """One line per rejected record (up to ``limit``), for logs and the reject queue."""
    lines = [str(error) for error in message.errors[:limit]]
    if len(message.errors) > limit:
        lines.append(f"... and {len(message.errors) - limit} more rejected records")
    return "\n".join(lines)


__all__ = ["ParsedMessage", "parse_message", "reject_body", "describe_errors", "MessageError"]
