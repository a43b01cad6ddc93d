"""The procurement journey in a real browser, from batch creation to signed agreements: the
bureau creates a batch and its product, a hospital reports its volume, two companies bid
(sealed), the window closes, the bureau selects and publicizes the winners, the winner picks
its supply region, the hospital ranks the winners, the allocation runs as a real background
job on a Dramatiq worker with its progress on the page, the bureau publishes it, both sides
confirm the agreement and the batch executes.

Screenshots (tests/e2e/artifacts): procurement_bids_sealed.png, procurement_results.png,
procurement_regions.png, procurement_choices.png, procurement_allocation.png,
procurement_agreements.png.
"""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.e2e.conftest import HAVE_CHROMIUM, SKIP_REASON, confirm_action, log_in

if not HAVE_CHROMIUM:
    pytest.skip(SKIP_REASON, allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Page, expect  # noqa: E402

from core.types import LOCAL_TZ, local_today, utcnow  # noqa: E402

pytestmark = pytest.mark.e2e

CODE = "ZJ-E2E-2026-09"


def _local(dt) -> str:
    return dt.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M")


def _uow(live_server):
    return live_server.app.extensions["yaocai.db"].unit_of_work()


def _rival_and_product(live_server):
    """A generic name and dosage form that the demo user ``pharma``'s company and another
    company with a demo login both hold active catalogue products of; the rival's username."""
    from sqlmodel import select

    from core.models import User
    from listing.models import Product, ProductStatus

    with live_server.app.app_context(), _uow(live_server) as s:
        pharma_org = s.exec(select(User.org_id).where(User.username == "pharma")).one()
        logins = {org_id: name for name, org_id in s.exec(
            select(User.username, User.org_id).where(User.username.like("e__")))}
        mine = s.exec(select(Product).where(Product.mah_org_id == pharma_org,
                                            Product.status == ProductStatus.active,
                                            Product.content_unit == "mg")
                      .order_by(Product.id)).all()
        for p in mine:
            rival = s.exec(select(Product).where(
                Product.generic_name == p.generic_name, Product.dosage_form == p.dosage_form,
                Product.status == ProductStatus.active,
                Product.mah_org_id.in_(list(logins)))).first()
            if rival is not None:
                return p, logins[rival.mah_org_id]
    pytest.fail("the demo catalogue has no drug held by pharma and another demo company")


def _batch(live_server):
    from sqlmodel import select

    from procurement.models import Batch

    with live_server.app.app_context(), _uow(live_server) as s:
        return s.exec(select(Batch).where(Batch.code == CODE)).one()


def _click_action(page: Page, action: str, reason: str | None = None) -> None:
    confirm_action(page, action, reason=reason, scope="#lifecycle")
    expect(page.locator(".flash-success").first).to_be_visible()


def test_batch_to_signed_agreements(new_page, live_server, artifacts):
    import dramatiq

    t = live_server.translate
    product, rival = _rival_and_product(live_server)
    now = utcnow()

    # 1. The bureau creates the batch and its product, then opens reporting.
    bureau = new_page()
    log_in(bureau, "admin")
    bureau.goto("/procurement/batches/new")
    bureau.locator("input[name=code]").fill(CODE)
    bureau.locator("input[name=name]").fill("浙江省端到端测试批次")
    bureau.locator("input[name=report_deadline]").fill(_local(now + timedelta(days=2)))
    bureau.locator("input[name=bid_opens_at]").fill(_local(now - timedelta(minutes=5)))
    bureau.locator("input[name=bid_closes_at]").fill(_local(now + timedelta(days=3)))
    bureau.locator("input[name=cycle_start]").fill("2027-01-01")
    bureau.locator("main form.card button[type=submit]").first.click()
    expect(bureau).to_have_url(re.compile(r"/procurement/batches/\d+$"))
    batch_url = bureau.url
    bureau.goto(batch_url + "/products/new")
    form = bureau.locator("#product-form")
    form.locator("input[name=code]").fill("P01")
    form.locator("input[name=generic_name]").fill(product.generic_name)
    form.locator("select[name=dosage_form]").select_option(product.dosage_form)
    form.locator("input[name=rep_content_value]").fill(format(product.content_value, "f"))
    form.locator("input[name=rep_content_unit]").fill("mg")
    form.locator("input[name=smallest_unit]").fill(product.min_unit or "片")
    form.locator("input[name=max_ucp]").fill("100.0000")
    form.locator("button[type=submit]:not([name=another])").click()
    expect(bureau.locator(".flash-success").first).to_be_visible()
    bureau.goto(batch_url)
    _click_action(bureau, "open_reporting")
    batch = _batch(live_server)

    # 2. The hospital reports its volume on the page.
    hospital = new_page()
    log_in(hospital, "hospital")
    hospital.goto(f"/procurement/batches/{batch.id}/report")
    (bp_id,) = re.findall(r'name="demand-(\d+)"', hospital.content())
    for field, value in (("usage_last_year", "120000"), ("usage_year_before", "110000"),
                         ("demand", "100000")):
        hospital.locator(f"input[name={field}-{bp_id}]").fill(value)
    hospital.locator("form.report-grid button[type=submit]:not([name=only])").last.click()
    expect(hospital.locator(".flash-success").first).to_be_visible()

    # 3. Bidding opens; two companies bid; the bureau sees who bid but not at what price.
    bureau.goto(batch_url)
    _click_action(bureau, "open_bidding", reason="端到端测试：报量截止前开始投标")
    # pharma's ucp is at most ¥0.50; the rival's, ¥60.00 a package even of 100 units after the
    # 差比价 pack factor, is above ¥0.70: pharma wins alone (two bidders: cap of 1).
    for username, price in (("pharma", "0.50"), (rival, "60.00")):
        company = new_page()
        log_in(company, username)
        company.goto(f"/procurement/batches/{batch.id}/bids")
        row = company.locator(f"#p{bp_id}")
        row.locator("input[name=package_price]").fill(price)
        row.locator("form.bid-form button[type=submit]").click()
        expect(company.locator(".flash-success").first).to_be_visible()
    bureau.goto(f"/procurement/batches/{batch.id}/bids")
    # Package price, ucp and capacity of both bids: sealed.
    expect(bureau.locator("tbody .badge-sealed")).to_have_count(6)
    assert "60.00" not in bureau.content() and "0.5000" not in bureau.content()
    bureau.screenshot(path=str(artifacts / "procurement_bids_sealed.png"), full_page=True)

    # 4. The window closes. Time is moved, not waited for: the close is set to a minute ago,
    #    as the clock would have it three days later.
    from procurement.models import Batch
    with live_server.app.app_context(), _uow(live_server) as s:
        row = s.get(Batch, batch.id)
        row.bid_closes_at = utcnow() - timedelta(minutes=1)
        s.add(row)
    bureau.goto(batch_url)
    _click_action(bureau, "close_bidding")
    bureau.goto(f"/procurement/batches/{batch.id}/results")
    bureau.locator("#select-winners button[type=submit], button#select-winners").first.click()
    expect(bureau.locator(".flash-success").first).to_be_visible()
    results = bureau.locator(f"#p{bp_id}")
    expect(results).to_contain_text("0.5000")
    expect(results).to_contain_text("60.0000")  # the bureau reads every verdict
    bureau.screenshot(path=str(artifacts / "procurement_results.png"), full_page=True)
    _click_action(bureau, "publicize")

    # The public board shows the winner without a login.
    public = new_page()
    public.goto(f"/procurement/publicity/{batch.id}")
    expect(public.locator("main")).to_contain_text(product.generic_name)
    expect(public.locator("main")).to_contain_text("0.5000")
    assert "60.0000" not in public.content()  # a losing price is not published

    expect(public.locator("#publicity-ends")).to_be_visible()
    # The publicity of three working days ends: time is moved again, not waited for.
    with live_server.app.app_context(), _uow(live_server) as s:
        row = s.get(Batch, batch.id)
        row.publicity_ends_on = local_today() - timedelta(days=1)
        s.add(row)
    bureau.goto(batch_url)
    _click_action(bureau, "start_allocation")

    # 5. The winner picks its supply region (the hospital's city); the bureau closes picking.
    winner = new_page()
    log_in(winner, "pharma")
    winner.goto(f"/procurement/batches/{batch.id}/regions")
    board = winner.locator(f"#p{bp_id}")
    board.locator("select[name=region_code]").select_option("330100")
    board.locator("button[type=submit]").first.click()
    expect(winner.locator(".flash-success").first).to_be_visible()
    winner.screenshot(path=str(artifacts / "procurement_regions.png"), full_page=True)
    bureau.goto(f"/procurement/batches/{batch.id}/regions")
    confirm_action(bureau, "close_regions")
    expect(bureau.locator(".flash-success").first).to_be_visible()

    # 6. The hospital ranks the winners serving its city.
    hospital.goto(f"/procurement/batches/{batch.id}/choices")
    choice = hospital.locator(f"#p{bp_id}")
    choice.locator("input.rank-input").first.fill("1")
    choice.locator("button[type=submit]").first.click()
    expect(hospital.locator(".flash-success").first).to_be_visible()
    hospital.screenshot(path=str(artifacts / "procurement_choices.png"), full_page=True)

    # 7. The allocation runs as a job on a real worker; the page follows its progress.
    broker = live_server.app.extensions["yaocai.broker"]
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        bureau.goto(f"/procurement/batches/{batch.id}/allocation")
        bureau.locator("#start-run").click()
        expect(bureau.locator(".flash-success").first).to_be_visible()
        bureau.goto(f"/procurement/batches/{batch.id}/allocation")
        runs = bureau.locator("#runs")
        # The page refreshes itself while the run is queued or running.
        expect(runs).to_contain_text(t("optimal"), timeout=60_000)
    finally:
        worker.stop()
    bureau.locator("#runs a").first.click()
    # One winner: the agreed volume is 50 % of the reported 100,000.
    expect(bureau.locator("#lines")).to_contain_text("50,000")
    bureau.screenshot(path=str(artifacts / "procurement_allocation.png"), full_page=True)
    confirm_action(bureau, "publish_allocation")
    expect(bureau.locator(".flash-success").first).to_be_visible()

    # 8. Both sides confirm; the batch executes.
    for page in (hospital, winner):
        page.goto(f"/procurement/batches/{batch.id}/agreements")
        page.locator("form[action$='/agreements/sign-all'] button[type=submit]").click()
        expect(page.locator(".flash-success").first).to_be_visible()
    winner.screenshot(path=str(artifacts / "procurement_agreements.png"), full_page=True)
    expect(winner.locator("#agreements")).to_contain_text(t("agreement:signed"))
    bureau.goto(batch_url)
    _click_action(bureau, "execute")
    expect(bureau.locator(".page-head .badge").first).to_have_text(t("executing"))

    from sqlmodel import select

    from procurement.models import Agreement, AgreementStatus
    with live_server.app.app_context(), _uow(live_server) as s:
        (a,) = s.exec(select(Agreement).where(Agreement.batch_id == batch.id)).all()
    assert a.status == AgreementStatus.signed and a.volume == 50_000
    assert a.unit_price == (Decimal("0.50") / product.units_per_package).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_UP)
