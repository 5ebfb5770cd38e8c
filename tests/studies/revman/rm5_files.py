"""Small RevMan 5 files written by the tests, in RevMan's own layout and attribute names.

Each analysis is given as plain data; the stored results (what RevMan would have computed) are the
golden values of the tests, computed by R's metafor (the R calls sit beside them in the tests).
"""
from xml.sax.saxutils import escape, quoteattr


def _attributes(values: dict) -> str:
    return " ".join(f"{name}={quoteattr(value if isinstance(value, str) else repr(value))}"
                    for name, value in values.items())


def study_id(name: str) -> str:
    return "STD-" + "".join(c if c.isalnum() else f"_x{ord(c):04x}_" for c in name)


def rm5(*, studies: list[tuple[str, str]], comparisons: list[tuple[str, list[str]]], title: str = "Test review",
        characteristics: str = "", encoding: str = "UTF-8", quality_items: str = "") -> bytes:
    """A .rm5 file: ``studies`` as (name, year); each comparison a name and its analyses' XML;
    ``quality_items`` the QUALITY_ITEM elements of its risk-of-bias table."""
    study_xml = "".join(
        f'<STUDY DATA_SOURCE="PUB" ID="{study_id(name)}" NAME={quoteattr(name)} YEAR="{year}">'
        f'<REFERENCE PRIMARY="YES" TYPE="JOURNAL_ARTICLE"><AU>{escape(name.split()[0])} A, Other B</AU>'
        f'<TI>Trial of {escape(name)}</TI><SO>J Test</SO><YR>{year}</YR><VL>1</VL><NO>2</NO><PG>3-4</PG>'
        f'<IDENTIFIERS><IDENTIFIER TYPE="DOI" VALUE="10.1000/{study_id(name).lower()}"/></IDENTIFIERS></REFERENCE>'
        f'<IDENTIFIERS/></STUDY>'
        for name, year in studies)
    comparison_xml = "".join(
        f'<COMPARISON ID="CMP-{number:03d}" NO="{number}"><NAME>{escape(name)}</NAME>{"".join(analyses)}</COMPARISON>'
        for number, (name, analyses) in enumerate(comparisons, start=1))
    text = (f'<?xml version="1.0" encoding="{encoding}" standalone="no"?>\n'
            f'<COCHRANE_REVIEW REVMAN_SUB_VERSION="5.4.1" REVMAN_VERSION="5" TYPE="INTERVENTION">'
            f'<COVER_SHEET><TITLE>{escape(title)}</TITLE></COVER_SHEET><MAIN_TEXT/>'
            f'<STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>{study_xml}</INCLUDED_STUDIES>'
            f'<EXCLUDED_STUDIES/></STUDIES></STUDIES_AND_REFERENCES>'
            f'<CHARACTERISTICS_OF_STUDIES><CHARACTERISTICS_OF_INCLUDED_STUDIES>{characteristics}'
            f'</CHARACTERISTICS_OF_INCLUDED_STUDIES></CHARACTERISTICS_OF_STUDIES>'
            f'<QUALITY_ITEMS>{quality_items}</QUALITY_ITEMS>'
            f'<ANALYSES_AND_DATA CALCULATED_DATA="YES">{comparison_xml}</ANALYSES_AND_DATA></COCHRANE_REVIEW>')
    return text.encode(encoding)


def analysis(kind: str, number: int, name: str, settings: dict, results: dict, rows: list[dict],
             subgroups: list[tuple[str, dict, list[dict]]] | None = None) -> str:
    """One ``{kind}_OUTCOME`` element (kind DICH, CONT or IV); rows as attribute dicts (STUDY_ID by name)."""

    def rows_xml(items: list[dict]) -> str:
        return "".join(f"<{kind}_DATA {_attributes({**row, 'STUDY_ID': study_id(row['STUDY_ID'])})}/>"
                       for row in items)

    body = rows_xml(rows)
    if subgroups:
        body = "".join(f'<{kind}_SUBGROUP NO="{i}" {_attributes(stored)}><NAME>{escape(sub_name)}</NAME>'
                       f'{rows_xml(sub_rows)}</{kind}_SUBGROUP>'
                       for i, (sub_name, stored, sub_rows) in enumerate(subgroups, start=1))
    attributes = {"NO": str(number), "ID": f"CMP-001.{number:02d}", "CI_STUDY": "95", "CI_TOTAL": "95",
                  "SUBGROUPS": "YES" if subgroups else "NO", **settings, **results}
    return (f"<{kind}_OUTCOME {_attributes(attributes)}><NAME>{escape(name)}</NAME>"
            f"<GROUP_LABEL_1>Treatment</GROUP_LABEL_1><GROUP_LABEL_2>Control</GROUP_LABEL_2>"
            f"<GRAPH_LABEL_1>Favours treatment</GRAPH_LABEL_1><GRAPH_LABEL_2>Favours control</GRAPH_LABEL_2>"
            f"{body}</{kind}_OUTCOME>")
