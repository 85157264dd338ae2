"""Work out what a file is (text, or a workbook or zip whatever its name), and how a delimited
text file was saved: its encoding and its delimiter.

Spreadsheet programs save "CSV" in many ways: UTF-8 with or without a byte-order mark, UTF-16
("Unicode text" in Excel, tab-separated), the Windows code page cp1252 for older Excel on
Windows, and semicolons instead of commas in locales whose decimal mark is a comma. Nothing here
guesses beyond what the bytes show: a byte-order mark is believed, UTF-8 is tried next, and
cp1252 is the fallback only when the bytes are not UTF-8.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Callable
from typing import Literal

from sync_job.errors import InputFileError

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip, or an empty one
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls, or a workbook protected with a password
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
# Control bytes that no text holds: NUL and the C0 controls but tab, line feed, vertical tab,
# form feed and carriage return.
_BINARY_BYTES = bytes(range(0x00, 0x09)) + bytes(range(0x0E, 0x20))


def looks_binary(sample: bytes) -> bool:
    """Whether more than 5% of ``sample`` (and more than 32 bytes) are bytes no text holds; a
    tenth of random bytes are. A NUL here and there is a damaged cell, which makes its row
    invalid; a file full of them is not text at all."""
    strange = len(sample) - len(sample.translate(None, _BINARY_BYTES))
    return strange > 32 and strange * 20 > len(sample)


FileKind = Literal["text", "xlsx", "ods", "xlsb", "ole", "zip", "damaged zip"]


def file_kind(raw: bytes) -> tuple[FileKind, list[str]]:
    """What the bytes are, whatever the file's name says, and for another zip archive the
    names of the files it holds.

    ``"ole"`` is an old Excel .xls, or any Office file protected with a password (Office
    keeps those in the same container); ``"zip"`` is any other zip archive (a zipped CSV);
    ``"text"`` is anything else, to be read as text (or refused as binary)."""
    if raw.startswith(_OLE_MAGIC):
        return "ole", []
    if not raw.startswith(_ZIP_MAGIC):
        return "text", []
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = [item for item in archive.infolist() if not item.is_dir()]
            names = {item.filename for item in members}
            if "xl/workbook.xml" in names:
                return "xlsx", []
            if "xl/workbook.bin" in names:
                return "xlsb", []
            mimetype = archive.getinfo("mimetype") if "mimetype" in names else None
            if mimetype is not None and mimetype.file_size < 100 \
                    and archive.read(mimetype).strip() == _ODS_MIMETYPE:
                return "ods", []
            return "zip", [item.filename for item in members]
    except Exception:  # any error of the zip reader: not a zip it can read
        return "damaged zip", []


def decode(raw: bytes, *, source: str, encoding: str | None = None) -> tuple[str, str]:
    """Bytes → (text, encoding used). ``encoding`` forces a codec (``input.encoding``)."""
    if encoding is not None:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise InputFileError(f"{source}: not valid {encoding} text (line {line}); check "
                                 f"input.encoding") from None
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(codec), codec
            except UnicodeDecodeError:
                raise InputFileError(f"{source}: starts with a {codec} byte-order mark but is "
                                     f"not valid {codec} text") from None
    if looks_binary(raw[:8192]):
        raise InputFileError(f"{source}: this is not a text (CSV) file; it holds binary data")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputFileError(f"{source}: neither UTF-8 nor Windows-1252 text (line {line}); "
                             f"save the file as 'CSV UTF-8'") from None


def sniff_delimiter(text: str, *, looks_like_header: Callable[[list[str]], bool]) -> str:
    """The delimiter that splits the first lines most consistently into the most columns.

    ``looks_like_header(cells)`` tells whether a header row names a contactId column; a
    delimiter that gives such a header wins over one that does not.
    """
    sample = text[: 1 << 16]
    lines = sample.splitlines()[:50]
    if len(sample) == 1 << 16 and len(lines) > 1:
        lines = lines[:-1]  # the cut may have split the last line
    best: tuple[tuple[bool, bool, int], str] | None = None
    for delimiter in DELIMITERS:
        rows = [r for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter) if r]
        if not rows:
            continue
        width = len(rows[0])
        consistent = all(len(r) == width for r in rows[1:])
        score = (bool(looks_like_header(rows[0])), consistent and width > 1, width)
        if best is None or score > best[0]:
            best = (score, delimiter)
    return best[1] if best else ","
