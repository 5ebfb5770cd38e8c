"""PubMed XML (``efetch.fcgi?db=pubmed&retmode=xml``: a ``PubmedArticleSet``), read with defusedxml.

The format of the NLM's PubMed DTD (``pubmed_250101.dtd``): ``PubmedArticle`` (a journal article,
``MedlineCitation`` + ``PubmedData``) and ``PubmedBookArticle`` (a book or chapter). It is what the
living PubMed search fetches, and a file of it (PubMed's "Save → XML" is the same) imports like
any other export.
"""
import re
from xml.etree.ElementTree import Element, tostring

from studies.imports.errors import ImportFileError
from studies.imports.records import ParsedRecord, parsed_record_build
from studies.imports.xml_export import xml_root

_ARTICLES = ("PubmedArticle", "PubmedBookArticle")
# An article's text as PubMed sent it (its raw entry). Markup inside text is escaped (&lt;), so these
# tags occur only as tags; "<PubmedArticleSet" is not matched (a space or ">" must follow the name).
_ARTICLE_TEXT = re.compile(r"<(PubmedArticle|PubmedBookArticle)[\s>].*?</\1>", re.DOTALL)


def _text(element: Element | None) -> str:
    # Titles and abstracts carry inline markup (<i>, <sup>, <sub>, <b>): its text is the field's text.
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _texts(parent: Element, path: str) -> list[str]:
    return [text for element in parent.findall(path) if (text := _text(element))]


def _abstract(parent: Element | None) -> str:
    if parent is None:
        return ""
    parts = []
    for section in parent.findall("AbstractText"):
        text = _text(section)
        label = section.get("Label")
        if text:
            parts.append(f"{label}: {text}" if label else text)
    return " ".join(parts)


def _authors(parent: Element | None) -> list[str]:
    if parent is None:
        return []
    names = []
    for author in parent.findall("Author"):
        last, fore = _text(author.find("LastName")), _text(author.find("ForeName")) or _text(author.find("Initials"))
        collective = _text(author.find("CollectiveName"))
        if last:
            names.append(f"{last}, {fore}" if fore else last)
        elif collective:
            names.append(collective)
    return names


def _year(pub_date: Element | None) -> list[str]:
    if pub_date is None:
        return []
    # <Year>2022</Year>, or <MedlineDate>2021 Dec-2022 Jan</MedlineDate> for issues that span months.
    return _texts(pub_date, "Year") or _texts(pub_date, "MedlineDate")


def _article_ids(article: Element) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    # The article's own ids only: PubmedData's (journal articles), BookDocument's and PubmedBookData's
    # (books: the DTD puts a book's DOI in PubmedBookData), never a cited reference's
    # (ReferenceList/Reference/ArticleIdList).
    for element in (article.findall("PubmedData/ArticleIdList/ArticleId")
                    + article.findall("BookDocument/ArticleIdList/ArticleId")
                    + article.findall("PubmedBookData/ArticleIdList/ArticleId")):
        if text := _text(element):
            ids.setdefault(element.get("IdType", ""), []).append(text)
    return ids


def _journal_article(index: int, article: Element, raw: str) -> ParsedRecord:
    citation = article.find("MedlineCitation")
    body = citation.find("Article") if citation is not None else None
    if citation is None or body is None:
        return parsed_record_build(record=index, line=0, raw_entry=raw, title=None)
    ids = _article_ids(article)
    journal = body.find("Journal")
    issue = journal.find("JournalIssue") if journal is not None else None
    pub_date = issue.find("PubDate") if issue is not None else None
    dois = [e.text or "" for e in body.findall("ELocationID") if e.get("EIdType") == "doi"] + ids.get("doi", [])
    banks = [number for bank in body.findall("DataBankList/DataBank") for number in _texts(bank, ".//AccessionNumber")]
    return parsed_record_build(
        record=index, line=0, raw_entry=raw,
        title=_text(body.find("ArticleTitle")),
        title_alternatives=(("vernacular title", _texts(body, "VernacularTitle")),),
        abstract=_abstract(body.find("Abstract")),
        authors=_authors(body.find("AuthorList")),
        year=_year(pub_date) or _texts(body, "ArticleDate/Year"),
        journal=_texts(journal, "Title") if journal is not None else None,
        volume=_texts(issue, "Volume") if issue is not None else None,
        issue=_texts(issue, "Issue") if issue is not None else None,
        pages=_texts(body, "Pagination/MedlinePgn"),
        start_page=_text(body.find("Pagination/StartPage")), end_page=_text(body.find("Pagination/EndPage")),
        doi=dois, pmid=_texts(citation, "PMID"),
        nct_sources=banks + _texts(citation, "OtherID"),
        keywords=_texts(citation, "KeywordList/Keyword") + _texts(citation, "MeshHeadingList/MeshHeading/DescriptorName"),
        language=_texts(body, "Language"),
        publication_type=_texts(body, "PublicationTypeList/PublicationType"),
        url=[f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" for pmid in _texts(citation, "PMID")[:1]],
    )


def _book_article(index: int, article: Element, raw: str) -> ParsedRecord:
    document = article.find("BookDocument")
    if document is None:
        return parsed_record_build(record=index, line=0, raw_entry=raw, title=None)
    book = document.find("Book")
    ids = _article_ids(article)
    return parsed_record_build(
        record=index, line=0, raw_entry=raw,
        title=_text(document.find("ArticleTitle")),
        title_alternatives=(("book title", _texts(book, "BookTitle") if book is not None else []),),
        abstract=_abstract(document.find("Abstract")),
        authors=_authors(document.find("AuthorList")) or (_authors(book.find("AuthorList")) if book is not None else []),
        year=_year(book.find("PubDate")) if book is not None else None,
        journal=_texts(book, "BookTitle") if book is not None else None,
        doi=ids.get("doi", []), pmid=_texts(document, "PMID"),
        keywords=_texts(document, "KeywordList/Keyword"),
        language=_texts(document, "Language"),
        publication_type=_texts(document, "PublicationType") or ["Book"],
        url=[f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" for pmid in _texts(document, "PMID")[:1]],
    )


def pubmed_xml_parse(text: str) -> list[ParsedRecord]:
    """Parse a PubMed XML ``PubmedArticleSet``, one record per article in document order.

    Raises ``ImportFileError`` for text that is not well-formed XML (a truncated download) or whose
    root is not a ``PubmedArticleSet`` (for instance an HTML error page).
    """
    root = xml_root(text, entities_refused="The XML declares entities, which PubMed XML never does.")
    if root.tag != "PubmedArticleSet":
        raise ImportFileError(f"The document is <{root.tag}>, not a PubMed <PubmedArticleSet>.", line=1, field="xml")
    articles = [element for element in root if element.tag in _ARTICLES]
    # The raw entries are cut from the text itself: exactly what PubMed sent, and several times cheaper
    # than serialising each parsed element again (which was 40% of reading a file).
    texts = [found.group(0) for found in _ARTICLE_TEXT.finditer(text)]
    if len(texts) != len(articles):  # never seen; serialise rather than pair the wrong texts
        texts = [tostring(article, encoding="unicode") for article in articles]
    records = []
    for index, (article, raw) in enumerate(zip(articles, texts, strict=True), start=1):
        build = _journal_article if article.tag == "PubmedArticle" else _book_article
        records.append(build(index, article, raw))
    return records
