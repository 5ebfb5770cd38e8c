"""The root element of an XML export (EndNote XML, PubMed XML), read with defusedxml so an upload
cannot expand entities; what is not well-formed XML is an ``ImportFileError`` naming where."""
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from studies.imports.errors import ImportFileError


def xml_root(text: str, *, entities_refused: str) -> Element:
    """The document's root; ``entities_refused`` is the message for a document that declares entities."""
    try:
        return fromstring(text.encode("utf-8"))
    except ParseError as error:
        line, column = error.position
        raise ImportFileError(f"The XML is not well formed (column {column}).", line=line, field="xml") from None
    except DefusedXmlException:
        raise ImportFileError(entities_refused, field="xml") from None
