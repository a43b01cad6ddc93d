"""Batches, batch products, volume reports and sealed bids (DOMAIN §2)."""
from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import AuditLog
from core.states import IllegalTransition
from procurement import services, services_award
from procurement.models import AwardStage, BatchStatus, Bid, VolumeReport
from tests.listing.factories import actor, bureau, company, hospital, product, seed_rules

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
OPENS, CLOSES = T0 + timedelta(days=10), T0 + timedelta(days=20)


class Cast:
    def __init__(self, session):
        seed_rules(session)
        self.bureau = bureau(session)
        self.manager = actor(session, self.bureau, "procurement_manager")
        self.bureau_viewer = actor(session, self.bureau, "viewer")
        self.hosp = hospital(session)
        self.hosp_op = actor(session, self.hosp, "operator")
        self.other_hosp_op = actor(session, hospital(session), "operator")
        self.co = company(session)
        self.co_op = actor(session, self.co, "operator")
        self.rival = company(session)
        self.rival_op = actor(session, self.rival, "operator")


@pytest.fixture
def cast(session) -> Cast:
    return Cast(session)


def new_batch(session, c: Cast, code: str = "ZJ-2026-01"):
    batch = services.create_batch(session, c.manager, services.BatchIn(
        code=code, name="浙江省第一批药品集采", report_deadline=T0 + timedelta(days=5),
        bid_opens_at=OPENS, bid_closes_at=CLOSES))
    bp = services.add_batch_product(session, c.manager, batch.id, services.BatchProductIn(
        code="P01", generic_name="阿托伐他汀钙片", dosage_form="普通片",
        rep_content_value=Decimal("10"), rep_content_unit="mg", rep_units=1,
        smallest_unit="片", max_ucp=Decimal("2.0000")))
    return batch, bp


def test_batch_lifecycle_checks_and_audit(session, cast):
    batch, _ = new_batch(session, cast)
    assert batch.status == BatchStatus.draft and batch.rule_version == 1
    services.move_batch(session, cast.manager, batch.id, "open_reporting")
    services.move_batch(session, cast.manager, batch.id, "open_bidding", reason="提前开始投标")
    with pytest.raises(Conflict) as early:  # the window has not closed yet
        services.move_batch(session, cast.manager, batch.id, "close_bidding",
                            now=CLOSES - timedelta(seconds=1))
    assert "closes at 2026-03-22 09:00" in early.value.detail  # Beijing time
    services.move_batch(session, cast.manager, batch.id, "close_bidding", now=CLOSES)
    with pytest.raises(Conflict):  # the winners are not selected yet
        services.move_batch(session, cast.manager, batch.id, "publicize")
    services_award.run_selection(session, cast.manager, batch.id, now=CLOSES)
    services.move_batch(session, cast.manager, batch.id, "publicize", now=CLOSES)
    # Publicized on Sunday 22 March (Beijing): three working days, 23–25 March.
    assert batch.publicity_ends_on == date(2026, 3, 25)
    with pytest.raises(Conflict) as early:
        services.move_batch(session, cast.manager, batch.id, "start_allocation",
                            now=datetime(2026, 3, 25, 15, 59, tzinfo=UTC))  # 23:59 in Beijing
    assert "runs until 2026-03-25" in early.value.detail
    services.move_batch(session, cast.manager, batch.id, "start_allocation",
                        now=datetime(2026, 3, 25, 16, 0, tzinfo=UTC))  # 00:00 on the 26th
    assert batch.status == BatchStatus.allocating and batch.award_stage == AwardStage.regions
    with pytest.raises(Conflict):  # no agreements yet (the rest: test_allocation_runs)
        services.move_batch(session, cast.manager, batch.id, "execute")
    moves = session.exec(select(AuditLog.action).where(
        AuditLog.object_type == "vbp_batch", AuditLog.object_id == str(batch.id))
        .order_by(AuditLog.seq)).all()
    assert moves[-1] == "vbp_batch.start_allocation" and "vbp_batch.close_bidding" in moves
    with pytest.raises(IllegalTransition):
        services.move_batch(session, cast.manager, batch.id, "cancel")


