"""The procurement pages through the test client with real logins: who sees which page, the
forms (Asia/Shanghai times, dosage forms of the price rules), the lifecycle buttons' version
check, the volume report (rows and upload, all or nothing) and the sealed bids."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from core.auth import actor_for_user
from procurement import services
from procurement.models import Batch, BatchStatus, Bid, BidStatus, VolumeReport
from tests.listing.factories import bureau, company, count, hospital, product, seed_rules
from tests.support import csrf_token, login, make_user


class Cast:
    """The bureau (a batch manager and a viewer), two hospitals and two companies, each with
    a user who logs in through the real form."""

    def __init__(self, session):
        seed_rules(session)
        self.session = session
        self.bureau = bureau(session)
        self.manager = make_user(session, self.bureau, "procurement_manager")
        self.viewer = make_user(session, self.bureau, "viewer")
        self.hosp = hospital(session)
        self.hosp_op = make_user(session, self.hosp, "operator")
        self.other_hosp = hospital(session)
        self.other_hosp_op = make_user(session, self.other_hosp, "operator")
        self.co = company(session)
        self.co_op = make_user(session, self.co, "operator")
        self.rival = company(session)
        self.rival_op = make_user(session, self.rival, "operator")

    def actor(self, user):
        return actor_for_user(self.session, user)


@pytest.fixture
def cast(session) -> Cast:
    return Cast(session)


def now() -> datetime:
    return datetime.now(UTC)


def new_batch(c: Cast, code: str = "ZJ-2026-01", *, products: int = 1,
              opens: datetime | None = None, closes: datetime | None = None) -> Batch:
    """A draft with ``products`` products; the reporting deadline is in five days and the
    bidding window runs from an hour ago to ten days from now unless given."""
    s, m = c.session, c.actor(c.manager)
    batch = services.create_batch(s, m, services.BatchIn(
        code=code, name="浙江省第一批药品集采", report_deadline=now() + timedelta(days=5),
        bid_opens_at=opens or now() - timedelta(hours=1),
        bid_closes_at=closes or now() + timedelta(days=10)))
    names = ["阿托伐他汀钙片", "氨氯地平片", "二甲双胍片"]
    for i in range(products):
        services.add_batch_product(s, m, batch.id, services.BatchProductIn(
            code=f"P{i + 1:02d}", generic_name=names[i], dosage_form="普通片",
            rep_content_value=Decimal("10"), rep_content_unit="mg", rep_units=1,
            smallest_unit="片", max_ucp=Decimal("2.0000")))
    return batch


def move(c: Cast, batch: Batch, *actions: str, at: datetime | None = None) -> Batch:
    for action in actions:
        services.move_batch(c.session, c.actor(c.manager), batch.id, action, now=at,
                            reason="提前开始投标" if action == "open_bidding" else None)
    return batch


def products_of(c: Cast, batch: Batch):
    return services.batch_products(c.session, c.actor(c.manager), batch.id)


def post(client, path: str, data: dict | None = None, **kw):
    return client.post(path, data={"csrf_token": csrf_token(client), **(data or {})}, **kw)


def html(resp) -> str:
    return resp.get_data(as_text=True)


# --- who sees which page ----------------------------------------------------------------------

def _status(client, user, paths: dict[str, int]) -> dict[str, int]:
    login(client, user.username)
    got = {path: client.get(path).status_code for path in paths}
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    return got


def test_each_page_answers_the_right_kind_and_refuses_the_others(client, cast):
    batch = move(cast, new_batch(cast), "open_reporting")
    b = f"/procurement/batches/{batch.id}"
    bureau_pages = {"/procurement/": 200, "/procurement/batches": 200,
                    "/procurement/batches/new": 200, b: 200, f"{b}/edit": 200,
                    f"{b}/products/new": 200, f"{b}/reports": 200, f"{b}/bids": 200,
                    f"{b}/report": 302}  # the bureau's report page is the overview
    hospital_pages = {"/procurement/": 200, "/procurement/batches": 200, b: 200,
                      f"{b}/report": 200, f"{b}/report/template.xlsx": 200,
                      f"{b}/reports": 403, f"{b}/bids": 403, "/procurement/batches/new": 403,
                      f"{b}/edit": 403, f"{b}/products/new": 403}
    company_pages = {"/procurement/": 200, "/procurement/batches": 200, b: 200,
                     f"{b}/bids": 200, f"{b}/report": 403, f"{b}/reports": 403,
                     "/procurement/batches/new": 403, f"{b}/report/template.xlsx": 403}
    viewer_pages = {"/procurement/": 200, b: 200, f"{b}/reports": 200, f"{b}/bids": 200,
                    "/procurement/batches/new": 403, f"{b}/edit": 403}
    for user, pages in ((cast.manager, bureau_pages), (cast.hosp_op, hospital_pages),
                        (cast.co_op, company_pages), (cast.viewer, viewer_pages)):
        assert _status(client, user, pages) == pages, user.username


def test_a_draft_is_the_bureaus_only(client, cast):
    batch = new_batch(cast)
    b = f"/procurement/batches/{batch.id}"
    login(client, cast.hosp_op.username)
    for path in (b, f"{b}/report", f"{b}/report/template.xlsx"):
        assert client.get(path).status_code == 404, path
    assert batch.code not in html(client.get("/procurement/batches"))
    login(client, cast.co_op.username)
    assert client.get(f"{b}/bids").status_code == 404


def test_logged_out_visitors_go_to_the_login_page(client, cast):
    resp = client.get("/procurement/batches")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_home_pages_per_kind(client, cast):
    reporting = move(cast, new_batch(cast, "R-1", products=2), "open_reporting")
    bidding = move(cast, new_batch(cast, "B-1"), "open_reporting", "open_bidding")
    services.submit_report(cast.session, cast.actor(cast.hosp_op), products_of(
        cast, reporting)[0].id, services.ReportIn(usage_last_year=100, usage_year_before=100,
                                                  demand=100))
    login(client, cast.manager.username)
    page = html(client.get("/procurement/"))
    assert "R-1" in page and "B-1" in page and 'href="/procurement/batches/new"' in page
    login(client, cast.hosp_op.username)
    page = html(client.get("/procurement/"))
    assert "1 / 2" in page and f"/procurement/batches/{reporting.id}/report" in page
    login(client, cast.co_op.username)
    page = html(client.get("/procurement/"))
    assert f"/procurement/batches/{bidding.id}/bids" in page
    assert "/procurement/batches/new" not in page


# --- batch forms ------------------------------------------------------------------------------

def test_create_and_edit_a_batch_in_shanghai_time(client, cast):
    login(client, cast.manager.username)
    resp = post(client, "/procurement/batches/new", {
        "code": "ZJ-2026-09", "name": "第九批", "report_deadline": "2026-03-10T17:00",
        "bid_opens_at": "2026-03-20T09:00", "bid_closes_at": "2026-03-30T17:30",
        "cycle_start": "2026-07-01", "note": "联盟采购"})
    assert resp.status_code == 302
    batch = cast.session.exec(select(Batch).where(Batch.code == "ZJ-2026-09")).one()
    assert resp.headers["Location"].endswith(f"/procurement/batches/{batch.id}")
    # 17:00 in Beijing is 09:00 UTC.
    assert batch.report_deadline == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert batch.bid_closes_at == datetime(2026, 3, 30, 9, 30, tzinfo=UTC)
    assert batch.status == BatchStatus.draft
    form = html(client.get(f"/procurement/batches/{batch.id}/edit"))
    assert 'value="2026-03-10T17:00"' in form and 'value="2026-03-30T17:30"' in form
    detail = html(client.get(f"/procurement/batches/{batch.id}"))
    assert "2026-03-10 17:00" in detail  # shown in Beijing time too
    resp = post(client, f"/procurement/batches/{batch.id}/edit", {
        "name": "第九批（调整）", "report_deadline": "2026-03-12T17:00",
        "bid_opens_at": "2026-03-20T09:00", "bid_closes_at": "2026-03-30T17:30"})
    assert resp.status_code == 302
    cast.session.expire_all()
    assert cast.session.get(Batch, batch.id).report_deadline == datetime(2026, 3, 12, 9,
                                                                          tzinfo=UTC)


def test_batch_form_shows_every_problem(client, cast):
    new_batch(cast, "TAKEN")
    login(client, cast.manager.username)
    resp = post(client, "/procurement/batches/new", {
        "code": "TAKEN", "name": "x", "bid_opens_at": "2026-03-20T09:00",
        "bid_closes_at": "2026-03-19T09:00"})
    assert resp.status_code == 422
    assert "投标截止时间须晚于开始时间" in html(resp)
    resp = post(client, "/procurement/batches/new", {"code": "TAKEN", "name": "x"})
    assert resp.status_code == 422 and "已有该编号的批次" in html(resp)
    assert count(cast.session, Batch, Batch.code == "TAKEN") == 1


def test_add_product_offers_the_price_rule_dosage_forms(client, cast):
    batch = new_batch(cast, products=0)
    path = f"/procurement/batches/{batch.id}/products/new"
    login(client, cast.manager.username)
    form = html(client.get(path))
    forms = re.findall(r"<option\s*>([^<]+)</option>", form)
    assert "普通片" in forms and len(forms) > 5
    data = {"code": "P01", "generic_name": "阿托伐他汀钙片", "dosage_form": "不存在的剂型",
            "smallest_unit": "片", "max_ucp": "2.5", "rep_content_value": "10"}
    resp = post(client, path, data)
    assert resp.status_code == 422
    assert "请选择价格规则剂型表中的剂型。" in html(resp)  # beside the field, translated
    assert count(cast.session, services.BatchProduct,
                 services.BatchProduct.batch_id == batch.id) == 0
    resp = post(client, path, {**data, "dosage_form": "普通片", "rep_content_unit": "mg"})
    assert resp.status_code == 302
    assert [p.code for p in products_of(cast, batch)] == ["P01"]


def test_products_are_fixed_once_reporting_opens(client, cast):
    batch = move(cast, new_batch(cast), "open_reporting")
    login(client, cast.manager.username)
    resp = post(client, f"/procurement/batches/{batch.id}/products/new", {
        "code": "P09", "generic_name": "x", "dosage_form": "普通片", "smallest_unit": "片",
        "max_ucp": "1"})
    assert resp.status_code == 409


# --- lifecycle buttons ------------------------------------------------------------------------

def test_lifecycle_buttons_post_the_version_and_a_stale_page_is_409(client, cast):
    batch = new_batch(cast)
    login(client, cast.manager.username)
    detail = html(client.get(f"/procurement/batches/{batch.id}"))
    assert f'/procurement/batches/{batch.id}/actions/open_reporting' in detail
    assert f'name="version" value="{batch.version}"' in detail
    stale = batch.version
    services.update_batch(cast.session, cast.actor(cast.manager), batch.id, services.BatchIn(
        code=batch.code, name="改名", report_deadline=batch.report_deadline,
        bid_opens_at=batch.bid_opens_at, bid_closes_at=batch.bid_closes_at))
    cast.session.flush()
    assert batch.version == stale + 1
    resp = post(client, f"/procurement/batches/{batch.id}/actions/open_reporting",
                {"version": stale, "confirm": "yes"})
    assert resp.status_code == 409
    assert "改名" in html(resp)  # the page as it is now
    cast.session.expire_all()
    assert cast.session.get(Batch, batch.id).status == BatchStatus.draft
    resp = post(client, f"/procurement/batches/{batch.id}/actions/open_reporting",
                {"version": stale + 1, "confirm": "yes"})
    assert resp.status_code == 302
    cast.session.expire_all()
    assert cast.session.get(Batch, batch.id).status == BatchStatus.reporting


def test_lifecycle_refusals_are_shown_on_the_page(client, cast):
    batch = new_batch(cast, products=0)
    login(client, cast.manager.username)
    resp = post(client, f"/procurement/batches/{batch.id}/actions/open_reporting",
                {"version": batch.version, "confirm": "yes"})
    assert resp.status_code == 422  # no products yet
    resp = post(client, f"/procurement/batches/{batch.id}/actions/publicize",
                {"version": batch.version, "confirm": "yes"})
    assert resp.status_code == 409  # not from draft
    login(client, cast.viewer.username)
    assert "/actions/" not in html(client.get(f"/procurement/batches/{batch.id}"))
    assert post(client, f"/procurement/batches/{batch.id}/actions/cancel",
                {"version": batch.version, "confirm": "yes"}).status_code == 403


# --- volume reports ---------------------------------------------------------------------------

def _row(bp_id: int, last: str, before: str, demand: str, why: str = "") -> dict[str, str]:
    return {f"usage_last_year-{bp_id}": last, f"usage_year_before-{bp_id}": before,
            f"demand-{bp_id}": demand, f"explanation-{bp_id}": why}


def test_report_rows_all_or_nothing_with_errors_per_row(client, cast):
    batch = move(cast, new_batch(cast, products=2), "open_reporting")
    p1, p2 = products_of(cast, batch)
    path = f"/procurement/batches/{batch.id}/report"
    login(client, cast.hosp_op.username)
    page = html(client.get(path))
    assert f'name="demand-{p1.id}"' in page and f'name="demand-{p2.id}"' in page
    # Row 2 reports below 80% of its average without a reason: nothing is saved.
    resp = post(client, path, {**_row(p1.id, "1000", "1200", "1100"),
                               **_row(p2.id, "1000", "1200", "500")})
    assert resp.status_code == 422
    page = html(resp)
    assert re.search(rf'<tr id="p{p2.id}" class="row-error">', page)
    assert not re.search(rf'<tr id="p{p1.id}" class="row-error">', page)
    assert 'value="1100"' in page  # what was typed stays on the page
    assert count(cast.session, VolumeReport, VolumeReport.batch_id == batch.id) == 0
    resp = post(client, path, {**_row(p1.id, "1000", "1200", "1100"),
                               **_row(p2.id, "1000", "1200", "500", "科室调整")})
    assert resp.status_code == 302
    assert count(cast.session, VolumeReport, VolumeReport.batch_id == batch.id) == 2
    versions = dict(cast.session.exec(select(VolumeReport.batch_product_id, VolumeReport.version)
                                      .where(VolumeReport.batch_id == batch.id)).all())
    # Saving the page again unchanged writes nothing new.
    post(client, path, {**_row(p1.id, "1000", "1200", "1100"),
                        **_row(p2.id, "1000", "1200", "500", "科室调整")})
    assert dict(cast.session.exec(select(VolumeReport.batch_product_id, VolumeReport.version)
                                  .where(VolumeReport.batch_id == batch.id)).all()) == versions
    # One row alone, with its own button.
    resp = post(client, path, {**_row(p1.id, "1000", "1200", "1300"), "only": str(p1.id),
                               **_row(p2.id, "x", "", "")})
    assert resp.status_code == 302
    cast.session.expire_all()
    demands = {r.batch_product_id: r.demand for r in cast.session.exec(
        select(VolumeReport).where(VolumeReport.batch_id == batch.id))}
    assert demands == {p1.id: 1300, p2.id: 500}


def test_a_hospital_sees_only_its_own_reports(client, cast):
    batch = move(cast, new_batch(cast), "open_reporting")
    (p1,) = products_of(cast, batch)
    services.submit_report(cast.session, cast.actor(cast.hosp_op), p1.id, services.ReportIn(
        usage_last_year=4321, usage_year_before=4000, demand=4567))
    path = f"/procurement/batches/{batch.id}/report"
    login(client, cast.hosp_op.username)
    assert 'value="4567"' in html(client.get(path))
    login(client, cast.other_hosp_op.username)
    page = html(client.get(path))
    assert "4567" not in page and "4321" not in page
    assert client.get(f"/procurement/batches/{batch.id}/reports").status_code == 403
    # The bureau's overview sums every hospital and lists the one still missing.
    login(client, cast.manager.username)
    page = html(client.get(f"/procurement/batches/{batch.id}/reports"))
    assert "4,567" in page
    assert cast.other_hosp.code in page and cast.hosp.code not in page


def test_upload_with_bad_rows_names_them_and_saves_nothing(client, cast):
    batch = move(cast, new_batch(cast, products=2), "open_reporting")
    csv = ("品种编号,上年用量,前年用量,需求量,说明\n"
           "P01,1000,1200,1100,\n"         # line 2: fine
           "P02,abc,1200,1100,\n"          # line 3: not a number
           "P99,1000,1200,1100,\n"         # line 4: no such product
           "P01,1000,1200,1100,\n").encode()  # line 5: P01 twice
    login(client, cast.hosp_op.username)
    from io import BytesIO
    resp = post(client, f"/procurement/batches/{batch.id}/report/upload",
                {"file": (BytesIO(csv), "reports.csv")}, content_type="multipart/form-data")
    assert resp.status_code == 422
    page = html(resp)
    table = page[page.index('id="upload-errors"'):]
    rows = re.findall(r'<tr><td class="num">(\d+)</td>', table)
    assert rows == ["3", "4", "5"]
    assert count(cast.session, VolumeReport, VolumeReport.batch_id == batch.id) == 0
    good = "品种编号,上年用量,前年用量,需求量\nP01,1000,1200,1100\nP02,10,10,10\n".encode()
    resp = post(client, f"/procurement/batches/{batch.id}/report/upload",
                {"file": (BytesIO(good), "reports.csv")}, content_type="multipart/form-data")
    assert resp.status_code == 302
    assert count(cast.session, VolumeReport, VolumeReport.batch_id == batch.id) == 2


def test_report_template_download(client, cast):
    batch = move(cast, new_batch(cast, products=2), "open_reporting")
    login(client, cast.hosp_op.username)
    resp = client.get(f"/procurement/batches/{batch.id}/report/template.xlsx")
    assert resp.status_code == 200 and resp.data.startswith(b"PK")
    assert "spreadsheetml" in resp.headers["Content-Type"]
    assert "ZJ-2026-01-volume-report.xlsx" in resp.headers["Content-Disposition"]


def test_reports_after_the_deadline_are_read_only(client, cast):
    batch = move(cast, new_batch(cast), "open_reporting", "open_bidding")
    (p1,) = products_of(cast, batch)
    login(client, cast.hosp_op.username)
    page = html(client.get(f"/procurement/batches/{batch.id}/report"))
    assert f'name="demand-{p1.id}"' not in page
    resp = post(client, f"/procurement/batches/{batch.id}/report",
                _row(p1.id, "1", "1", "1"))
    assert resp.status_code == 409


# --- bids -------------------------------------------------------------------------------------

def test_company_bids_and_everyone_else_sees_it_sealed(client, cast):
    batch = move(cast, new_batch(cast), "open_reporting", "open_bidding")
    (p1,) = products_of(cast, batch)
    mine = product(cast.session, cast.co, content="10", units=1)
    product(cast.session, cast.co, generic_name="氨氯地平片")  # another name: not offered
    theirs = product(cast.session, cast.rival, content="10", units=1)
    path = f"/procurement/batches/{batch.id}/bids"
    login(client, cast.co_op.username)
    page = html(client.get(path))
    assert f'<option value="{mine.id}"' in page and f'value="{theirs.id}"' not in page
    resp = post(client, f"/procurement/batches/{batch.id}/products/{p1.id}/bid",
                {"product_id": str(mine.id), "package_price": "1.2345", "capacity": "50000"})
    assert resp.status_code == 302
    assert "¥1.2345" in html(client.get(path))  # its own price, it wrote it
    # Above the maximum valid price: refused beside the row.
    resp = post(client, f"/procurement/batches/{batch.id}/products/{p1.id}/bid",
                {"product_id": str(mine.id), "package_price": "9.99"})
    assert resp.status_code == 422 and 'class="row-error"' in html(resp)
    services.submit_bid(cast.session, cast.actor(cast.rival_op), p1.id, services.BidIn(
        product_id=theirs.id, package_price=Decimal("0.8765")))
    # The rival sees only its own bid.
    login(client, cast.rival_op.username)
    page = html(client.get(path))
    assert "¥0.8765" in page and "1.2345" not in page
    # The bureau sees both bids, sealed.
    for user in (cast.manager, cast.viewer):
        login(client, user.username)
        page = html(client.get(path))
        assert page.count("badge-sealed") >= 4  # two bids × package price and ucp
        assert "1.2345" not in page and "0.8765" not in page
        assert cast.co.name in page and cast.rival.name in page


def test_withdrawing_a_bid(client, cast):
    batch = move(cast, new_batch(cast), "open_reporting", "open_bidding")
    (p1,) = products_of(cast, batch)
    mine = product(cast.session, cast.co, content="10", units=1)
    bid = services.submit_bid(cast.session, cast.actor(cast.co_op), p1.id, services.BidIn(
        product_id=mine.id, package_price=Decimal("1")))
    login(client, cast.rival_op.username)
    assert post(client, f"/procurement/batches/{batch.id}/bids/{bid.id}/withdraw"
                ).status_code == 404
    login(client, cast.co_op.username)
    resp = post(client, f"/procurement/batches/{batch.id}/bids/{bid.id}/withdraw")
    assert resp.status_code == 302
    cast.session.expire_all()
    assert cast.session.get(Bid, bid.id).status == BidStatus.withdrawn
    assert post(client, f"/procurement/batches/{batch.id}/bids/{bid.id}/withdraw"
                ).status_code == 409


def test_after_the_close_the_bureau_sees_the_opened_bids(client, cast):
    opens, closes = now() - timedelta(days=3), now() - timedelta(minutes=5)
    batch = move(cast, new_batch(cast, opens=opens, closes=closes), "open_reporting",
                 "open_bidding")
    (p1,) = products_of(cast, batch)
    for org, user, price in ((cast.co, cast.co_op, "1.2000"), (cast.rival, cast.rival_op,
                                                                "0.9000")):
        p = product(cast.session, org, content="10", units=1)
        services.submit_bid(cast.session, cast.actor(user), p1.id, services.BidIn(
            product_id=p.id, package_price=Decimal(price)), now=opens + timedelta(hours=1))
    path = f"/procurement/batches/{batch.id}/bids"
    login(client, cast.manager.username)
    page = html(client.get(path))
    assert "¥0.9000" in page and "¥1.2000" in page and "badge-sealed" not in page
    resp = post(client, f"/procurement/batches/{batch.id}/actions/close_bidding",
                {"version": batch.version, "confirm": "yes"})
    assert resp.status_code == 302
    page = html(client.get(path))
    assert "¥0.9000" in page and "¥1.2000" in page
    # A company still sees only its own.
    login(client, cast.co_op.username)
    page = html(client.get(path))
    assert "¥1.2000" in page and "0.9000" not in page


def test_report_errors_in_english_keep_the_percent_sign(client, cast):
    """The page's note with a literal "%" ("below 80% of …") renders, next to the row's
    error."""
    batch = move(cast, new_batch(cast), "open_reporting")
    (p1,) = products_of(cast, batch)
    login(client, cast.hosp_op.username)
    client.set_cookie("lang", "en")
    resp = post(client, f"/procurement/batches/{batch.id}/report", _row(p1.id, "10", "10", "1"))
    assert resp.status_code == 422
    assert "The demand is below the share of the average usage" in html(resp)
    assert "below 80% of the average usage of the last two years needs an explanation" \
        in html(resp)


def test_a_batchs_tabs_keep_their_order_whichever_module_adds_them(app):
    from procurement.blueprint import TAB_ORDER, TABS

    assert [t.key for t in TABS] == list(TAB_ORDER)
