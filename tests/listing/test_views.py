"""Listing pages through the test client with real logins."""
from __future__ import annotations

from datetime import date

import pytest

from core.models import User
from listing.models import ApplicationStatus, Listing, ListingStatus
from tests.listing.factories import (
    company,
    draft,
    drive,
    evidence,
    freeze,
    list_product,
    product,
    world,
)
from tests.support import csrf_token, login


@pytest.fixture
def clock(monkeypatch):
    return freeze(monkeypatch, date(2026, 9, 30))


def test_suspending_and_delisting_ask_for_confirmation(client, session, clock):
    w = world(session)
    lst = list_product(session, w, product(session, w.company), "5.00",
                       lines=[evidence("6.00")])
    login(client, session.get(User, w.reviewer.user_id).username)
    path = f"/listing/listings/{lst.id}"
    page = client.get(path).get_data(as_text=True)
    assert 'data-action="suspend"' in page and 'data-action="delist"' in page
    assert page.count('name="confirm"') == 2  # one dialog per action
    form = {"csrf_token": csrf_token(client), "version": lst.version, "action": "delist",
            "reason_code": "supply_failure", "reason": "连续断供"}
    client.post(path, data=form)  # not confirmed: refused
    session.expire_all()
    assert session.get(Listing, lst.id).status == ListingStatus.listed
    client.post(path, data={**form, "confirm": "yes"})
    session.expire_all()
    assert session.get(Listing, lst.id).status == ListingStatus.delisted


def test_the_new_listing_form_offers_only_products_the_company_can_apply_for(
        client, session, clock):
    w = world(session)
    listed = product(session, w.company, generic_name="氨氯地平片")
    list_product(session, w, listed, "5.00", lines=[evidence("6.00")])
    in_progress = product(session, w.company, generic_name="二甲双胍片")
    draft(session, w.op, in_progress)
    free = product(session, w.company, generic_name="阿托伐他汀钙片")
    foreign = product(session, company(session), generic_name="瑞舒伐他汀钙片")
    login(client, session.get(User, w.op.user_id).username)
    page = client.get("/listing/applications/new?kind=new_listing").get_data(as_text=True)
    choices = page[page.index('name="product_id"'):page.index('name="propose"')]
    assert f'value="{free.id}"' in choices
    for p in (listed, in_progress, foreign):
        assert f'value="{p.id}"' not in choices, p.generic_name
    # The representative product may still be one the company lists.
    rep = page[page.index('name="representative_product_id"'):]
    assert f'value="{listed.id}"' in rep
    # A product that is not offered is refused by the service behind the form (422).
    resp = client.post("/listing/applications/new", data={
        "csrf_token": csrf_token(client), "kind": "new_listing", "product_id": listed.id,
        "category": "regular", "proposed_price": "5.00"})
    assert resp.status_code == 422


def test_the_applicant_never_sees_the_reviewers_placeholder(client, session, clock):
    w = world(session)
    app = draft(session, w.op, product(session, w.company))
    reviewer_text = "Required to return or reject"
    client.set_cookie("lang", "en")
    login(client, session.get(User, w.op.user_id).username)
    page = client.get(f"/listing/applications/{app.id}").get_data(as_text=True)
    assert 'data-action="withdraw"' in page  # the applicant's own form is there …
    assert reviewer_text not in page  # … without the reviewer's hint
    drive(session, app, ApplicationStatus.under_review, w.op, w.reviewer)
    login(client, session.get(User, w.reviewer.user_id).username)
    page = client.get(f"/listing/applications/{app.id}").get_data(as_text=True)
    assert 'data-action="return"' in page and reviewer_text in page