def test_opening_reporting_needs_products_and_a_deadline(session, cast):
    batch = services.create_batch(session, cast.manager, services.BatchIn(code="B2", name="x"))
    with pytest.raises(Invalid) as exc:
        services.move_batch(session, cast.manager, batch.id, "open_reporting")
    assert {e.field for e in exc.value.errors} == {"products", "report_deadline"}
    assert batch.status == BatchStatus.draft


def test_only_bureau_managers_run_batches_and_drafts_are_hidden(session, cast):
    with pytest.raises(Forbidden):
        services.create_batch(session, cast.bureau_viewer, services.BatchIn(code="X", name="x"))
    batch, _ = new_batch(session, cast)
    with pytest.raises(NotFound):  # a draft is the bureau's
        services.get_batch(session, cast.hosp_op, batch.id)
    with pytest.raises(Forbidden):
        services.move_batch(session, cast.bureau_viewer, batch.id, "open_reporting")
    services.move_batch(session, cast.manager, batch.id, "open_reporting")
    assert services.get_batch(session, cast.hosp_op, batch.id).id == batch.id


def _report(**kw) -> services.ReportIn:
    data = {"usage_last_year": 1000, "usage_year_before": 1200, "demand": 900} | kw
    return services.ReportIn(**data)


def test_reports_below_80_percent_of_average_need_an_explanation(session, cast):
    batch, bp = new_batch(session, cast)
    services.move_batch(session, cast.manager, batch.id, "open_reporting")
    # average 1100; 80% is 880: 879 needs a reason, 880 does not
    with pytest.raises(Invalid) as exc:
        services.submit_report(session, cast.hosp_op, bp.id, _report(demand=879), now=T0)
    assert [e.field for e in exc.value.errors] == ["explanation"]
    services.submit_report(session, cast.hosp_op, bp.id, _report(demand=880), now=T0)
    r = services.submit_report(session, cast.hosp_op, bp.id,
                               _report(demand=500, explanation="科室调整，用量下降"), now=T0)
    assert session.exec(select(VolumeReport).where(VolumeReport.org_id == cast.hosp.id)).all() \
        == [r]  # corrected in place, one report per hospital and product
    assert r.demand == 500 and r.version == 2
    assert r.created_at == r.updated_at == T0  # stamped with the time the report was made


def test_reporting_deadline_status_and_isolation(session, cast):
    batch, bp = new_batch(session, cast)
    with pytest.raises(NotFound):  # still a draft: hospitals cannot see it
        services.submit_report(session, cast.hosp_op, bp.id, _report(), now=T0)
    services.move_batch(session, cast.manager, batch.id, "open_reporting")
    with pytest.raises(Conflict):
        services.submit_report(session, cast.hosp_op, bp.id, _report(),
                               now=batch.report_deadline + timedelta(seconds=1))
    with pytest.raises(Forbidden):
        services.submit_report(session, cast.co_op, bp.id, _report(), now=T0)
    services.submit_report(session, cast.hosp_op, bp.id, _report(), now=T0)
    assert services.list_reports(session, cast.other_hosp_op, batch.id).items == []
    assert len(services.list_reports(session, cast.manager, batch.id).items) == 1
    missing = services.missing_reporters(session, cast.manager, batch.id)
    assert cast.hosp.id not in {o.id for o in missing}
    assert cast.other_hosp_op.org_id in {o.id for o in missing}


