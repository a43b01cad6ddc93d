"""The public pages on a phone: listing search, the listing publicity board and one of its
items, the procurement results and one batch's winners share one header (navigation to each
and the login link) and fit a 390 px screen — no page wider than the screen; tables become
cards. Screenshots: ``public_<page>_390.png``."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import HAVE_CHROMIUM, SKIP_REASON

if not HAVE_CHROMIUM:
    pytest.skip(SKIP_REASON, allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


def _public_paths(live_server) -> dict[str, str]:
    from sqlmodel import select

    from listing.models import Application, ApplicationStatus
    from procurement.models import Batch, BatchStatus

    with live_server.app.app_context(), \
            live_server.app.extensions["yaocai.db"].unit_of_work() as s:
        app = s.exec(select(Application).where(
            Application.status == ApplicationStatus.publicizing)).first()
        batch = s.exec(select(Batch).where(Batch.status == BatchStatus.executing)).first()
        assert app is not None and batch is not None, "the demo has items in publicity"
        return {"search": "/listing/search", "listing_publicity": "/listing/publicity",
                "listing_publicity_item": f"/listing/publicity/{app.id}",
                "procurement_results": "/procurement/publicity",
                "procurement_batch_results": f"/procurement/publicity/{batch.id}"}


def test_public_pages_fit_a_phone_and_share_the_public_header(new_page, live_server,
                                                                artifacts):
    page = new_page(viewport=PHONE)
    nav_texts = [live_server.translate(m) for m in
                 ("Listing search", "Listing publicity", "Procurement results")]
    for name, path in _public_paths(live_server).items():
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(artifacts / f"public_{name}_390.png"), full_page=True)
        assert width <= 390, f"{path} is {width} px wide on a 390 px screen"
        header = page.locator("header.topbar")
        nav = header.locator("nav.public-nav a")
        assert nav.all_inner_texts() == nav_texts, path
        for link in nav.all():
            assert link.is_visible(), path
        login = header.locator("a.btn-login")
        assert login.is_visible(), path
        assert login.inner_text() == live_server.translate("Log in")
        assert login.get_attribute("href").startswith("/login?next="), path
    # The login link comes back to the page the visitor was on.
    page.goto("/listing/search?q=%E9%98%BF")
    page.locator("header a.btn-login").click()
    assert "next=/listing/search" in page.url.replace("%2F", "/")


def test_search_results_are_cards_on_a_phone(new_page, live_server):
    page = new_page(viewport=PHONE)
    page.goto("/listing/search")
    assert page.locator("#results thead").is_hidden()
    first = page.locator("#results tbody tr").first
    box = first.bounding_box()
    assert box is not None and box["width"] <= 390
    label = first.locator("td.price").evaluate(
        "td => getComputedStyle(td, '::before').content")
    assert live_server.translate("Listed price") in label
