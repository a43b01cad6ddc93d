"""Irreversible bureau actions in a real browser: the lifecycle button opens a native dialog
that says what follows, lists the hospitals that have not reported and asks for the reason
(starting bidding early); Cancel leaves the batch as it was. Without JavaScript the same
form opens in place and asks for a check box.

Screenshot: tests/e2e/artifacts/confirm_open_bidding.png (and /tmp/forms-confirm.png).
"""
from __future__ import annotations

import shutil

import pytest

from tests.e2e.conftest import HAVE_CHROMIUM, SKIP_REASON, log_in

if not HAVE_CHROMIUM:
    pytest.skip(SKIP_REASON, allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e


def _reporting_batch(live_server) -> tuple[int, list[str]]:
    """The demo's batch that takes volume reports, and its unreported hospitals' names."""
    from sqlmodel import select

    from core.permissions import Actor
    from procurement import services
    from procurement.models import Batch, BatchStatus

    with live_server.app.app_context(), \
            live_server.app.extensions["yaocai.db"].unit_of_work() as s:
        batch = s.exec(select(Batch).where(Batch.status == BatchStatus.reporting)
                       .order_by(Batch.id)).first()
        assert batch is not None, "the demo has no batch in reporting"
        check = services.bidding_check(s, Actor.system_actor("e2e"), batch.id)
        assert check.needs_reason
        return batch.id, [o.name for o in check.unreported]


def test_starting_bidding_opens_a_dialog_naming_the_unreported(new_page, live_server,
                                                                artifacts):
    batch_id, unreported = _reporting_batch(live_server)
    t = live_server.translate
    page = new_page()
    log_in(page, "admin")
    page.goto(f"/procurement/batches/{batch_id}")
    dialog = page.locator("dialog.confirm-dialog")
    expect(dialog.first).to_be_hidden()
    page.locator("#lifecycle button[data-action=open_bidding]").click()
    opened = page.locator("dialog.confirm-dialog[open]")
    expect(opened).to_be_visible()
    expect(opened).to_contain_text(t("action:open_bidding"))
    expect(opened).to_contain_text(t("Volume reporting ends: no hospital can report or "
                                     "correct its volumes any more. Companies bid in the "
                                     "bidding window; the bids stay sealed until it closes."))
    if unreported:
        expect(opened.locator("#unreported")).to_contain_text(unreported[0])
    expect(opened.locator("textarea[name=reason]")).to_be_visible()
    # The dialog's own button is the confirmation: no check box to tick in it.
    expect(opened.locator("input[name=confirm]")).to_be_hidden()
    page.screenshot(path=str(artifacts / "confirm_open_bidding.png"))
    shutil.copy(artifacts / "confirm_open_bidding.png", "/tmp/forms-confirm.png")
    # The reason is required before the form leaves the browser.
    opened.locator("button[data-confirm-submit=open_bidding]").click()
    expect(opened).to_be_visible()
    opened.locator(".confirm-cancel").click()
    expect(page.locator("dialog.confirm-dialog[open]")).to_have_count(0)
    page.reload()
    expect(page.locator("#lifecycle button[data-action=open_bidding]")).to_be_visible()


def test_without_javascript_the_form_opens_in_place_with_a_check_box(new_page, live_server):
    batch_id, _ = _reporting_batch(live_server)
    page = new_page(java_script_enabled=False)
    log_in(page, "admin")
    page.goto(f"/procurement/batches/{batch_id}")
    summary = page.locator("#lifecycle summary[data-action=open_bidding]")
    expect(summary).to_be_visible()
    summary.click()
    form = page.locator("form[data-confirm-form=open_bidding]")
    expect(form).to_be_visible()
    expect(form.locator("input[name=confirm]")).to_be_visible()
    expect(form.locator("textarea[name=reason]")).to_be_visible()
