"""XML of the CAR and StAR codecs: safe parsing, namespaces, reading and writing record elements.

Parsing goes through ``defusedxml`` with DTDs forbidden outright: accounting
records never need one, and refusing every ``<!DOCTYPE`` also refuses every
entity-expansion ("billion laughs") and external-entity attack before any
expansion happens.

The helpers below are shared by the CAR (``car.py``) and StAR (``star.py``)
codecs; ``message.py`` tells the two apart by the root namespace. Elements are
matched by local name, so a record whose children are unprefixed or in a
default namespace reads the same as a fully prefixed one (both are seen from
real producers). Attributes are looked up qualified by the record's namespace
first (``urf:type``), then unqualified (``type``).
"""

import xml.etree.ElementTree as ElementTree
from functools import partial

import defusedxml
import defusedxml.ElementTree as SafeElementTree

from apeltools.errors import MessageError, RecordError
from apeltools.quoting import quote
from apeltools.records.build import build
from apeltools.records.parsed import ParsedMessage

CAR_NAMESPACE = "http://eu-emi.eu/namespaces/2012/11/computerecord"
STAR_NAMESPACE = "http://eu-emi.eu/namespaces/2011/02/storagerecord"
AUR_NAMESPACE = "http://eu-emi.eu/namespaces/2012/11/aggregatedcomputerecord"

PREFIXES = {CAR_NAMESPACE: "urf", STAR_NAMESPACE: "sr"}
# So that written XML (rejected records too) keeps the customary prefixes rather than ns0.
for _namespace, _prefix in PREFIXES.items():
    ElementTree.register_namespace(_prefix, _namespace)


def read_xml(body):
    """The root element of an XML body, or MessageError (unreadable, or DTD/entities used)."""
    try:
        return SafeElementTree.fromstring(body, forbid_dtd=True)
    except defusedxml.DefusedXmlException as error:
        raise MessageError(
            f"XML message refused: DTDs and entity declarations are not allowed ({type(error).__name__})."
        ) from None
    except ElementTree.ParseError as error:
        raise MessageError(f"XML message does not parse: {error}.") from None


def split_tag(tag):
    """(namespace, local name) of an ElementTree tag; namespace '' when there is none."""
    if tag[:1] == "{":
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def local_name(element):
    return split_tag(element.tag)[1]


def attribute(element, name, namespace):
    """An attribute's value, qualified (``urf:type``) or not (``type``); None when absent."""
    value = element.get(f"{{{namespace}}}{name}")
    return element.get(name) if value is None else value


def child_elements(element, name):
    """The direct children of ``element`` with the local name ``name``."""
    return [child for child in element if local_name(child) == name]


def first_child(element, name):
    """The first direct child named ``name``, or None."""
    for child in element:
        if local_name(child) == name:
            return child
    return None


def text_of(element):
    """The stripped text of an element ('' when empty)."""
    return (element.text or "").strip()


def copy_texts(element, names, raw):
    """Put the text of the first child named after each field into ``raw`` (absent: left out)."""
    for child in element:
        name = local_name(child)
        if name in names and name not in raw:
            raw[name] = text_of(child)


def parse_records(root, codec, now):
    """A ParsedMessage from a root that is one record or a container of records.

    ``codec`` is a module with NAMESPACE, FORMAT, RTYPE, CONTAINER, RECORD,
    ``raw_fields(element) -> {field: text}`` and ``label(element) -> str``.
    A bad record is rejected on its own; the other records still load.
    """
    name = local_name(root)
    if name == codec.CONTAINER:
        elements = list(root)
    elif name == codec.RECORD:
        elements = [root]
    else:
        raise MessageError(f"Message type {quote(root.tag, bare=True)} not recognised.")
    message = ParsedMessage(codec.FORMAT, codec.RTYPE, partial(_wrap, root, name == codec.CONTAINER))
    for index, element in enumerate(elements):
        try:
            if element.tag != f"{{{codec.NAMESPACE}}}{codec.RECORD}":
                raise RecordError(f"unexpected element {element.tag} in {codec.CONTAINER}")
            message.accept(build(codec.RTYPE, codec.raw_fields(element), now), element)
        except RecordError as error:
            message.reject(error, index, codec.label(element), element)
    return message


def _wrap(root, contained, elements):
    """An XML document of the record ``elements`` in a copy of ``root`` (its tag and attributes);
    a message whose root was a record on its own is that record."""
    if contained:
        container = ElementTree.Element(root.tag, root.attrib)
        container.text = root.text
        container.extend(elements)
    else:
        [container] = elements
    return _as_text(container)


def record_label(element, namespace):
    """``<urf:UsageRecord> recordId=...``: how an operator finds a record in a message."""
    identity = first_child(element, "RecordIdentity")
    record_id = attribute(identity, "recordId", namespace) if identity is not None else None
    return f"<{PREFIXES[namespace]}:{local_name(element)}> recordId={record_id}"


def element_in(parent, namespace, name, text=None, **attributes):
    """Append a child element ``name`` in ``namespace`` (attributes qualified likewise)."""
    qualified = {f"{{{namespace}}}{key}": value for key, value in attributes.items() if value is not None}
    child = ElementTree.SubElement(parent, f"{{{namespace}}}{name}", qualified)
    if text is not None:
        child.text = text
    return child


def document(root):
    """The text of a whole XML document, indented, with an XML declaration."""
    ElementTree.indent(root)
    return _as_text(root)


def _as_text(root):
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