def _open_bidding(session, cast):
    batch, bp = new_batch(session, cast)
    services.move_batch(session, cast.manager, batch.id, "open_reporting")
    services.move_batch(session, cast.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    return batch, bp


def test_ucp_converts_to_the_representative_specification(session, cast):
    batch, bp = _open_bidding(session, cast)
    p20 = product(session, cast.co, content="20", units=28)  # 20 mg × 28 against 10 mg × 1
    bid = services.submit_bid(session, cast.co_op, bp.id, services.BidIn(
        product_id=p20.id, package_price=Decimal("47.60"), capacity=100000), now=OPENS)
    # K = 1.7^log2(20/10) × 1.95^log2(28/1) = 1.7 × 24.79… ≈ 42.15; ucp = 47.60 / K per tablet.
    # Cross-checked in floating point here, independently of the price-rule code.
    expected = 47.60 / (1.7 * 1.95 ** math.log2(28))
    assert bid.ucp == Decimal(f"{expected:.4f}") == Decimal("1.1294")
    assert Decimal("0.1") < bid.ucp < Decimal("2")


def test_bids_are_sealed_until_the_window_closes(session, cast):
    batch, bp = _open_bidding(session, cast)
    mine = product(session, cast.co, content="10", units=1)
    theirs = product(session, cast.rival, content="10", units=1)
    services.submit_bid(session, cast.co_op, bp.id, services.BidIn(
        product_id=mine.id, package_price=Decimal("1.2000")), now=OPENS)
    services.submit_bid(session, cast.rival_op, bp.id, services.BidIn(
        product_id=theirs.id, package_price=Decimal("0.9000")), now=OPENS)
    during = CLOSES - timedelta(minutes=1)
    # Nobody, the bureau included, reads another's price before the close.
    for who in (cast.manager, cast.bureau_viewer):
        views = services.list_bids(session, who, batch.id, now=during)
        assert len(views) == 2 and all(v.sealed and v.ucp is None and v.package_price is None
                                       for v in views)
        with pytest.raises(Conflict):
            services.opened_bids(session, who, bp.id, now=during)
    own = services.list_bids(session, cast.co_op, batch.id, now=during)
    assert [(v.org_id, v.package_price) for v in own] == [(cast.co.id, Decimal("1.2000"))]
    # The audit trail does not leak the price either.
    logged = session.exec(select(AuditLog).where(AuditLog.action == "vbp_bid.submit")).all()
    assert logged and all("price" not in str(a.after) and "ucp" not in str(a.after)
                          for a in logged)
    # After the close the bureau reads every price.
    after = services.list_bids(session, cast.manager, batch.id, now=CLOSES)
    assert sorted(v.ucp for v in after) == [Decimal("0.9000"), Decimal("1.2000")]
    assert len(services.opened_bids(session, cast.manager, bp.id, now=CLOSES)) == 2


def test_bid_window_price_cap_and_product_checks(session, cast):
    batch, bp = _open_bidding(session, cast)
    mine = product(session, cast.co, content="10", units=1)
    with pytest.raises(Conflict):
        services.submit_bid(session, cast.co_op, bp.id, services.BidIn(
            product_id=mine.id, package_price=Decimal("1")), now=OPENS - timedelta(seconds=1))
    with pytest.raises(Conflict):
        services.submit_bid(session, cast.co_op, bp.id, services.BidIn(
            product_id=mine.id, package_price=Decimal("1")), now=CLOSES)
    with pytest.raises(Invalid) as exc:  # above the maximum valid price
        services.submit_bid(session, cast.co_op, bp.id, services.BidIn(
            product_id=mine.id, package_price=Decimal("2.0001")), now=OPENS)
    assert exc.value.errors[0].field == "package_price"
    other = product(session, cast.rival, content="10", units=1)
    with pytest.raises(Invalid) as exc:  # not the company's product
        services.submit_bid(session, cast.co_op, bp.id, services.BidIn(
            product_id=other.id, package_price=Decimal("1")), now=OPENS)
    assert exc.value.errors[0].field == "product_id"
    wrong = product(session, cast.co, generic_name="氨氯地平片")
    with pytest.raises(Invalid):
        services.submit_bid(session, cast.co_op, bp.id, services.BidIn(
            product_id=wrong.id, package_price=Decimal("1")), now=OPENS)
    with pytest.raises(Forbidden):
        services.submit_bid(session, cast.hosp_op, bp.id, services.BidIn(
            product_id=mine.id, package_price=Decimal("1")), now=OPENS)
    assert session.exec(select(Bid)).all() == []


def _csv(*rows: str) -> bytes:
    return ("\ufeff品种编号,上年用量,前年用量,需求量,说明\n" + "\n".join(rows) + "\n").encode()


def test_report_upload_is_all_or_nothing_with_row_numbered_errors(session, cast):
    batch, bp = new_batch(session, cast)
    services.add_batch_product(session, cast.manager, batch.id, services.BatchProductIn(
        code="P02", generic_name="氨氯地平片", dosage_form="普通片", smallest_unit="片",
        max_ucp=Decimal("1")))
    services.move_batch(session, cast.manager, batch.id, "open_reporting")
    bad = _csv("P01,1000,1200,900,", "P99,1,1,1,", "P02,abc,100,100,", "P01,10,10,10,",
               "P02,1000,1000,100,")
    with pytest.raises(Invalid) as exc:
        services.import_reports(session, cast.hosp_op, batch.id, "r.csv", bad, now=T0)
    assert sorted((e.row, e.field) for e in exc.value.errors) == [
        (3, "product_code"), (4, "usage_last_year"), (5, "product_code"),
        (6, "explanation"), (6, "product_code")]  # P01 and P02 each appear twice
    assert session.exec(select(VolumeReport)).all() == []  # nothing half-written
    good = _csv("P01,1000,1200,900,", "P02,1000,1000,100,新院区启用前暂停使用")
    saved = services.import_reports(session, cast.hosp_op, batch.id, "r.csv", good, now=T0)
    assert sorted((r.batch_product_id, r.demand, r.source.value) for r in saved) == [
        (bp.id, 900, "upload"), (bp.id + 1, 100, "upload")]
    assert services.missing_reporters(session, cast.manager, batch.id) and \
        cast.hosp.id not in {o.id for o in services.missing_reporters(session, cast.manager,
                                                                       batch.id)}


def test_report_template_lists_the_batch_products(session, cast):
    import io

    import openpyxl
    batch, _ = new_batch(session, cast)
    data = services.report_template_xlsx(session, cast.manager, batch.id)
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("品种编号", "通用名", "剂型", "规格", "最小单位", "上年用量", "前年用量",
                       "需求量", "说明")
    assert rows[1][:5] == ("P01", "阿托伐他汀钙片", "普通片", "10mg", "片")
    # The product's columns are informative: locked on a protected sheet; the figures open.
    assert ws.protection.sheet
    assert ws["B2"].protection.locked and not ws["F2"].protection.locked


def test_the_filled_template_uploads_and_skips_products_left_blank(session, cast):
    import io

    import openpyxl
    batch, bp = new_batch(session, cast)
    second = services.add_batch_product(session, cast.manager, batch.id,
                                        services.BatchProductIn(
        code="P02", generic_name="氨氯地平片", dosage_form="普通片",
        rep_content_value=Decimal("5"), rep_content_unit="mg", rep_units=1,
        smallest_unit="片", max_ucp=Decimal("1.0000")))
    services.move_batch(session, cast.manager, batch.id, "open_reporting")
    wb = openpyxl.load_workbook(io.BytesIO(
        services.report_template_xlsx(session, cast.hosp_op, batch.id)))
    ws = wb.active
    assert [ws.cell(row=r, column=1).value for r in (2, 3)] == ["P01", "P02"]
    for col, value in zip("FGH", (1000, 800, 900), strict=True):
        ws[f"{col}2"] = value  # P01 reported; P02 left blank (code and name only)
    buf = io.BytesIO()
    wb.save(buf)
    saved = services.import_reports(session, cast.hosp_op, batch.id, "报量.xlsx",
                                    buf.getvalue(), now=T0)
    assert [r.batch_product_id for r in saved] == [bp.id]
    assert saved[0].demand == 900 and second.id not in {r.batch_product_id for r in saved}
