"""Decoding export files and normalising text for matching."""
from dataclasses import dataclass
import html
import re
import unicodedata

from studies.imports.errors import ImportFileError


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    warning: str = ""


def file_decode(*, content: bytes) -> DecodedText:
    """UTF-8 (a BOM is dropped), else Latin-1 with a warning: older Ovid and EBSCO exports are Latin-1,
    and every byte string is valid Latin-1, so the fallback never fails but may misread characters."""
    if b"\x00" in content[:4096]:
        # UTF-16 exports (some EndNote versions) would otherwise decode to NUL-strewn Latin-1.
        for bom, codec in ((b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
            if content.startswith(bom):
                try:
                    return DecodedText(_newlines(content.decode(codec)), "utf-16")
                except UnicodeDecodeError:
                    break
        raise ImportFileError("This is a binary file, not a bibliographic export.", field="encoding")
    try:
        return DecodedText(_newlines(content.decode("utf-8-sig")), "utf-8")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        return DecodedText(
            _newlines(content.decode("latin-1")), "latin-1",
            f"The file is not valid UTF-8 (first at line {line}); it was read as Latin-1. "
            "Check accented characters in the imported records.",
        )


def _newlines(text: str) -> str:
    if "\r" not in text:  # one scan instead of two copies, for the usual Unix file
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


_TAGS = re.compile(r"<[^>]{1,200}>")
_NON_WORD = re.compile(r"[\W_]+")


# ASCII letters and digits to themselves in lower case, and every other byte (what [\W_] matches in
# ASCII) to a space: for ``bytes.translate``, a plain table lookup per byte.
_ASCII_WORDS_LOWER = bytes(ord(chr(code).lower()) if chr(code).isalnum() else 32 for code in range(128)) + b" " * 128


def title_normalise(title: str) -> str:
    """A title reduced to what identifies it: entities decoded, markup, accents, case and punctuation dropped."""
    if title.isascii() and "&" not in title and "<" not in title:
        # Most titles: the same result as below, by a byte table (three times faster than the regex).
        return " ".join(title.encode("ascii").translate(_ASCII_WORDS_LOWER).decode("ascii").split())
    # The checks first: most titles have neither entities nor markup, and this runs per record.
    text = html.unescape(html.unescape(title)) if "&" in title else title  # some double-escape (&amp;lt;)
    if "<" in text:
        text = _TAGS.sub(" ", text)
    if not text.isascii():  # ASCII has nothing to decompose; most titles are ASCII
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    # Runs of non-word characters (whitespace among them) become one space, so only the ends need trimming.
    return _NON_WORD.sub(" ", text.casefold()).strip()


def surname_normalise(author: str) -> str:
    """The family name of an author as "Smith, John", "Smith J" or "John Smith" (ASCII, lower case)."""
    author = author.strip()
    if not author:
        return ""
    if "," in author:
        family = author.split(",", 1)[0]
    else:
        parts = author.split()
        # "Smith JA" (MEDLINE AU, Vancouver) vs "John Smith": initials are short and upper case.
        family = parts[0] if len(parts) > 1 and parts[-1].isupper() and len(parts[-1]) <= 3 else parts[-1]
    if not family.isascii():
        family = "".join(ch for ch in unicodedata.normalize("NFKD", family) if not unicodedata.combining(ch))
    return _NON_WORD.sub("", family.casefold())
