"""PubMed XML (efetch's PubmedArticleSet) as an upload: detected, read, refused when broken."""
from datetime import date

import pytest

from studies.imports import ImportFileError, file_parse, format_detect
from studies.models import Record
from studies.services.imports import import_file
from tests.studies.searches.conftest import PUBMED_HEAD, PubmedRecord

BOOK = """<PubmedBookArticle><BookDocument><PMID Version="1">29000001</PMID>
  <ArticleIdList><ArticleId IdType="bookaccession">NBK000001</ArticleId></ArticleIdList>
  <Book><Publisher><PublisherName>Synthetic Press</PublisherName></Publisher>
    <BookTitle book="synth">Peer Support in Mental Health: A Synthetic Handbook</BookTitle>
    <PubDate><Year>2021</Year></PubDate>
    <AuthorList Type="editors"><Author><LastName>Moreau</LastName><ForeName>Claire</ForeName></Author></AuthorList></Book>
  <ArticleTitle>Chapter 4: Stigma and recovery</ArticleTitle>
  <Language>eng</Language>
  <AuthorList Type="authors"><Author><CollectiveName>Synthetic Peer Support Working Group</CollectiveName></Author></AuthorList>
  <Abstract><AbstractText>Peer workers describe how <i>disclosure</i> shaped recovery.</AbstractText></Abstract>
</BookDocument><PubmedBookData><ArticleIdList><ArticleId IdType="pubmed">29000001</ArticleId></ArticleIdList></PubmedBookData>
</PubmedBookArticle>"""


def _file() -> str:
    article = PubmedRecord(pmid="38100900", title="Self-stigma after peer-led groups: a pilot trial",
                           doi="10.5555/synth.2024.0900", abstract=[("", "A single-paragraph abstract.")],
                           entered=date(2024, 3, 2), nct="NCT05123456")
    xml = article.xml().replace("<PubDate><Year>2024</Year><Month>Mar</Month></PubDate>",
                                "<PubDate><MedlineDate>2023 Dec-2024 Jan</MedlineDate></PubDate>")
    return f"{PUBMED_HEAD}<PubmedArticleSet>{xml}{BOOK}</PubmedArticleSet>"


def test_a_pubmed_xml_file_is_recognised_and_read():
    text = _file()
    assert format_detect(text) == "pubmed_xml"
    article, book = file_parse(content=text.encode()).records
    assert (article.pmid, article.doi, article.year, article.nct_id) == ("38100900", "10.5555/synth.2024.0900", 2023,
                                                                       "NCT05123456")
    assert article.abstract == "A single-paragraph abstract."
    # The raw entry is the article exactly as the file has it.
    assert article.raw_entry in text and article.raw_entry.startswith("<PubmedArticle>")
    assert article.raw_entry.endswith("</PubmedArticle>") and book.raw_entry == BOOK
    assert "Randomized Controlled Trial" in article.publication_type
    assert (book.pmid, book.title, book.year) == ("29000001", "Chapter 4: Stigma and recovery", 2021)
    assert book.authors == ("Synthetic Peer Support Working Group",)
    assert book.abstract == "Peer workers describe how disclosure shaped recovery."


def test_an_upload_of_pubmed_xml_imports_and_a_broken_one_is_refused(team):
    summary = import_file(review=team.review, database="PubMed", date_searched=date(2026, 1, 5), query="stigma",
                          file_name="pubmed.xml", content=_file().encode())
    assert summary.imported == 2 and summary.file_format == "pubmed_xml"
    with pytest.raises(ImportFileError, match="not well formed"):
        import_file(review=team.review, database="PubMed", date_searched=date(2026, 1, 6), query="stigma",
                    file_name="cut.xml", content=_file()[:900].encode())
    with pytest.raises(ImportFileError, match="Unknown format"):
        import_file(review=team.review, database="PubMed", date_searched=date(2026, 1, 6), query="stigma",
                    file_name="a.json", content=b"{}", file_format="search_api")
    assert Record.objects.filter(review=team.review).count() == 2


# The PubMed DTD (pubmed_250101.dtd): PubmedBookArticle is (BookDocument, PubmedBookData?) and
# PubmedBookData holds the book's ArticleIdList (pubmed, doi...); a journal article's DOI is its
# ELocationID EIdType="doi" or PubmedData/ArticleIdList, never a cited reference's
# (PubmedData/ReferenceList/Reference/ArticleIdList); ArticleTitle carries inline <i>, <sup>, <sub>.
def test_the_dois_are_the_articles_own_and_inline_markup_keeps_its_text():
    book = BOOK.replace('<ArticleId IdType="pubmed">29000001</ArticleId>',
                        '<ArticleId IdType="pubmed">29000001</ArticleId><ArticleId IdType="doi">10.5555/synth.book.4</ArticleId>')
    article = PubmedRecord(pmid="38100901", title="T", doi="10.5555/synth.2024.0901",
                           abstract=[("OBJECTIVE", "One."), ("CONCLUSIONS", "Two.")], entered=date(2024, 3, 2)).xml()
    article = (article.replace('<ELocationID EIdType="doi" ValidYN="Y">10.5555/synth.2024.0901</ELocationID>', "")
               .replace('<ArticleId IdType="doi">10.5555/synth.2024.0901</ArticleId>', "")
               .replace("<ArticleTitle>T</ArticleTitle>",
                        "<ArticleTitle>CD4<sup>+</sup> counts, <i>Lactobacillus</i> and H<sub>2</sub>O intake.</ArticleTitle>")
               .replace("</PubmedData>", '<ReferenceList><Reference><Citation>Cited work.</Citation><ArticleIdList>'
                                         '<ArticleId IdType="doi">10.9999/cited.1</ArticleId></ArticleIdList></Reference>'
                                         "</ReferenceList></PubmedData>"))
    parsed, parsed_book = file_parse(content=f"{PUBMED_HEAD}<PubmedArticleSet>{article}{book}</PubmedArticleSet>".encode()).records
    assert parsed.doi in (None, "")
    assert parsed.title == "CD4+ counts, Lactobacillus and H2O intake."
    assert parsed.abstract == "OBJECTIVE: One. CONCLUSIONS: Two."
    assert parsed_book.doi == "10.5555/synth.book.4"
