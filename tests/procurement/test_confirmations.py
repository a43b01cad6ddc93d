"""Irreversible bureau actions ask for confirmation, and starting bidding early needs a reason.

* The service refuses ``open_bidding`` before the reporting deadline, or while a hospital has
  not reported every product, without a ``reason`` (422 naming it) — from a page, the API or
  the CLI alike — and keeps the reason and the unreported hospitals in the audit record.
* The pages' lifecycle, publish and region-closing forms are refused without ``confirm=yes``
  (the dialog's or the check box's), so the rule is not only in the browser.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from core.errors import Invalid
from core.models import AuditLog, User
from procurement import services
from procurement.models import Batch, BatchStatus
from tests.procurement.factories import T0, batch_in_bidding, cast, report
from tests.procurement.test_api import API, bureau_token, problem, reporting_now
from tests.support import csrf_token, login

REASON = "国家组织集采时间表要求提前开标"


def _audit(session, batch_id: int) -> AuditLog:
    return session.exec(select(AuditLog).where(AuditLog.action == "vbp_batch.open_bidding",
                                               AuditLog.object_id == str(batch_id))).one()


def test_bidding_before_the_deadline_needs_a_reason_naming_the_unreported(session):
    c = cast(session)
    batch, (bp,) = batch_in_bidding(session, c)
    report(session, c, bp, [100, 100])  # every hospital has reported: only the date counts
    before = T0 + timedelta(days=1)  # the deadline is T0 + 5 days
    check = services.bidding_check(session, c.manager, batch.id, now=before)
    assert check.before_deadline and check.needs_reason and check.unreported_total == 0
    with pytest.raises(Invalid) as refused:
        services.move_batch(session, c.manager, batch.id, "open_bidding", now=before)
    assert refused.value.status == 422 and [e.field for e in refused.value.errors] == ["reason"]
    with pytest.raises(Invalid):
        services.move_batch(session, c.manager, batch.id, "open_bidding", now=before,
                            reason="   ")
    assert session.get(Batch, batch.id).status == BatchStatus.reporting
    services.move_batch(session, c.manager, batch.id, "open_bidding", now=before, reason=REASON)
    rec = _audit(session, batch.id)
    assert rec.after["reason"] == REASON and rec.after["before_deadline"] is True


def test_unreported_hospitals_need_a_reason_after_the_deadline_too(session):
    c = cast(session)
    batch, (bp,) = batch_in_bidding(session, c)
    services.submit_report(session, c.hospitals[0].op, bp.id, services.ReportIn(
        usage_last_year=10, usage_year_before=10, demand=10), now=T0)
    after = T0 + timedelta(days=6)
    check = services.bidding_check(session, c.manager, batch.id, now=after)
    missing = c.hospitals[1].org
    assert not check.before_deadline and check.unreported_total >= 1
    assert missing.id in {o.id for o in check.unreported}
    assert c.hospitals[0].org.id not in {o.id for o in check.unreported}
    with pytest.raises(Invalid) as refused:
        services.move_batch(session, c.manager, batch.id, "open_bidding", now=after)
    assert refused.value.errors[0].field == "reason"
    services.move_batch(session, c.manager, batch.id, "open_bidding", now=after, reason=REASON)
    rec = _audit(session, batch.id)
    assert rec.after["reason"] == REASON and missing.code in rec.after["unreported_codes"]
    assert rec.after["unreported"] == check.unreported_total


def test_bidding_after_the_deadline_with_every_report_needs_no_reason(session):
    c = cast(session)
    batch, (bp,) = batch_in_bidding(session, c)
    report(session, c, bp, [100] * len(c.hospitals))
    after = T0 + timedelta(days=6)
    check = services.bidding_check(session, c.manager, batch.id, now=after)
    assert not check.needs_reason
    services.move_batch(session, c.manager, batch.id, "open_bidding", now=after)
    assert "reason" not in _audit(session, batch.id).after


def test_the_api_applies_the_same_rule(client, session):
    c = cast(session)
    batch, _ = reporting_now(session, c)
    headers = {**bureau_token(session, c), "If-Match": f'"{batch.version}"'}
    url = f"{API}/batches/{batch.id}/actions/open_bidding"
    assert "reason" in str(problem(client.post(url, headers=headers), 422))
    assert "reason" in str(problem(client.post(url, headers=headers, json={"reason": ""}), 422))
    moved = client.post(url, headers=headers, json={"reason": REASON})
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert moved.get_json()["status"] == "bidding"
    assert _audit(session, batch.id).after["reason"] == REASON


def _post(client, path: str, data: dict):
    return client.post(path, data={"csrf_token": csrf_token(client), **data})


def test_the_page_shows_the_unreported_and_refuses_an_unconfirmed_move(client, session):
    c = cast(session)
    batch, _ = reporting_now(session, c)
    login(client, session.get(User, c.manager.user_id).username)
    page = client.get(f"/procurement/batches/{batch.id}").get_data(as_text=True)
    assert 'data-confirm' in page and 'data-action="open_bidding"' in page
    assert 'id="unreported"' in page
    for h in c.hospitals:
        assert h.org.name in page and h.org.code in page
    assert 'name="reason"' in page and 'name="confirm"' in page
    path = f"/procurement/batches/{batch.id}/actions/open_bidding"
    # Without the confirmation: refused, whatever else the form says.
    resp = _post(client, path, {"version": batch.version, "reason": REASON})
    assert resp.status_code == 422
    session.expire_all()
    assert session.get(Batch, batch.id).status == BatchStatus.reporting
    # Confirmed but without the reason the service asks for.
    resp = _post(client, path, {"version": batch.version, "confirm": "yes"})
    assert resp.status_code == 422
    session.expire_all()
    assert session.get(Batch, batch.id).status == BatchStatus.reporting
    resp = _post(client, path, {"version": batch.version, "confirm": "yes", "reason": REASON})
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(Batch, batch.id).status == BatchStatus.bidding


def test_cancelling_a_batch_needs_the_confirmation(client, session):
    c = cast(session)
    batch, _ = batch_in_bidding(session, c)
    login(client, session.get(User, c.manager.user_id).username)
    path = f"/procurement/batches/{batch.id}/actions/cancel"
    assert _post(client, path, {"version": batch.version, "confirm": "on"}).status_code == 422
    session.expire_all()
    assert session.get(Batch, batch.id).status == BatchStatus.reporting
    assert _post(client, path, {"version": batch.version, "confirm": "yes"}).status_code == 302
    session.expire_all()
    assert session.get(Batch, batch.id).status == BatchStatus.cancelled
