"""Attendee files for organisers: an Excel workbook for people, CSV for scripts.

Plain functions returning bytes or text (no Telegram here); the handler runs the workbook off
the event loop, since building it is CPU work.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, tzinfo

from storage.registrations import EXPORT_FIELDS, ExportRow, export_records, spreadsheet_safe

# The workbook is for the (Dutch) organisers; CSV and JSON keep English field names that
# scripts rely on.
XLSX_HEADERS = (
    "Naam",
    "Rol",
    "Sector",
    "E-mail",
    "Vraag",
    "Status",
    "Plek op wachtlijst",
    "Aangemeld op",
    "Aanwezig",
)
_WIDTHS = (28, 14, 14, 30, 50, 14, 18, 18, 10)
_DUTCH = {
    "ouder": "Ouder",
    "professional": "Professional",
    "onderwijs": "Onderwijs",
    "zorg": "Zorg",
    "jeugdhulp": "Jeugdhulp",
    "kinderopvang": "Kinderopvang",
    "gemeente": "Gemeente",
    "anders": "Anders",
    "registered": "Aangemeld",
    "waiting": "Wachtlijst",
    "offered": "Plek aangeboden",
    "cancelled": "Afgemeld",
}
_ATTENDED = {True: "ja", False: "nee", None: ""}
CSV_BOM = "\ufeff"


def _dutch(value: str | None) -> str:
    return "" if value is None else _DUTCH.get(value, value)


def local_naive(moment: datetime, zone: tzinfo) -> datetime:
    """Excel has no time zones: the local wall-clock time is what organisers expect."""
    return moment.astimezone(zone).replace(tzinfo=None)


def attendees_xlsx(rows: list[ExportRow], zone: tzinfo, title: str = "Deelnemers") -> bytes:
    # Imported when an organiser asks for a file: openpyxl costs every start 0.6 s and 28 MB.
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    # Sheet titles allow 31 characters and none of []:*?/\ .
    sheet.title = "".join(c for c in title if c not in "[]:*?/\\")[:31] or "Deelnemers"
    sheet.append(list(XLSX_HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(
            [
                spreadsheet_safe(row.name),
                _dutch(row.role),
                _dutch(row.sector),
                spreadsheet_safe(row.email),
                spreadsheet_safe(row.question),
                _dutch(row.status),
                row.position,
                local_naive(row.registered_at, zone),
                _ATTENDED[row.attended],
            ]
        )
        sheet.cell(row=sheet.max_row, column=8).number_format = "dd-mm-yyyy hh:mm"
    sheet.freeze_panes = "A2"
    for index, width in enumerate(_WIDTHS):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def attendees_csv(rows: list[ExportRow], zone: tzinfo, separator: str = ";") -> str:
    """CSV with a BOM (so Excel reads UTF-8) and `separator` (Dutch Excel expects ";")."""
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS, delimiter=separator)
    writer.writeheader()
    for record in export_records(rows, zone):
        writer.writerow({k: spreadsheet_safe(v) for k, v in record.items()})
    return buffer.getvalue()
