"""Whole numbers the database cannot hold never give a 500 (on SQLite and on PostgreSQL).

Every boundary where a number enters is checked once: the ``int`` path converter of every
route (404), the query and form arguments read with ``core.web.int_arg`` and the API's query
models (422 naming the argument), the API's and the pages' input models (422 naming the
field), and upload cells (422 naming row and field). The routes and argument names are
enumerated from the application itself, so a new route or argument is covered by default.
"""
from __future__ import annotations

import io
import re
import tempfile
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from werkzeug.routing import IntegerConverter

from core.app import create_app
from core.models import Organisation, OrgKind
from core.types import utcnow
from listing.models import ProductStatus
from procurement import services
from tests.listing.factories import product
from tests.procurement.factories import batch_in_bidding, cast
from tests.support import api_token, csrf_token, make_org, make_user

ROOT = Path(__file__).resolve().parents[2]
#: Beyond PostgreSQL's ``integer``, beyond ``bigint`` (and SQLite's 64-bit integers), far beyond.
HUGE = (2**31, 2**63, 10**20)
ROLES = ("org_admin", "operator", "reviewer", "viewer")


@cache
def _rules() -> tuple[list[tuple[str, str, tuple[str, ...]]], list[str]]:
    """(rule, method, int argument names) of every route with an ``int`` path argument, and
    the paths of every GET route without arguments — read from a throwaway app."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/rules.db", "YAOCAI_ENV": "testing",
                          "SECRET_KEY": "rules-only-" + "0" * 40, "YAOCAI_INSTANCE": tmp})
        with_ints, plain = [], []
        for rule in app.url_map.iter_rules():
            ints = tuple(name for name, conv in rule._converters.items()
                         if isinstance(conv, IntegerConverter))
            methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
            if ints:
                with_ints += [(rule.rule, m, ints) for m in methods]
            elif not rule.arguments and "GET" in methods and "<" not in rule.rule:
                plain.append(rule.rule)
        app.extensions["yaocai.db"].dispose()
    return sorted(with_ints), sorted(plain)


def _int_arg_names() -> list[str]:
    """Every argument name the pages read with ``int_arg`` (and ``type=int``)."""
    names: set[str] = set()
    for path in ROOT.glob("*/*.py"):
        if ".venv" in path.parts or path.parts[-2] == "tests":
            continue
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r'int_arg\("(\w+)"', text))
        names.update(re.findall(r'\.get\("(\w+)", type=int\)', text))
    return sorted(names)


PATH_CASES = [pytest.param(rule, method, ints, value, id=f"{method} {rule} {value}")
              for rule, method, ints in _rules()[0] for value in HUGE]
QUERY_CASES = [pytest.param(path, id=path) for path in _rules()[1]]


@pytest.fixture
def bureau_admin(session):
    org = make_org(session, OrgKind.bureau, region="330000")
    return make_user(session, org, *ROLES)


def sign_in(client, user) -> None:
    """A logged-in session cookie for ``user`` without the (deliberately slow) password check;
    the login form itself is tested in tests/core/test_auth.py."""
    with client.session_transaction() as cookie:
        cookie["_user_id"] = f"{user.id}:{user.session_epoch}"
        cookie["_fresh"] = True


def test_the_routes_and_arguments_are_enumerated():
    # Guards the enumeration itself: a refactor that finds nothing would make every case vanish.
    assert len(PATH_CASES) >= 3 * 90 and len(QUERY_CASES) >= 20
    assert {"page", "year", "version"} <= set(_int_arg_names())


@pytest.mark.parametrize(("rule", "method", "ints", "value"), PATH_CASES)
def test_an_id_beyond_the_database_in_a_path_matches_no_route(client, bureau_admin, rule,
                                                              method, ints, value):
    sign_in(client, bureau_admin)
    url = rule
    for name in ints:
        url = re.sub(rf"<int:{name}>|<{name}>", str(value), url)
    url = re.sub(r"<(?:\w+:)?(\w+)>", "x", url)  # other (string) arguments
    resp = client.open(url, method=method)
    assert resp.status_code == 404, (url, resp.status_code, resp.get_data(as_text=True)[:300])


@pytest.mark.parametrize("path", QUERY_CASES)
@pytest.mark.parametrize("who", ["anonymous", "bureau"])
def test_huge_query_arguments_are_refused_by_name(client, bureau_admin, path, who):
    if who == "bureau":
        sign_in(client, bureau_admin)
    names = _int_arg_names() + ["per_page", "batch_product_id", "org_id"]
    for value in (10**20, 2**31):
        resp = client.get(path, query_string={name: str(value) for name in names})
        assert resp.status_code < 500, (path, value, resp.get_data(as_text=True)[:300])
        if resp.status_code == 422 and resp.mimetype == "application/problem+json":
            assert {e["field"] for e in resp.json["errors"]} <= set(names)


def test_the_public_search_page_refuses_a_huge_page_number(client):
    resp = client.get("/listing/search?page=99999999999999999999")
    assert resp.status_code == 422
    assert client.get("/api/v1/listing/listings?page=99999999999999999999").json[
        "errors"][0]["field"].endswith("page")


def test_the_holiday_calendar_refuses_a_year_date_cannot_hold(client, bureau_admin):
    sign_in(client, bureau_admin)
    assert client.get("/listing/holidays?year=10000").status_code == 422
    assert client.get("/listing/holidays?year=9999").status_code == 200


# --- request bodies, forms and uploads --------------------------------------------------------

@pytest.fixture
def reporting(session):
    c = cast(session)
    batch, (bp,) = batch_in_bidding(session, c)
    batch.report_deadline = utcnow() + timedelta(days=5)
    session.add(batch)
    session.flush()
    return c, batch, bp


@pytest.mark.parametrize("field", ["usage_last_year", "usage_year_before", "demand"])
@pytest.mark.parametrize("value", HUGE)
def test_a_huge_report_number_through_the_api(client, session, reporting, field, value):
    c, _, bp = reporting
    headers = api_token(session, c.hospitals[0].org)
    body = {"usage_last_year": 1000, "usage_year_before": 800, "demand": 900} | {field: value}
    resp = client.put(f"/api/v1/procurement/batch-products/{bp.id}/report", headers=headers,
                      json=body)
    assert resp.status_code == 422, resp.json
    assert [e["field"] for e in resp.json["errors"]] == [field]


@pytest.mark.parametrize("value", HUGE)
def test_a_huge_report_number_in_the_form(client, session, reporting, value):
    c, batch, bp = reporting
    sign_in(client, make_user(session, c.hospitals[0].org, "operator"))
    path = f"/procurement/batches/{batch.id}/report"
    resp = client.post(path, data={"csrf_token": csrf_token(client, path),
                                   f"usage_last_year-{bp.id}": "1000",
                                   f"usage_year_before-{bp.id}": "800",
                                   f"demand-{bp.id}": str(value)})
    assert resp.status_code == 422


@pytest.mark.parametrize("value", HUGE)
def test_a_huge_report_number_in_an_upload(client, session, reporting, value):
    c, batch, bp = reporting
    headers = api_token(session, c.hospitals[0].org)
    csv = f"品种编号,上年用量,前年用量,需求量\n{bp.code},1000,800,{value}\n".encode()
    resp = client.post(f"/api/v1/procurement/batches/{batch.id}/reports/import",
                       headers=headers, data={"file": (io.BytesIO(csv), "r.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 422, resp.json
    assert [(e["row"], e["field"]) for e in resp.json["errors"]] == [(2, "demand")]


@pytest.mark.parametrize("value", HUGE)
def test_a_huge_id_in_an_application_body(client, session, value):
    from tests.listing.factories import company
    org = company(session)
    headers = api_token(session, org)
    resp = client.post("/api/v1/listing/applications", headers=headers,
                       json={"kind": "new_listing", "product_id": value,
                             "proposed_price": "5.0000"})
    assert resp.status_code == 422, resp.json
    assert "product_id" in {e["field"] for e in resp.json["errors"]}


@pytest.mark.parametrize("field", ["product_id", "capacity"])
@pytest.mark.parametrize("value", HUGE)
def test_a_huge_number_in_a_bid(client, session, field, value):
    c = cast(session)
    batch, (bp,) = batch_in_bidding(session, c)
    now = utcnow()
    batch.bid_opens_at, batch.bid_closes_at = now - timedelta(hours=1), now + timedelta(days=1)
    session.add(batch)
    session.flush()
    services.move_batch(session, c.manager, batch.id, "open_bidding",
                        reason="报量截止前开始投标（测试）")
    own = product(session, c.companies[0].org, status=ProductStatus.active)
    headers = api_token(session, c.companies[0].org)
    body = {"product_id": own.id, "package_price": "10.0000", "capacity": 1000} | {field: value}
    resp = client.put(f"/api/v1/procurement/batch-products/{bp.id}/bid", headers=headers,
                      json=body)
    assert resp.status_code == 422, resp.json
    assert [e["field"] for e in resp.json["errors"]] == [field]


@pytest.mark.parametrize("value", HUGE)
def test_a_huge_number_in_a_batch_product(client, session, value):
    c = cast(session)
    batch = services.create_batch(session, c.manager, services.BatchIn(
        code="ZJ-HUGE", name="批次", report_deadline=utcnow() + timedelta(days=3)))
    headers = api_token(session, session.get(Organisation, c.manager.org_id))
    resp = client.post(f"/api/v1/procurement/batches/{batch.id}/products", headers=headers,
                       json={"code": "P01", "generic_name": "阿托伐他汀钙片",
                             "dosage_form": "普通片", "smallest_unit": "片",
                             "max_ucp": "2.0000", "rep_units": value})
    assert resp.status_code == 422, resp.json
    assert [e["field"] for e in resp.json["errors"]] == ["rep_units"]
