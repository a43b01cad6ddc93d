"""Reading uploaded tables (表格导入): one way to read an .xlsx or CSV upload for every module.

* :func:`read_table` detects the format by content (an .xlsx is a zip), maps the header row to
  the expected :class:`Column` keys (Chinese or English header texts) and returns every
  non-blank data row as strings, with its line number in the file for error reports.
* :func:`errors_csv` writes the downloadable error report (``row,field,message``).
* :func:`template_xlsx` writes an empty template workbook with the header row.
* :func:`rows_xlsx` writes a list as people take it to a spreadsheet (导出Excel): typed cells,
  Chinese headers and statuses, frozen header row.
* Every writer puts its cells through :func:`safe_cell` (CSV) or :func:`append_safe_row`
  (.xlsx), so text such as ``=cmd|' /C calc'!A0`` is shown as text, never run as a formula.
* :class:`CsvFile` reads a CSV file of a command-line tool line by line, its header checked.

Values are returned as stripped strings; parsing them (codes, prices, dates) is the caller's
business, so every module validates with its own rules and reports every problem at once.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from core.errors import ErrorCollector, FieldError, Invalid
from core.i18n import N_, Message
from core.types import INT_MAX

__all__ = ["MAX_ROWS", "Column", "CsvFile", "CsvFileError", "Fen", "append_safe_row",
           "errors_csv", "formula_like", "header_problems", "read_table", "rows_csv", "rows_xlsx",
           "safe_cell", "template_xlsx", "whole_number"]

#: The largest number of data rows an upload may have (the header not counted).
MAX_ROWS = 200_000

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls (BIFF in an OLE container)
_UTF8_BOM = b"\xef\xbb\xbf"
_FILE_FIELD = "file"
# A report cell starting with one of these would be run as a formula by Excel (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A plain signed decimal ("-12", "+3.50", "-1.2E+3"): a number to a spreadsheet, not a formula.
_PLAIN_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True)
class Column:
    """One expected column of an upload: its English ``key`` and the header texts accepted."""

    key: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    #: Informative only (e.g. a product's name in a template): shown, locked, never read.
    readonly: bool = False

    @property
    def title(self) -> str:
        """The header written in templates: the first alias (Chinese), else the key."""
        return self.aliases[0] if self.aliases else self.key


_WHOLE = re.compile(r"([0-9]+)(?:\.0*)?", re.ASCII)


def whole_number(text: str, field: str, line: int | None, errors: ErrorCollector, *,
                 minimum: int = 0, maximum: int = INT_MAX,
                 message: str = "Enter a whole number.",
                 range_message: str = "This number is out of range.") -> int | None:
    """A cell as a whole number (``1,200``, full-width digits and Excel's ``24.0`` read as
    typed), or None with ``message`` added for its row and field. One outside ``minimum``..
    ``maximum`` (by default what an INTEGER column holds) gets ``range_message``: it would
    overflow the database further on."""
    value = unicodedata.normalize("NFKC", text).replace(",", "").strip()
    match = _WHOLE.fullmatch(value)
    if match is None:
        errors.add(field, message, row=line)
        return None
    digits = match[1].lstrip("0") or "0"
    # Compare lengths first: int() of a 5,000-digit cell is itself refused by Python.
    number = int(digits) if len(digits) <= len(str(maximum)) else maximum + 1
    if not minimum <= number <= maximum:
        errors.add(field, range_message, row=line)
        return None
    return number


def _header_key(text: str) -> str:
    # NFKC folds full-width letters and brackets typed with a Chinese input method ("（ml）");
    # spaces inside a header are ignored, case too.
    folded = unicodedata.normalize("NFKC", text).replace("\ufeff", "").strip().casefold()
    return "".join(folded.split())


def _cell_text(value: Any) -> str:
    """A cell value as the stripped string a CSV would have held."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Excel stores numbers as IEEE doubles; repr() is the shortest text that reads back as
        # the same double, i.e. what the user typed ("0.1", not 0.1000000000000000055…).
        number = Decimal(repr(value))
        if not number.is_finite():
            return repr(value)
        if number == number.to_integral_value():
            return str(int(number))
        return format(number.normalize(), "f")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value).strip()


