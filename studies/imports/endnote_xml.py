"""EndNote XML (``File → Export → XML``), read with defusedxml so an upload cannot expand entities."""
from xml.etree.ElementTree import Element, tostring

from studies.imports.errors import ImportFileError
from studies.imports.records import ParsedRecord, parsed_record_build
from studies.imports.xml_export import xml_root


def _texts(record: Element, path: str) -> list[str]:
    # EndNote wraps text in <style face=… font=…> runs, sometimes several per field.
    return [text for element in record.findall(path) if (text := "".join(element.itertext()).strip())]


def endnote_xml_parse(text: str) -> list[ParsedRecord]:
    """Parse an EndNote XML export (``<xml><records><record>…``)."""
    root = xml_root(text, entities_refused="The XML declares entities or a DTD, which exports never do.")
    elements = root.findall(".//record")
    if not elements:
        raise ImportFileError("No <record> elements: not an EndNote XML export.", line=1, field="record")
    records = []
    for index, record in enumerate(elements, start=1):
        ref_type = record.find("ref-type")
        accession = _texts(record, "accession-num")
        database = " ".join(_texts(record, "remote-database-name") + _texts(record, "remote-database-provider"))
        records.append(parsed_record_build(
            record=index, line=0, raw_entry=tostring(record, encoding="unicode"),
            title=_texts(record, "titles/title"),
            title_alternatives=(("translated title", _texts(record, "titles/translated-title")),
                                ("short title", _texts(record, "titles/short-title")),
                                ("alternative title", _texts(record, "titles/alt-title"))),
            abstract=_texts(record, "abstract"),
            authors=_texts(record, "contributors/authors/author"),
            year=_texts(record, "dates/year"),
            journal=_texts(record, "periodical/full-title") or _texts(record, "titles/secondary-title")
            or _texts(record, "periodical/abbr-1"),
            volume=_texts(record, "volume"), issue=_texts(record, "number"), pages=_texts(record, "pages"),
            doi=_texts(record, "electronic-resource-num"),
            # Like RIS AN: the accession number is a PMID only for records that came from PubMed.
            pmid=[a for a in accession if a.isdigit()] if "pubmed" in database.lower() or "medline" in
            database.lower() else [],
            nct_sources=accession + _texts(record, "notes"),
            keywords=_texts(record, "keywords/keyword"),
            language=_texts(record, "language"),
            publication_type=[ref_type.get("name", "")] if ref_type is not None else None,
            url=_texts(record, "urls/related-urls/url") + _texts(record, "urls/web-urls/url"),
        ))
    # ElementTree keeps no line numbers: errors name EndNote XML records by position.
    return records
