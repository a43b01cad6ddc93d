"""Procurement lists as .xlsx downloads: Chinese headers and statuses, typed cells, and each
party's download holds what its page shows — a hospital's its own reports and agreements, a
company its own bids, agreements and the results it may read."""
from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest

from core.models import User
from tests.procurement.test_views_award import World
from tests.support import login


@pytest.fixture
def world(session) -> World:
    return World(session)


def as_(client, session, who) -> None:
    a = getattr(who, "op", who)
    login(client, session.get(User, a.user_id).username)


def sheet(resp) -> list[tuple]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    ws = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    assert ws.freeze_panes == "A2"
    return list(ws.iter_rows(values_only=True))


def test_reports_a_hospital_downloads_only_its_own(client, session, world):
    b = f"/procurement/batches/{world.batch.id}"
    as_(client, session, world.h1)
    rows = sheet(client.get(f"{b}/reports/export.xlsx"))
    assert rows[0][:4] == ("品种编号", "通用名", "最小单位", "医疗机构")
    assert [r[3] for r in rows[1:]] == [world.h1.org.name]
    assert rows[1][6] == 1000 and rows[1][8] not in ("entered", "upload")  # in Chinese
    as_(client, session, world.manager)
    rows = sheet(client.get(f"{b}/reports/export.xlsx"))
    assert {r[3] for r in rows[1:]} == {world.h1.org.name, world.h2.org.name}


def test_bids_a_company_downloads_only_its_own(client, session, world):
    b = f"/procurement/batches/{world.batch.id}"
    as_(client, session, world.w1)
    rows = sheet(client.get(f"{b}/bids/export.xlsx"))
    assert "企业" in rows[0] and "状态" in rows[0]
    assert [r[2] for r in rows[1:]] == [world.w1.org.name]
    assert rows[1][4] == "已提交"  # the status in Chinese
    as_(client, session, world.manager)
    rows = sheet(client.get(f"{b}/bids/export.xlsx"))
    assert len(rows) == 4 and {r[2] for r in rows[1:]} == {
        world.w1.org.name, world.w2.org.name, world.loser.org.name}


def test_results_agreements_and_allocation(app, client, session, world):
    agreements = world.published(app)
    b = f"/procurement/batches/{world.batch.id}"
    as_(client, session, world.manager)
    results = sheet(client.get(f"{b}/results/export.xlsx"))
    assert results[0][:4] == ("品种编号", "通用名", "排序", "企业")
    assert len(results) == 4  # the bureau reads every bid's verdict
    (run,) = {a.run_id for a in agreements}
    lines = sheet(client.get(f"{b}/allocation/{run}/export.xlsx"))
    assert lines[0][-1] == "约定采购量" and sum(r[-1] for r in lines[1:]) > 0
    mine = sheet(client.get(f"{b}/agreements/export.xlsx"))
    assert len(mine) == len(agreements) + 1
    assert {r[-1] for r in mine[1:]} == {"待确认"}
    ws = openpyxl.load_workbook(io.BytesIO(client.get(f"{b}/agreements/export.xlsx").data)).active
    # Unit prices are numbers with 4 decimals, amounts yuan with 2; the term's days are dates.
    assert ws["K2"].data_type == "n" and ws["K2"].number_format == "#,##0.0000"
    assert ws["L2"].data_type == "n" and ws["L2"].number_format == "#,##0.00"
    assert ws["H2"].is_date
    assert sum(Decimal(str(r[11])) for r in mine[1:]) == sum(
        Decimal(a.amount_fen) / 100 for a in agreements)

    # A hospital: its own agreements only; no allocation download.
    as_(client, session, world.h1)
    own = sheet(client.get(f"{b}/agreements/export.xlsx"))
    assert own[1:] and {r[3] for r in own[1:]} == {world.h1.org.name}
    assert client.get(f"{b}/allocation/{run}/export.xlsx").status_code == 403

    # A winner reads the winners' verdicts, not the loser's; the loser reads its own too.
    as_(client, session, world.w1)
    seen = {r[3] for r in sheet(client.get(f"{b}/results/export.xlsx"))[1:]}
    assert seen == {world.w1.org.name, world.w2.org.name}
    own = sheet(client.get(f"{b}/agreements/export.xlsx"))
    assert own[1:] and {r[5] for r in own[1:]} == {world.w1.org.name}
    as_(client, session, world.loser)
    seen = {r[3] for r in sheet(client.get(f"{b}/results/export.xlsx"))[1:]}
    assert seen == {world.w1.org.name, world.w2.org.name, world.loser.org.name}
    assert not sheet(client.get(f"{b}/agreements/export.xlsx"))[1:]


def test_sealed_bids_download_without_price_or_capacity(client, session):
    from procurement import services
    from tests.listing.factories import product
    from tests.procurement.factories import cast
    from tests.procurement.test_api import bidding_now

    c = cast(session)
    batch, (bp,) = bidding_now(session, c)
    bidder = c.companies[0]
    services.submit_bid(session, bidder.op, bp.id, services.BidIn(
        product_id=product(session, bidder.org, content="10", units=1).id,
        package_price=Decimal("0.5000"), capacity=300))
    path = f"/procurement/batches/{batch.id}/bids/export.xlsx"
    as_(client, session, c.manager)
    (header, row) = sheet(client.get(path))
    assert row[2] == bidder.org.name and row[5:8] == (None, None, None)  # sealed
    as_(client, session, bidder)
    (header, row) = sheet(client.get(path))
    assert row[5] == 0.5 and row[7] == 300  # its own offer
