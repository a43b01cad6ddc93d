"""Listings (挂网记录): suspend / resume / delist, the relisting bar, and the applications that
change a listing (price change, delisting, relisting)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.errors import Conflict, Forbidden, Invalid
from core.permissions import Actor
from core.states import IllegalTransition
from listing import services
from listing.models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    Attachment,
    Listing,
    ListingReason,
    ListingStatus,
)
from listing.storage import LocalStore
from tests.listing.factories import (
    PDF,
    TEXT,
    D,
    actor,
    audits,
    company,
    count,
    draft,
    drive,
    evidence,
    freeze,
    list_product,
    product,
    world,
)

S = ApplicationStatus
L = ListingStatus
R = ListingReason
SYSTEM = Actor.system_actor("test")
TODAY = date(2026, 9, 30)


@pytest.fixture
def clock(monkeypatch):
    return freeze(monkeypatch, TODAY)


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "attachments")


def _listed(session, w, price: str = "5.00", **kw):
    prod = product(session, w.company, **kw)
    return prod, list_product(session, w, prod, price, lines=[evidence("6.00")])


def _move(session, who, store, listing, action, code, reason="原因说明", files=(), **kw):
    return services.change_listing(session, who, store, listing.id, action, code, reason,
                                   list(files), **kw)


def test_suspend_resume_delist_with_reason_codes_and_evidence(session, clock, store):
    w = world(session)
    prod, lst = _listed(session, w)
    _move(session, w.reviewer, store, lst, "suspend", R.above_anchor, "超过锚点价10倍",
          [("核查报告.pdf", PDF)])
    assert lst.status == L.suspended and lst.reason_code == R.above_anchor
    assert lst.reason == "超过锚点价10倍" and lst.status_changed_by == w.reviewer.user_id
    (att,) = services.attachments_of(session, w.reviewer, listing_id=lst.id)
    assert att.filename == "核查报告.pdf" and att.content_type == "application/pdf"
    assert store.get(att.storage_key) == PDF
    (rec,) = audits(session, "listing.suspend", lst.id)
    assert rec.before == {"status": "listed"}
    assert rec.after == {"status": "suspended", "reason": "超过锚点价10倍",
                         "reason_code": "above_anchor"}
    found = services.search_listings(session, services.SearchQuery(q=prod.code[:10]))
    assert lst.id not in [x.id for x in found.items]

    _move(session, w.reviewer, store, lst, "resume", R.corrected, "已整改")
    assert lst.status == L.listed and lst.reason_code == R.corrected
    assert lst.relist_barred_until is None
    found = services.search_listings(session, services.SearchQuery(q=prod.code[:10]))
    assert lst.id in [x.id for x in found.items]

    _move(session, w.reviewer, store, lst, "delist", R.supply_failure, "连续断供")
    assert lst.status == L.delisted and lst.reason_code == R.supply_failure
    assert lst.relist_barred_until is None  # supply failure does not bar relisting
    assert audits(session, "listing.delist", lst.id)[0].after["reason_code"] == "supply_failure"
    # Not barred: the company may apply again at once.
    app = draft(session, w.op, prod, price="5.00")
    assert app.status == S.draft


@pytest.mark.parametrize("code", [R.refused_linkage, R.false_price_information])
def test_delisting_for_refusing_linkage_bars_relisting_for_two_years(session, clock, store,
                                                                     code):
    w = world(session)
    prod, lst = _listed(session, w)
    _move(session, w.reviewer, store, lst, "suspend", R.above_national_lowest, "未按期联动")
    _move(session, w.reviewer, store, lst, "delist", code, "拒不联动")
    assert lst.status == L.delisted and lst.reason_code == code
    assert lst.relist_barred_until == date(2028, 9, 30)
    data = services.ApplicationIn(kind=ApplicationKind.new_listing, product_id=prod.id,
                                  proposed_price="4.00")
    with pytest.raises(Invalid) as exc:
        services.create_application(session, w.op, data)
    assert [e.field for e in exc.value.errors] == ["product_id"]
    assert count(session, Application, Application.product_id == prod.id) == 1
    # Still barred the day before, free from the date on (two years to the day).
    clock.today = date(2028, 9, 29)
    with pytest.raises(Invalid):
        services.create_application(session, w.op, data)
    clock.today = date(2028, 9, 30)
    assert services.create_application(session, w.op, data).status == S.draft


def test_bar_from_a_leap_day(session, clock, store):
    w = world(session)
    _, lst = _listed(session, w)
    clock.today = date(2028, 2, 29)
    _move(session, w.reviewer, store, lst, "delist", R.false_price_information, "虚假价格")
    assert lst.relist_barred_until == date(2030, 3, 1)


def test_listing_moves_need_reason_known_action_and_real_evidence(session, clock, store):
    w = world(session)
    _, lst = _listed(session, w)
    version = lst.version
    with pytest.raises(Invalid) as exc:
        _move(session, w.reviewer, store, lst, "suspend", R.credit_rating, "  ")
    assert exc.value.errors[0].field == "reason"
    with pytest.raises(Invalid) as exc:
        _move(session, w.reviewer, store, lst, "relist", R.corrected)
    assert exc.value.errors[0].field == "action"
    with pytest.raises(Invalid) as exc:
        _move(session, w.reviewer, store, lst, "suspend", R.credit_rating, "信用评级",
              [("伪装.pdf", TEXT)])
    assert exc.value.errors[0].field == "files"
    session.expire_all()
    lst = session.get(Listing, lst.id)
    assert lst.status == L.listed and lst.version == version
    assert count(session, Attachment, Attachment.listing_id == lst.id) == 0


def test_illegal_listing_moves(session, clock, store):
    w = world(session)
    _, lst = _listed(session, w)
    with pytest.raises(IllegalTransition) as exc:
        _move(session, w.reviewer, store, lst, "resume", R.corrected)
    assert exc.value.status == 409 and exc.value.extra["current_status"] == "listed"
    for who in (w.op, w.viewer):
        with pytest.raises(Forbidden):
            _move(session, who, store, lst, "suspend", R.credit_rating)
    with pytest.raises(Conflict):
        _move(session, w.reviewer, store, lst, "suspend", R.credit_rating,
              expected_version=lst.version + 1)
    assert session.get(Listing, lst.id).status == L.listed
    _move(session, w.reviewer, store, lst, "delist", R.company_request)
    for action in ("suspend", "resume", "delist"):
        with pytest.raises(IllegalTransition):
            with session.begin_nested():
                _move(session, w.reviewer, store, lst, action, R.other)
    assert session.get(Listing, lst.id).status == L.delisted


# --- applications that change a listing --------------------------------------------------------

def _change(session, w, kind, lst, **kw) -> Application:
    return services.create_application(session, w.op, services.ApplicationIn(
        kind=kind, listing_id=lst.id, **kw))


def test_price_change_takes_effect_when_publicity_ends(session, clock):
    w = world(session)
    prod, lst = _listed(session, w, "5.00")
    app = _change(session, w, ApplicationKind.price_change, lst, proposed_price="4.50")
    assert app.product_id == prod.id and app.listing_id == lst.id
    services.set_evidence(session, w.op, app.id, [evidence("4.80", "安徽")])
    drive(session, app, S.publicizing, w.op, w.reviewer)
    assert session.get(Listing, lst.id).price == D("5.00")  # not before publicity ends
    services.end_publicity(session, SYSTEM, as_of=app.publicity_end + timedelta(days=1))
    session.refresh(lst)
    assert lst.price == D("4.50") and lst.application_id == app.id
    assert session.get(Application, app.id).status == S.listed
    (rec,) = audits(session, "listing.price_change", lst.id)
    assert rec.before == {"price": "5.0000"} and rec.after == {"price": "4.5000"}
    assert count(session, Listing, Listing.product_id == prod.id) == 1


def test_price_change_rules(session, clock, store):
    w = world(session)
    _, lst = _listed(session, w, "5.00")
    with pytest.raises(Invalid) as exc:
        _change(session, w, ApplicationKind.price_change, lst, proposed_price="5.00")
    assert [e.field for e in exc.value.errors] == ["proposed_price"]
    with pytest.raises(Invalid) as exc:
        _change(session, w, ApplicationKind.price_change, lst, proposed_price="5.50")
    assert [e.field for e in exc.value.errors] == ["justification"]
    with pytest.raises(Invalid) as exc:
        _change(session, w, ApplicationKind.price_change, lst)
    assert [e.field for e in exc.value.errors] == ["proposed_price"]
    up = _change(session, w, ApplicationKind.price_change, lst, proposed_price="5.50",
                 justification="原料药成本上涨")
    assert up.justification == "原料药成本上涨"
    # Another company's listing cannot be the subject of an application.
    stranger = world(session)
    _, theirs = _listed(session, stranger, "5.50")
    with pytest.raises(Invalid) as exc:
        _change(session, w, ApplicationKind.price_change, theirs, proposed_price="6.00")
    assert [e.field for e in exc.value.errors] == ["listing_id"]
    # A suspended listing cannot change its price.
    _move(session, w.reviewer, store, lst, "suspend", R.credit_rating, "信用")
    services.withdraw(session, w.op, up.id)
    with pytest.raises(Invalid) as exc:
        _change(session, w, ApplicationKind.price_change, lst, proposed_price="4.00")
    assert [e.field for e in exc.value.errors] == ["listing_id"]


def test_delisting_application_delists(session, clock):
    w = world(session)
    _, lst = _listed(session, w)
    with pytest.raises(Invalid) as exc:
        _change(session, w, ApplicationKind.delisting, lst)
    assert [e.field for e in exc.value.errors] == ["justification"]
    app = _change(session, w, ApplicationKind.delisting, lst, proposed_price="1.00",
                  justification="产品停产")
    assert app.proposed_price is None
    drive(session, app, S.publicizing, w.op, w.reviewer)
    assert session.get(Listing, lst.id).status == L.listed
    services.end_publicity(session, SYSTEM, as_of=app.publicity_end + timedelta(days=1))
    session.refresh(lst)
    assert lst.status == L.delisted and lst.reason_code == R.company_request
    assert lst.reason == "产品停产" and lst.relist_barred_until is None
    assert len(audits(session, "listing.withdraw_listing", lst.id)) == 1
    with pytest.raises(Invalid) as exc:
        _change(session, w, ApplicationKind.delisting, lst, justification="再来一次")
    assert [e.field for e in exc.value.errors] == ["listing_id"]


def test_relisting_application_resumes_a_suspended_listing(session, clock, store):
    w = world(session)
    _, lst = _listed(session, w, "5.00")
    with pytest.raises(Invalid) as exc:
        _change(session, w, ApplicationKind.relisting, lst, justification="恢复")
    assert [e.field for e in exc.value.errors] == ["listing_id"]
    _move(session, w.reviewer, store, lst, "suspend", R.supply_failure, "断供")
    app = _change(session, w, ApplicationKind.relisting, lst, justification="已恢复供应")
    assert app.proposed_price == D("5.00")  # the listed price unless a new one is given
    drive(session, app, S.publicizing, w.op, w.reviewer)
    assert session.get(Listing, lst.id).status == L.suspended
    services.end_publicity(session, SYSTEM, as_of=app.publicity_end + timedelta(days=1))
    session.refresh(lst)
    assert lst.status == L.listed and lst.reason_code == R.corrected
    assert lst.reason == "已恢复供应" and lst.price == D("5.00")
    assert len(audits(session, "listing.relist", lst.id)) == 1


def test_sweep_survives_a_listing_changed_during_publicity(session, clock, store):
    """The bureau delists a listing while the company's own delisting (or relisting)
    application is in publicity: the sweep still completes, and lists everything else due."""
    w = world(session)
    _, a = _listed(session, w)
    _, b = _listed(session, w)
    _move(session, w.reviewer, store, b, "suspend", R.supply_failure, "断供")
    delisting = _change(session, w, ApplicationKind.delisting, a, justification="停产")
    relisting = _change(session, w, ApplicationKind.relisting, b, justification="已恢复")
    other = draft(session, w.op, product(session, w.company), price="5.00")
    for app in (delisting, relisting, other):
        drive(session, app, S.publicizing, w.op, w.reviewer)
    _move(session, w.reviewer, store, a, "delist", R.refused_linkage, "拒不联动")
    _move(session, w.reviewer, store, b, "resume", R.corrected, "已整改")
    out = services.end_publicity(session, SYSTEM, as_of=other.publicity_end + timedelta(days=1))
    assert out["listed"] == 3
    for app in (delisting, relisting, other):
        assert session.get(Application, app.id).status == S.listed
    session.refresh(a)
    session.refresh(b)
    # The bureau's decisions stand: the reason code and the relisting bar are kept.
    assert a.status == L.delisted and a.reason_code == R.refused_linkage
    assert a.relist_barred_until == date(2028, 9, 30)
    assert b.status == L.listed


def test_own_listings_and_listable_products(session, clock, store):
    w = world(session)
    prod, lst = _listed(session, w)
    spare = product(session, w.company)
    assert [x.id for x in services.own_listings(session, w.op)] == [lst.id]
    # A listed product is no longer offered for a new listing; it stays the company's own.
    assert {p.id for p in services.listable_products(session, w.op)} == {spare.id}
    assert {p.id for p in services.own_products(session, w.op)} == {prod.id, spare.id}
    other = actor(session, company(session), "operator")
    assert services.own_listings(session, other) == []
    assert services.listable_products(session, other) == []