def _xlsx_rows(data: bytes) -> Generator[list[Any], None, None]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - untrusted upload: any failure means "not readable"
        raise Invalid.one(_FILE_FIELD, "The file is not a readable .xlsx workbook.") from None
    try:
        if not wb.worksheets:
            return
        ws = wb.worksheets[0]
        # Some programs write a wrong <dimension>; read whatever rows the sheet really has.
        ws.reset_dimensions()
        rows = ws.iter_rows(values_only=True)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except Exception:  # noqa: BLE001 - a corrupt sheet inside a valid zip
                raise Invalid.one(_FILE_FIELD, "The workbook's first sheet is damaged and "
                                  "cannot be read.") from None
            yield list(row)
    finally:
        wb.close()


def _decode(data: bytes) -> str:
    try:
        if data.startswith(_UTF8_BOM):
            return data[len(_UTF8_BOM):].decode("utf-8")
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")  # Excel's "Unicode text" export
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if data.startswith((_UTF8_BOM, b"\xff\xfe", b"\xfe\xff")):
            raise Invalid.one(_FILE_FIELD, "The file's text is not valid in the encoding its "
                              "byte-order mark announces.") from None
    try:
        # Chinese Excel saves "CSV" in the system code page (GBK); GB18030 is its superset.
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise Invalid.one(
            _FILE_FIELD, "The file's text encoding is not recognised: save it as UTF-8 CSV.",
        ) from None


def _csv_rows(data: bytes) -> Generator[list[Any], None, None]:
    text = _decode(data)
    end = text.find("\n")
    first_line = text if end < 0 else text[:end]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    try:
        yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    except csv.Error as exc:
        raise Invalid.one(_FILE_FIELD, Message(N_("The CSV file is malformed: %(problem)s."),
                                               problem=exc)) from None


def _map_header(header: list[Any], columns: Sequence[Column]) -> list[tuple[int, str]]:
    wanted: dict[str, Column] = {}
    for col in columns:
        for text in (col.key, *col.aliases):
            wanted.setdefault(_header_key(text), col)
    errors: list[FieldError] = []
    positions: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for idx, cell in enumerate(header):
        col = wanted.get(_header_key(_cell_text(cell)))
        if col is None:
            continue  # an unknown column (notes, a row number …) is ignored
        if col.key in seen:
            errors.append(FieldError(col.key, Message(
                N_("The column %(title)s appears twice (columns %(first)s and %(second)s)."),
                title=col.title, first=seen[col.key] + 1, second=idx + 1), 1))
            continue
        seen[col.key] = idx
        positions.append((idx, col.key))
    for col in columns:
        if col.required and col.key not in seen:
            errors.append(FieldError(col.key, Message(
                N_("The required column %(title)s (%(key)s) is missing."),
                title=col.title, key=col.key), 1))
    if errors:
        raise Invalid(errors)
    return positions


def read_table(filename: str, data: bytes, columns: Sequence[Column], *,
               max_rows: int = MAX_ROWS) -> list[tuple[int, dict[str, str]]]:
    """Read an uploaded .xlsx or CSV table.

    The format is told by content, not by ``filename``: a zip is an .xlsx workbook (its first
    sheet is read), anything else is CSV in UTF-8 (with or without BOM) or GB18030. The first
    row is the header; a header cell matches a column's key or one of its aliases ignoring
    case, spaces and full-width forms. Unknown columns are ignored; a missing required column
    raises :class:`Invalid` naming it.

    Returns ``(line, values)`` for every row that has a value in some expected column, where
    ``line`` is the row's number in the file (the header is line 1, blank rows count, a CSV
    record spanning several physical lines counts once — the row number Excel shows) and
    ``values`` maps every column key to its stripped text ("" when empty or absent).
    More than ``max_rows`` data rows raises :class:`Invalid`.
    """
    if not data:
        raise Invalid.one(_FILE_FIELD, "The file is empty.")
    if data.startswith(_OLE_MAGIC):
        raise Invalid.one(_FILE_FIELD, Message(
            N_("%(filename)s: the old .xls format is not supported; save the workbook as "
               ".xlsx or CSV."), filename=filename))
    with closing(_xlsx_rows(data) if data.startswith(_ZIP_MAGIC) else _csv_rows(data)) as rows:
        return _read_rows(rows, columns, max_rows)


