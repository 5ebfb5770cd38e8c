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


_UTF16_BOMS = ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# Letters a legacy code page decodes wrongly show up as capitals inside lower-case words ("donÕt",
# "cafŽ" for Mac Roman read as Windows-1252; "wordÖ" for Windows-1252 read as Mac Roman): a capital
# that is not ASCII, after a lower-case letter or between letters with a lower-case one after it.
_MISREAD = re.compile(r"(?<=[^\W\d_])[^\x00-\x7f](?=[a-z])|(?<=[a-z])[^\x00-\x7f]")
_LEGACY = (("windows-1252", "Windows-1252"), ("mac-roman", "Mac Roman"))


# Files that are something else than text, by their first bytes: PDF, ZIP (.docx, .xlsx, .enlx), gzip,
# OLE (.doc, .xls), PNG, JPEG, GIF, RAR, 7-Zip.
_BINARY_SIGNATURES = (b"%PDF", b"PK\x03\x04", b"\x1f\x8b", b"\xd0\xcf\x11\xe0", b"\x89PNG", b"\xff\xd8\xff", b"GIF8",
                      b"Rar!", b"7z\xbc\xaf")


def _binary(content: bytes) -> bool:
    """A binary file: a known signature, or NUL bytes that are more than a stray one or two in a
    text (more than one, and more than 1 in 100 of the first 4 kB; UTF-16 is recognised before this)."""
    sample = content[:4096]
    return content.startswith(_BINARY_SIGNATURES) or sample.count(0) > max(1, len(sample) // 100)


def _without_nul(text: str, encoding: str, warning: str) -> DecodedText:
    """The text without NUL characters, which no export means and PostgreSQL cannot store: a stray
    one (a damaged export) is removed with a warning rather than refusing every record with it."""
    if "\x00" not in text:
        return DecodedText(text, encoding, warning)
    line = text.count("\n", 0, text.index("\x00")) + 1
    count = text.count("\x00")
    removed = (f"The file held {count} NUL character{'s' if count > 1 else ''} (the first at line {line}), "
               "which no export means; removed.")
    run = text.find("\x00" * 16)
    if run != -1:  # a zeroed block, not a stray byte: text may be lost there
        removed += (f" A run of them at line {text.count(chr(10), 0, run) + 1} looks like a damaged part of "
                    "the file: check the records around it.")
    return DecodedText(text.replace("\x00", ""), encoding, f"{warning} {removed}".strip())


def _utf16(content: bytes) -> str | None:
    """The codec of a UTF-16 file, with or without its byte-order mark (EndNote and Excel write it)."""
    for bom, codec in _UTF16_BOMS:
        if content.startswith(bom):
            return codec
    sample = content[:4096]
    # Mostly-ASCII text in UTF-16 has a NUL in every other byte: the odd ones little-endian, the even big.
    if len(sample) >= 4 and sample[1::2].count(0) > len(sample) // 4 and not sample[0::2].count(0):
        return "utf-16-le"
    if len(sample) >= 4 and sample[0::2].count(0) > len(sample) // 4 and not sample[1::2].count(0):
        return "utf-16-be"
    return None


def _misread_count(text: str) -> int:
    return sum(1 for found in _MISREAD.finditer(text) if found.group(0).isupper())


def file_decode(*, content: bytes) -> DecodedText:
    """The text of an export: UTF-8 (a BOM is dropped), UTF-16 (with or without a BOM), else the legacy
    code page that reads it best, with a warning.

    Older Ovid, EBSCO and EndNote exports on Windows are Windows-1252; EndNote on a Mac writes Mac
    Roman. Both decode any byte string (Mac Roman always, Windows-1252 all but five bytes), so the one
    whose reading has fewer misread letters (``_MISREAD``) is taken; a tie goes to Windows-1252.
    """
    codec = _utf16(content) if b"\x00" in content[:4096] else None
    if codec is not None:
        warning = ""
        try:
            text = content.decode(codec)
        except UnicodeDecodeError as error:
            # A damaged export (a lone surrogate, an odd last byte): the rest of it is still text. What
            # cannot be read becomes U+FFFD, named in a warning, rather than refusing every record.
            text = content.decode(codec, errors="replace")
            before = content[:error.start].decode(codec, errors="replace")
            line = _newlines(before).count("\n") + 1
            warning = (f"The file is UTF-16 with unreadable bytes (the first at line {line}, byte "
                       f"{error.start}); what could not be read is shown as \ufffd.")
        return _without_nul(_newlines(text.lstrip("\ufeff")), "utf-16", warning)
    if _binary(content):
        raise ImportFileError("This is a binary file, not a bibliographic export.", field="encoding")
    try:
        return _without_nul(_newlines(content.decode("utf-8-sig")), "utf-8", "")
    except UnicodeDecodeError as error:
        prefix = content[: error.start]
        line = (prefix.count(b"\n") if b"\n" in content else prefix.count(b"\r")) + 1  # CR-only: old Macs
    readings = []
    for codec, name in _LEGACY:
        try:
            text = content.decode(codec)
        except UnicodeDecodeError:
            continue
        readings.append((_misread_count(text), len(readings), text, codec, name))
    _, _, text, codec, name = min(readings)
    return _without_nul(
        _newlines(text), codec,
        f"The file is not valid UTF-8 (first at line {line}); it was read as {name}. "
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
