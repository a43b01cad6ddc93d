"""Reading uploaded tables: CSV in UTF-8 (BOM or not) and GB18030, .xlsx, headers, line numbers."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest

from core.errors import FieldError, Invalid
from core.tabular import Column, errors_csv, read_table, template_xlsx

COLUMNS = (
    Column("code", ("医保代码",), required=True),
    Column("name", ("通用名",), required=True),
    Column("volume_ml", ("装量(ml)", "装量")),
    Column("price", ("价格",)),
)


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def _xlsx(rows: list[list[object]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_csv_utf8_with_bom_and_chinese_headers():
    data = b"\xef\xbb\xbf" + _csv([["医保代码", "通用名", "价格"],
                                   ["X1", " 阿莫西林 ", "1.50"]]).encode("utf-8")
    assert read_table("a.csv", data, COLUMNS) == [
        (2, {"code": "X1", "name": "阿莫西林", "volume_ml": "", "price": "1.50"})]


def test_csv_utf8_without_bom_matches_keys_case_insensitively():
    data = _csv([[" CODE ", "Name", "Volume_ML"], ["X1", "布洛芬", "10"]]).encode("utf-8")
    assert read_table("a.csv", data, COLUMNS) == [
        (2, {"code": "X1", "name": "布洛芬", "volume_ml": "10", "price": ""})]


def test_csv_gb18030_as_saved_by_chinese_excel():
    data = _csv([["医保代码", "通用名"], ["X1", "对乙酰氨基酚"]]).encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the test really exercises the fallback
    assert read_table("a.csv", data, COLUMNS)[0][1]["name"] == "对乙酰氨基酚"


def test_full_width_header_alias_matches():
    data = _csv([["医保代码", "通用名", "装量（ml）"], ["X1", "a", "5"]]).encode("utf-8")
    assert read_table("a.csv", data, COLUMNS)[0][1]["volume_ml"] == "5"


def test_blank_rows_skipped_and_line_numbers_kept():
    data = _csv([["医保代码", "备注", "通用名"],
                 ["X1", "", "a"],
                 ["", "", ""],
                 ["  ", "only a note", ""],  # nothing in a known column: blank
                 ["X4", "", "d"]]).encode("utf-8")
    result = read_table("a.csv", data, COLUMNS)
    assert [(line, values["code"]) for line, values in result] == [(2, "X1"), (5, "X4")]


def test_quoted_multiline_cell_counts_as_one_row():
    data = _csv([["医保代码", "通用名"], ["X1", "line one\nline two"], ["X2", "b"]]).encode()
    result = read_table("a.csv", data, COLUMNS)
    assert [line for line, _ in result] == [2, 3]
    assert result[0][1]["name"] == "line one\nline two"


def test_short_rows_are_padded_and_unknown_columns_ignored():
    data = _csv([["医保代码", "通用名", "unknown", "价格"], ["X1", "a"]]).encode()
    assert read_table("a.csv", data, COLUMNS) == [
        (2, {"code": "X1", "name": "a", "volume_ml": "", "price": ""})]


def test_missing_required_columns_named():
    data = _csv([["价格", "other"], ["1", "2"]]).encode()
    with pytest.raises(Invalid) as exc:
        read_table("a.csv", data, COLUMNS)
    assert {e.field for e in exc.value.errors} == {"code", "name"}
    assert all(e.row == 1 for e in exc.value.errors)
    assert "医保代码" in str(exc.value)


def test_duplicate_header_rejected():
    data = _csv([["医保代码", "code", "通用名"], ["X1", "X1", "a"]]).encode()
    with pytest.raises(Invalid) as exc:
        read_table("a.csv", data, COLUMNS)
    assert exc.value.errors[0].field == "code"


def test_empty_file_and_header_only():
    with pytest.raises(Invalid):
        read_table("a.csv", b"", COLUMNS)
    assert read_table("a.csv", "医保代码,通用名\r\n".encode(), COLUMNS) == []


def test_row_limit():
    data = _csv([["医保代码", "通用名"]] + [[f"X{i}", "a"] for i in range(6)]).encode()
    assert len(read_table("a.csv", data, COLUMNS, max_rows=6)) == 6
    with pytest.raises(Invalid) as exc:
        read_table("a.csv", data, COLUMNS, max_rows=5)
    assert "more than 5" in str(exc.value)


def test_undecodable_file_rejected():
    with pytest.raises(Invalid):
        read_table("a.csv", b"\xef\xbb\xbf\xff\xfe\xfd", COLUMNS)


def test_legacy_xls_rejected_clearly():
    with pytest.raises(Invalid) as exc:
        read_table("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100, COLUMNS)
    assert ".xls" in str(exc.value)


def test_xlsx_with_chinese_headers_and_typed_cells():
    data = _xlsx([
        ["医保代码", "通用名", "装量(ml)", "价格", "注释"],
        ["XA01", "阿莫西林", 10, Decimal("1.2345"), "x"],
        [None, None, None, None, None],
        ["XA02", "  布洛芬 ", 2.5, 0.1, None],
        ["XA03", "日期", 10.0, datetime(2026, 1, 15), None],
        [12345, "整数代码", None, date(2026, 2, 1), None],
    ])
    assert data[:4] == b"PK\x03\x04"
    result = read_table("whatever.bin", data, COLUMNS)  # detected by content, not by name
    assert result == [
        (2, {"code": "XA01", "name": "阿莫西林", "volume_ml": "10", "price": "1.2345"}),
        (4, {"code": "XA02", "name": "布洛芬", "volume_ml": "2.5", "price": "0.1"}),
        (5, {"code": "XA03", "name": "日期", "volume_ml": "10", "price": "2026-01-15"}),
        (6, {"code": "12345", "name": "整数代码", "volume_ml": "", "price": "2026-02-01"}),
    ]


def test_xlsx_missing_required_column():
    data = _xlsx([["通用名"], ["a"]])
    with pytest.raises(Invalid) as exc:
        read_table("a.xlsx", data, COLUMNS)
    assert [e.field for e in exc.value.errors] == ["code"]


def test_damaged_xlsx_rejected():
    with pytest.raises(Invalid):
        read_table("a.xlsx", b"PK\x03\x04not really a zip", COLUMNS)


def test_errors_csv_has_bom_header_and_escapes_formulas():
    report = errors_csv([FieldError("code", "bad code", 3),
                         {"row": 7, "field": "price", "message": "=HYPERLINK(evil)"},
                         {"row": None, "field": "file", "message": "没有数据"}])
    assert report.startswith(b"\xef\xbb\xbf")
    text = report[3:].decode("utf-8")
    assert list(csv.reader(io.StringIO(text))) == [
        ["row", "field", "message"], ["3", "code", "bad code"],
        ["7", "price", "'=HYPERLINK(evil)"], ["", "file", "没有数据"]]


def test_template_has_header_row_and_reads_back():
    data = template_xlsx(COLUMNS)
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [c.value for c in ws[1]] == ["医保代码", "通用名", "装量(ml)", "价格"]
    assert ws.max_row == 1
    assert read_table("t.xlsx", data, COLUMNS) == []
    assert [c.value for c in openpyxl.load_workbook(
        io.BytesIO(template_xlsx([Column("plain")]))).active[1]] == ["plain"]


# --- writers never emit a formula (CSV / formula injection, OWASP) ------------------------------

ATTACK = "=cmd|' /C calc'!A0"


@pytest.mark.parametrize("text", [ATTACK, "+1+cmd", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)",
                                  "\t=1+1", "\r=1+1", "-x"])
def test_text_that_starts_a_formula_is_escaped_in_csv(text):
    from core.tabular import rows_csv, safe_cell
    assert safe_cell(text) == "'" + text
    rows = list(csv.reader(io.StringIO(rows_csv(["v"], [[text]])[3:].decode("utf-8"))))
    assert rows[1] == ["'" + text]


def test_numbers_stay_numbers_even_negative():
    from core.tabular import rows_csv, safe_cell
    for number in (-5, Decimal("-1.2500"), -0.5, 0, 12):
        assert safe_cell(number) == number
    for text in ("-12", "-1.5", "+3.50", "-1.2E+3"):
        assert safe_cell(text) == text  # a plain signed number is read as one, not a formula
    text = rows_csv(["a", "b", "c"], [[-5, Decimal("-1.2500"), None]])[3:].decode("utf-8")
    assert text.splitlines()[1] == "-5,-1.2500,"


def test_catalogue_import_of_a_formula_exports_as_text(session):
    """A company name or product name stored through the catalogue import comes out of every
    writer as the text it is: the CSV escaped, the workbook cell a string, never a formula."""
    from bench.listing_data import generate_products
    from core.auth import actor_for_user
    from core.models import OrgKind
    from core.tabular import rows_csv
    from listing import services_catalogue as cat
    from listing.models import ImportStatus, Product
    from tests.support import make_org, make_user

    bureau = actor_for_user(session, make_user(
        session, make_org(session, OrgKind.bureau), "org_admin"))
    row = generate_products(1, seed=91)[0]
    row.update(generic_name=ATTACK, trade_name="@SUM(1+1)")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([c.title for c in cat.PRODUCT_COLUMNS])
    ws.append([row.get(c.key, "") for c in cat.PRODUCT_COLUMNS])
    ws.cell(row=2, column=3).data_type = "s"  # the attacker typed it as text
    buf = io.BytesIO()
    wb.save(buf)
    batch = cat.import_products(session, bureau, "catalogue.xlsx", buf.getvalue())
    assert batch.status == ImportStatus.succeeded, batch.errors
    from sqlmodel import select
    product = session.exec(select(Product).where(Product.code == row["code"])).one()
    assert product.generic_name == ATTACK

    exported = [product.code, product.generic_name, product.trade_name, -3, Decimal("-0.1250")]
    text = rows_csv(["code", "name", "trade", "qty", "price"], [exported])[3:].decode("utf-8")
    assert list(csv.reader(io.StringIO(text)))[1] == [
        product.code, "'" + ATTACK, "'@SUM(1+1)", "-3", "-0.1250"]

    book = openpyxl.load_workbook(io.BytesIO(template_xlsx(
        [Column("code"), Column("name"), Column("trade"), Column("qty"), Column("price")],
        rows=[exported])))
    cells = list(book.active[2])
    assert [c.value for c in cells[:3]] == [product.code, ATTACK, "@SUM(1+1)"]
    assert [c.data_type for c in cells[:3]] == ["s", "s", "s"]
    assert cells[3].value == -3 and cells[3].data_type == "n"
    assert cells[4].data_type == "n"
    # The workbook's XML holds no formula element at all.
    import zipfile
    with zipfile.ZipFile(io.BytesIO(template_xlsx([Column(ATTACK)], rows=[[ATTACK]]))) as z:
        assert b"<f>" not in z.read("xl/worksheets/sheet1.xml")


def test_csv_file_of_a_command_line_tool(tmp_path):
    from core.tabular import CsvFile, CsvFileError

    path = tmp_path / "in.csv"
    path.write_bytes("\ufeffb,a\n2,1\n\n3\n".encode())
    with CsvFile(path, ("a", "b"), reorder=True) as f:
        got = [(f.line, cells) for cells in f.rows]
    assert f.had_bom and f.header == ["b", "a"]
    assert got == [(2, ["1", "2"]), (3, []), (4, ["3"])]
    path.write_text("a,a,c\n")
    with pytest.raises(CsvFileError) as exc:
        CsvFile(path, ("a", "b")).__enter__()
    assert exc.value.line == 1 and exc.value.message == (
        "missing column(s) b; unexpected column(s) 'c'; duplicate column(s) a. Expected: a,b")
    path.write_bytes(b"a,b\n1,\xff\n")
    with pytest.raises(CsvFileError, match="not UTF-8"), CsvFile(path, ("a", "b")) as f:
        list(f.rows)
