"""Write small OpenDocument spreadsheets (.ods) for tests, cell by cell, as LibreOffice does.

Made in code at test time rather than kept as binary files, so each test shows what its file
holds. A cell is a Python value (text, a number, a date, None for an empty cell) or
:class:`Xml`, written as it is (repeats, spaces stored as counts, a comment); a row may be
:class:`Xml` too.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"

_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content
 xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0" office:version="1.3">
<office:automatic-styles>
 <number:number-style style:name="N1"><number:scientific-number number:decimal-places="2"
  number:min-integer-digits="1" number:min-exponent-digits="2"/></number:number-style>
 <style:style style:name="scientific" style:family="table-cell" style:data-style-name="N1"/>
 <number:date-style style:name="N2"><number:year number:style="long"/><number:text>-</number:text>
  <number:month number:style="long"/><number:text>-</number:text><number:day
  number:style="long"/></number:date-style>
 <style:style style:name="date" style:family="table-cell" style:data-style-name="N2"/>
 <number:time-style style:name="N3"><number:hours number:style="long"/><number:text>:</number:text>
  <number:minutes number:style="long"/></number:time-style>
 <style:style style:name="time" style:family="table-cell" style:data-style-name="N3"/>
</office:automatic-styles>
<office:body><office:spreadsheet>{sheets}</office:spreadsheet></office:body>
</office:document-content>"""

_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
 manifest:version="1.3">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"""


@dataclass(frozen=True)
class Xml:
    """A cell or a row written as it is."""

    xml: str


Cell = str | int | float | dt.date | dt.datetime | dt.time | None | Xml


def number(value: float | int, shown: str) -> Xml:
    """A number cell showing ``shown`` (``2.56E+11`` for one formatted as scientific)."""
    return Xml(f'<table:table-cell office:value-type="float" office:value="{value}">'
               f"<text:p>{escape(shown)}</text:p></table:table-cell>")


def scientific(value: int, shown: str) -> Xml:
    """A number cell formatted as scientific (``0.00E+00``), as a spreadsheet leaves one after
    opening a CSV that held ``2.55712E+11``."""
    return Xml(f'<table:table-cell table:style-name="scientific" office:value-type="float" '
               f'office:value="{value}"><text:p>{escape(shown)}</text:p></table:table-cell>')


def cell_xml(value: Cell) -> str:
    if isinstance(value, Xml):
        return value.xml
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, str):
        paragraphs = "".join(f"<text:p>{escape(line)}</text:p>" for line in value.split("\n"))
        return f'<table:table-cell office:value-type="string">{paragraphs}</table:table-cell>'
    if isinstance(value, dt.datetime | dt.date):
        return (f'<table:table-cell table:style-name="date" office:value-type="date" '
                f'office:date-value="{value.isoformat()}"><text:p>{value}</text:p>'
                f"</table:table-cell>")
    if isinstance(value, dt.time):
        duration = f"PT{value.hour:02d}H{value.minute:02d}M{value.second:02d}S"
        return (f'<table:table-cell table:style-name="time" office:value-type="time" '
                f'office:time-value="{duration}"><text:p>{value}</text:p></table:table-cell>')
    return number(value, str(value)).xml


def row_xml(row: list[Cell] | Xml) -> str:
    if isinstance(row, Xml):
        return row.xml
    return f"<table:table-row>{''.join(cell_xml(cell) for cell in row)}</table:table-row>"


def write_ods(path: Path, sheets: dict[str, list[list[Cell] | Xml]]) -> Path:
    tables = "".join(
        f"<table:table table:name={quoteattr(name)}>{''.join(row_xml(r) for r in rows)}"
        f"</table:table>" for name, rows in sheets.items())
    with zipfile.ZipFile(path, "w") as archive:
        # The mimetype comes first and uncompressed, so a program knows the file by its start.
        archive.writestr("mimetype", MIMETYPE, compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", _CONTENT.format(sheets=tables),
                         compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", _MANIFEST.format(mimetype=MIMETYPE),
                         compress_type=zipfile.ZIP_DEFLATED)
    return path