def _read_rows(rows: Iterator[list[Any]], columns: Sequence[Column],
               max_rows: int) -> list[tuple[int, dict[str, str]]]:
    header = next(rows, None)
    if header is None or not any(_cell_text(c) for c in header):
        raise Invalid.one(_FILE_FIELD, "The file has no header row.", 1)
    positions = _map_header(header, columns)
    blank = {col.key: "" for col in columns}
    out: list[tuple[int, dict[str, str]]] = []
    for line, row in enumerate(rows, start=2):
        values = dict(blank)
        width = len(row)
        filled = False
        for idx, key in positions:
            if idx < width:
                text = _cell_text(row[idx])
                if text:
                    values[key] = text
                    filled = True
        if not filled:
            continue
        if len(out) >= max_rows:
            raise Invalid.one(_FILE_FIELD, Message(
                N_("The file has more than %(n)s data rows; split it into smaller files."),
                n=f"{max_rows:,}"))
        out.append((line, values))
    return out


def formula_like(text: str) -> bool:
    """Whether a spreadsheet would take this text for a formula (CSV/formula injection, OWASP):
    it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return and is not simply a
    number such as ``-12.5``, which a spreadsheet reads as the number it is."""
    return text.startswith(_FORMULA_PREFIXES) and _PLAIN_NUMBER.fullmatch(text) is None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def safe_cell(value: Any) -> Any:
    """A value as a CSV (or any untyped text table) cell, never run as a formula.

    Numbers stay numbers (a negative number is a number, not escaped); ``None`` is empty;
    anything else becomes text, and text a spreadsheet would run as a formula gets a leading
    apostrophe — the one escape OWASP gives for CSV, a format with no cell types, so Excel
    and WPS show the text instead of evaluating it (``=cmd|' /C calc'!A0`` stays inert).
    Every CSV writer goes through this; spreadsheets use :func:`append_safe_row`.
    """
    if value is None:
        return ""
    if _is_number(value):
        return value
    text = str(value)
    return "'" + text if formula_like(text) else text


def append_safe_row(ws: Any, values: Iterable[Any]) -> None:
    """Append one row to an openpyxl worksheet with no cell that Excel would run as a formula.

    openpyxl stores any string that starts with ``=`` as a formula. Text that looks like one
    is written as a string cell (``data_type = "s"``) instead of with OWASP's apostrophe: an
    .xlsx cell carries its type, so a string cell is shown as typed and never evaluated, while
    an apostrophe would become part of the text (the value read back or re-imported would
    differ from the one stored). Numbers, dates and booleans keep their types.
    Every workbook writer goes through this, as every CSV writer goes through :func:`safe_cell`.
    """
    from openpyxl.cell.cell import Cell

    cells: list[Any] = []
    for value in values:
        if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
            cell = Cell(ws)
            cell.value = value
            cell.data_type = "s"  # after the assignment, which guessed "f"
            cells.append(cell)
        else:
            cells.append(value)
    ws.append(cells)


def rows_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A downloadable table: UTF-8 CSV with a BOM (so Excel shows Chinese), CRLF lines, and
    every cell through :func:`safe_cell` so none runs as a formula in a spreadsheet."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return _UTF8_BOM + buf.getvalue().encode("utf-8")


def errors_csv(errors: Iterable[FieldError | dict[str, Any]]) -> bytes:
    """The downloadable error report, with the columns ``row,field,message``."""
    def rows() -> Iterator[list[Any]]:
        for err in errors:
            if isinstance(err, FieldError):
                row, field, message = err.row, err.field, err.message
            else:
                row, field, message = err.get("row"), err.get("field"), err.get("message")
            yield ["" if row is None else row, field, message]
    return rows_csv(["row", "field", "message"], rows())


