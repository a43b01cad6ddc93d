"""The listing journey in a real browser: a company proposes a product and applies to list it,
a bureau reviewer checks the price rules and approves, the publicity window ends (the
scheduled job run as of a later day), and anyone finds the product in the public search.

Screenshots: ``listing_rule_panel.png`` (the reviewer's rule panel) and
``listing_public_search.png`` (the public search with the new listing).
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.e2e.conftest import HAVE_CHROMIUM, SKIP_REASON, log_in

if not HAVE_CHROMIUM:
    pytest.skip(SKIP_REASON, allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e

CODE = "XC10AXF123A001010199999"  # a drug code no demo product uses
GENERIC = "非布司他"


def _application(live_server):
    from sqlmodel import select

    from listing.models import Application, Product

    with live_server.app.app_context(), \
            live_server.app.extensions["yaocai.db"].unit_of_work() as s:
        product = s.exec(select(Product).where(Product.code == CODE)).one()
        return s.exec(select(Application).where(Application.product_id == product.id)).one()


def test_company_applies_reviewer_approves_public_finds_it(new_page, live_server, artifacts):
    # 1. The company proposes a product inside a new-listing application.
    page = new_page()
    log_in(page, "pharma")
    page.goto("/listing/applications/new?kind=new_listing")
    page.locator("input[name=propose]").check()
    for name, value in {"code": CODE, "generic_name": GENERIC, "spec": "40mg×14片",
                        "content_value": "40", "content_unit": "mg", "units_per_package": "14",
                        "min_unit": "片", "package_unit": "盒",
                        "approval_number": "国药准字H20260001"}.items():
        page.locator(f"input[name=np_{name}]").fill(value)
    page.locator("select[name=np_dosage_form]").select_option("普通片")
    page.locator("input[name=proposed_price]").fill("31.50")
    page.locator("form.card button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/listing/applications/\d+$"))
    expect(page.locator("h1")).to_contain_text(GENERIC)

    # Price evidence for linkage: the lowest price elsewhere caps this one.
    row = page.locator("#evidence table.evidence tbody tr").first
    row.locator("input[name=province]").fill("江苏")
    row.locator("input[name=price]").fill("32.00")
    row.locator("input[name=evidence_date]").fill("2026-06-30")
    row.locator("input[name=document]").fill("苏医保挂网公告〔2026〕31号")
    page.locator("#evidence button[type=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    page.locator("button[data-action=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator(".page-head .badge")).to_have_text(live_server.translate("submitted"))
    app = _application(live_server)

    # 2. A bureau reviewer finds it in the queue, starts the review and reads the rule panel.
    reviewer = new_page()
    log_in(reviewer, "reviewer")
    reviewer.goto("/listing/review")
    reviewer.locator(f"a:has-text('{app.number}')").click()
    reviewer.locator("button[data-action=start_review]").click()
    panel = reviewer.locator("#checks .rule-panel").first
    expect(panel).to_be_visible()
    expect(panel.locator(".rp-head .badge")).to_have_text(live_server.translate("Pass"))
    expect(panel).to_contain_text("32.00")  # the linkage cap from the declared price
    reviewer.locator("#checks").screenshot(path=str(artifacts / "listing_rule_panel.png"))
    reviewer.locator("button[data-action=approve]").click()
    expect(reviewer.locator(".page-head .badge")).to_have_text(
        live_server.translate("publicizing"))

    # Not yet in the public search while in publicity.
    public = new_page()
    public.goto(f"/listing/search?q={CODE}")
    expect(public.locator("#results tbody")).not_to_contain_text(GENERIC)

    # 3. The publicity window ends: the scheduled job runs as of the day after it.
    app = _application(live_server)
    from listing import jobs
    with live_server.app.app_context(), \
            live_server.app.extensions["yaocai.db"].unit_of_work() as s:
        outcome = jobs.end_publicity(s, as_of=(app.publicity_end + timedelta(days=1)).isoformat())
    assert outcome["listed"] >= 1

    # 4. Anyone, without logging in, finds it in the public search.
    public.goto(f"/listing/search?q={GENERIC}")
    row = public.locator("#results tbody tr", has_text=CODE)
    expect(row).to_contain_text("¥31.50")
    expect(row).to_contain_text(GENERIC)
    public.screenshot(path=str(artifacts / "listing_public_search.png"), full_page=True)
    response = public.request.get(f"/api/v1/listing/listings?q={CODE}")
    assert response.ok and response.json()["total"] == 1
