"""Listing pages through the test client with real logins."""
from __future__ import annotations

from datetime import date

import pytest

from core.models import User
from listing.models import Listing, ListingStatus
from tests.listing.factories import evidence, freeze, list_product, product, world
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