def template_xlsx(columns: Sequence[Column], *, sheet_title: str = "data",
                  rows: Iterable[Sequence[Any]] = ()) -> bytes:
    """A template workbook whose first row is the header (first alias, else the key),
    optionally pre-filled with ``rows`` (e.g. the codes the user reports against).

    Every column is formatted as text, so Excel keeps codes such as an all-digit credit code
    exactly as typed instead of turning them into numbers. With a ``readonly`` column the
    sheet is protected (without a password): those columns are grey and locked, the others
    stay open for typing in the pre-filled rows.
    """
    import openpyxl
    from openpyxl.styles import Font, PatternFill, Protection
    from openpyxl.utils import get_column_letter

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet_title
    append_safe_row(ws, [col.title for col in columns])
    for idx, col in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=idx)
        cell.font = Font(bold=True)
        letter = get_column_letter(idx)
        ws.column_dimensions[letter].width = max(12, len(col.title.encode("gbk", errors="replace")) + 4)
        ws.column_dimensions[letter].number_format = "@"
    n_rows = 0
    for row in rows:
        append_safe_row(ws, row)
        n_rows += 1
    if any(col.readonly for col in columns):
        grey = PatternFill("solid", fgColor="F2F4F7")
        for idx, col in enumerate(columns, start=1):
            for r in range(2, n_rows + 2):
                cell = ws.cell(row=r, column=idx)
                if col.readonly:
                    cell.fill = grey
                else:
                    cell.protection = Protection(locked=False)
        ws.protection.sheet = True
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


class Fen(int):
    """An amount in fen (分) in a row for :func:`rows_xlsx`: written as yuan with 2 decimals."""


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PRICE_FORMAT = "#,##0.0000"
_YUAN_FORMAT = "#,##0.00"
_WHOLE_FORMAT = "#,##0"
_DATE_FORMAT = "yyyy-mm-dd"
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
_WIDTH_SAMPLE = 200  # rows looked at to size the columns


def _xlsx_value(value: Any) -> tuple[Any, str | None]:
    """A row value as the cell value openpyxl writes and its number format."""
    import enum

    from core.types import LOCAL_TZ

    if isinstance(value, enum.Enum):
        # Statuses and kinds in the reader's language, as on the page.
        from flask_babel import gettext
        return str(gettext(str(value.value))), None
    if isinstance(value, Fen):
        return Decimal(int(value)) / 100, _YUAN_FORMAT
    if isinstance(value, bool):
        from flask_babel import gettext
        return str(gettext(N_("Yes") if value else N_("No"))), None
    if value is None:
        return None, None
    if isinstance(value, int):
        return value, _WHOLE_FORMAT
    if isinstance(value, Decimal):
        return value, _PRICE_FORMAT
    if isinstance(value, datetime):
        # Excel has no time zones: the bureau's wall time (Asia/Shanghai), as on the page.
        local = value.astimezone(LOCAL_TZ) if value.tzinfo else value
        return local.replace(tzinfo=None), _DATETIME_FORMAT
    if isinstance(value, date):
        return value, _DATE_FORMAT
    return str(value), None


