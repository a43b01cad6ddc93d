"""core.tabular.rows_xlsx: the one writer of list downloads (.xlsx)."""
from __future__ import annotations

import enum
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
from flask_babel import force_locale

from core.tabular import Fen, rows_xlsx


class Colour(str, enum.Enum):
    draft = "draft"


def _load(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).active


def test_typed_cells_frozen_header_and_widths(app):
    rows = [["ZJ-01", Decimal("0.1234"), Fen(123456), 1500,
             datetime(2026, 3, 1, 16, 30, tzinfo=UTC), date(2026, 3, 2), Colour.draft, True,
             None]] * 3
    with app.test_request_context("/"), force_locale("zh_CN"):
        data = rows_xlsx(["编号", "单价", "金额", "数量", "时间", "日期", "状态", "过评", "备注"],
                         rows, "列表")
    ws = _load(data)
    assert ws.title == "列表" and ws.freeze_panes == "A2"
    assert ws["A1"].font.b
    assert [c.value for c in ws[2]][:4] == ["ZJ-01", 0.1234, 1234.56, 1500]
    assert ws["B2"].number_format == "#,##0.0000" and ws["C2"].number_format == "#,##0.00"
    # Beijing wall time, no time zone (Excel has none).
    assert ws["E2"].value == datetime(2026, 3, 2, 0, 30) and ws["F2"].is_date
    assert ws["G2"].value == "草稿" and ws["H2"].value == "是" and ws["I2"].value is None
    assert ws.column_dimensions["A"].width >= 8


def test_text_that_looks_like_a_formula_is_text(app):
    evil = "=cmd|' /C calc'!A0"
    with app.test_request_context("/"):
        ws = _load(rows_xlsx(["名称"], [[evil], ["+1+1"], ["@SUM(A1)"]], "x"))
    assert [ws.cell(row=r, column=1).value for r in (2, 3, 4)] == [evil, "+1+1", "@SUM(A1)"]
    assert all(ws.cell(row=r, column=1).data_type == "s" for r in (2, 3, 4))


def test_a_long_list_is_streamed(app):
    rows = ([i, f"第{i}行"] for i in range(20_000))
    with app.test_request_context("/"):
        ws = _load(rows_xlsx(["序号", "说明"], rows, "long"))
    assert ws.max_row == 20_001 and ws["A20001"].value == 19_999