def _display_width(value: Any) -> int:
    text = value if isinstance(value, str) else format(value) if value is not None else ""
    # A Chinese character takes about two Latin character widths.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def rows_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]],
              sheet_title: str = "data") -> bytes:
    """A list as an Excel workbook (导出): one sheet, the header row bold and frozen, columns
    sized to their content.

    Cells keep their types: whole numbers and ``Decimal`` prices are numbers (prices with 4
    decimals), :class:`Fen` amounts are yuan with 2 decimals, dates and times are dates in
    Beijing time, an ``Enum`` member is its translated name (e.g. a status in Chinese);
    text that looks like a formula (:func:`formula_like`) is written as a string cell, as
    :func:`append_safe_row` does, so none is run as a formula. Written in
    openpyxl's write-only mode, so a long list does not hold every cell object in memory.
    """
    import itertools

    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title[:31])
    it = iter(rows)
    sample = [[_xlsx_value(v) for v in row] for row in itertools.islice(it, _WIDTH_SAMPLE)]
    widths = [_display_width(h) for h in header]
    for row in sample:
        for idx, (value, fmt) in enumerate(row[:len(widths)]):
            shown = f"{value:,.4f}" if fmt == _PRICE_FORMAT else value
            widths[idx] = max(widths[idx], _display_width(shown))
    for idx, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(idx)].width = min(60, max(8, width + 2))
    ws.freeze_panes = "A2"
    bold = Font(bold=True)

    def cell(value: Any, fmt: str | None) -> Any:
        c = WriteOnlyCell(ws)
        c.value = value
        if isinstance(value, str) and formula_like(value):
            # As append_safe_row: a string cell is shown as typed, never evaluated.
            c.data_type = "s"
        if fmt:
            c.number_format = fmt
        return c

    head = []
    for title in header:
        c = cell(str(title), None)
        c.font = bold
        head.append(c)
    ws.append(head)
    for row in itertools.chain(sample, ([_xlsx_value(v) for v in r] for r in it)):
        ws.append([cell(value, fmt) for value, fmt in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- CSV files of the command-line tools -------------------------------------------------------

class CsvFileError(Exception):
    """A CSV file a command-line tool cannot read; ``line`` is the 1-based line (the header is
    line 1), None for the whole file."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def header_problems(names: Sequence[str], columns: Sequence[str]) -> str | None:
    """What is wrong with a header that must name exactly ``columns`` (any order, each once)."""
    missing = [c for c in columns if c not in names]
    extra = [n for n in names if n not in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    parts = []
    if missing:
        parts.append("missing column(s) " + ", ".join(missing))
    if extra:
        parts.append("unexpected column(s) " + ", ".join(repr(n) for n in extra))
    if duplicates:
        parts.append("duplicate column(s) " + ", ".join(duplicates))
    return "; ".join(parts) or None


class CsvFile:
    """A UTF-8 CSV file (a byte-order mark allowed) that a command-line tool reads line by
    line, without loading it: ``with CsvFile(path, columns) as f: for cells in f.rows: …``.

    The header must name exactly ``columns`` (in any order, each once). ``rows`` gives every
    line after it (blank ones too, for the caller to skip) — with ``reorder``, in ``columns``
    order (a line of another width as it is, for the caller to report); ``line`` is the current
    line number, ``header`` the header as written, ``names`` its stripped names, ``had_bom``
    whether the file starts with a byte-order mark. A file that cannot be opened, text that is
    not UTF-8, malformed CSV or a wrong header raise ``CsvFileError`` with the line."""

    def __init__(self, path: Any, columns: Sequence[str], *, reorder: bool = False,
                 expected: str = "Expected: ") -> None:
        self.path, self.columns, self.reorder, self.expected = path, tuple(columns), reorder, \
            expected
        self.had_bom = False
        self.header: list[str] = []
        self.names: list[str] = []
        self.rows: Iterator[list[str]] = iter(())
        self._fh: Any = None
        self._reader: Any = None

    @property
    def line(self) -> int:
        return int(self._reader.line_num) if self._reader is not None else 0

    def __enter__(self) -> CsvFile:
        try:
            with self.path.open("rb") as raw:
                self.had_bom = raw.read(len(_UTF8_BOM)) == _UTF8_BOM
            self._fh = self.path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise CsvFileError(f"cannot read the file: {exc.strerror or exc}") from None
        try:
            self._reader = csv.reader(self._fh, strict=True)
            header = next(self._reader, None)
            if header is None:
                raise CsvFileError("the file is empty; expected a header row "
                                   + ",".join(self.columns), line=1)
            self.header, self.names = header, [h.strip() for h in header]
            problem = header_problems(self.names, self.columns)
            if problem:
                raise CsvFileError(f"{problem}. {self.expected}{','.join(self.columns)}", line=1)
        except BaseException as exc:
            self.__exit__(type(exc), exc, None)
            raise
        pos = [self.names.index(c) for c in self.columns]
        if not self.reorder or pos == list(range(len(self.columns))):
            self.rows = self._reader  # the fast path: the reader itself
        else:
            self.rows = self._reordered(pos)
        return self

    def _reordered(self, pos: list[int]) -> Iterator[list[str]]:
        width = len(pos)
        for cells in self._reader:
            yield [cells[i] for i in pos] if len(cells) == width else cells

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if isinstance(exc, csv.Error):
            raise CsvFileError(f"malformed CSV: {exc}", line=self.line) from None
        if isinstance(exc, UnicodeDecodeError):
            raise CsvFileError(f"the file is not UTF-8 text ({exc.reason} at byte "
                               f"{exc.start})") from None
        return False
