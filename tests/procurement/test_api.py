"""The procurement JSON API under /api/v1/procurement: real organisation API tokens (and a
logged-in session), the services underneath, problem+json errors."""
from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import select

from core import jobs, rules
from core.migrate import upgrade
from core.models import Organisation
from core.types import utcnow
from procurement import services
from procurement import services_allocation as alloc
from procurement.models import (
    Agreement,
    AgreementStatus,
    AwardStage,
    BatchStatus,
    Bid,
    VolumeReport,
    Winner,
)
from procurement.permissions import (
    AGREEMENT_READ,
    AGREEMENT_SIGN,
    BATCH_MANAGE,
    BATCH_READ,
    BID_EDIT,
    BID_READ,
    CHOICE_EDIT,
    REGION_PICK,
    REPORT_EDIT,
    REPORT_OVERVIEW,
    REPORT_READ,
)
from procurement.rules import ProcurementRuleParams
from tests.conftest import make_test_app
from tests.listing.factories import product
from tests.procurement.factories import (
    batch_in_bidding,
    bid,
    cast,
    report,
    to_allocating,
    to_evaluating,
)
from tests.support import (
    api_token,
    csrf_token,
    drop_scratch_database,
    login,
    make_user,
    scratch_database,
)

API = "/api/v1/procurement"
HOSPITAL = (BATCH_READ, REPORT_READ, REPORT_EDIT, CHOICE_EDIT, AGREEMENT_READ, AGREEMENT_SIGN)
COMPANY = (BATCH_READ, BID_READ, BID_EDIT, REGION_PICK, AGREEMENT_READ, AGREEMENT_SIGN)
BUREAU = (BATCH_READ, BATCH_MANAGE, REPORT_READ, REPORT_OVERVIEW, BID_READ, AGREEMENT_READ)
CSV_HEADER = "product_code,usage_last_year,usage_year_before,demand,explanation\n"


@pytest.fixture(autouse=True)
def _no_leftover_messages(app):
    yield
    # A run started through the API sends its job to the in-process broker, where no worker
    # listens in the tests (the test runs the job itself); drop the message.
    broker = app.extensions["yaocai.broker"]
    if isinstance(broker, StubBroker):
        broker.flush_all()


def token(session, org, *scopes: str) -> dict[str, str]:
    """An API token of ``org`` with ``scopes``."""
    return api_token(session, org, *scopes)


def bureau_token(session, c, *scopes: str) -> dict[str, str]:
    return token(session, session.get(Organisation, c.manager.org_id), *(scopes or BUREAU))


def problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.json


def reporting_now(session, c, products: int = 1):
    """A batch taking volume reports now (the factory's deadline is in the past)."""
    batch, bps = batch_in_bidding(session, c, products=products)
    batch.report_deadline = utcnow() + timedelta(days=5)
    session.add(batch)
    session.flush()
    return batch, bps


def bidding_now(session, c):
    batch, bps = batch_in_bidding(session, c)
    now = utcnow()
    batch.bid_opens_at, batch.bid_closes_at = now - timedelta(hours=1), now + timedelta(days=1)
    session.add(batch)
    session.flush()
    services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    return batch, bps


REPORT = {"usage_last_year": 1000, "usage_year_before": 800, "demand": 900}


# --- the OpenAPI document ---------------------------------------------------------------------

def test_openapi_lists_the_procurement_paths(client):
    spec = client.get("/api/openapi.json").json
    paths = spec["paths"]
    for path, method in [
        ("/batches", "get"), ("/batches/{batch_id}", "get"),
        ("/batches/{batch_id}/reports", "get"), ("/reports/{report_id}", "get"),
        ("/batch-products/{bp_id}/report", "put"), ("/batches/{batch_id}/reports/import", "post"),
        ("/batches/{batch_id}/missing-reporters", "get"), ("/batches/{batch_id}/bids", "get"),
        ("/batch-products/{bp_id}/bid", "put"), ("/bids/{bid_id}/withdraw", "post"),
        ("/batches/{batch_id}/results", "get"), ("/batch-products/{bp_id}/regions", "post"),
        ("/batch-products/{bp_id}/regions/finish", "post"),
        ("/batches/{batch_id}/choices", "get"), ("/batch-products/{bp_id}/choices", "put"),
        ("/batches/{batch_id}/runs", "post"), ("/runs/{run_id}", "get"),
        ("/runs/{run_id}/lines", "get"), ("/runs/{run_id}/publish", "post"),
        ("/batches/{batch_id}/agreements", "get"), ("/agreements/{agreement_id}", "get"),
        ("/batches/{batch_id}/agreements/summary", "get"),
        ("/agreements/{agreement_id}/sign", "post"),
        ("/batches/{batch_id}/agreements/sign-all", "post"),
    ]:
        assert method in paths.get(API + path, {}), f"{method.upper()} {path} missing"
    sign = paths[API + "/agreements/{agreement_id}/sign"]["post"]
    assert any(p["in"] == "header" and p["name"] == "If-Match" for p in sign["parameters"])
    assert sign["security"] == [{"bearer": []}]
    upload = paths[API + "/batches/{batch_id}/reports/import"]["post"]["requestBody"]
    assert "multipart/form-data" in upload["content"]
    (tag,) = [t for t in spec["tags"] if t["name"] == "procurement"]
    assert "If-Match" in tag["description"] and "fen" in tag["description"]
    price = spec["components"]["schemas"]["AgreementOut"]["properties"]["unit_price"]
    assert price["type"] == "string" and price["pattern"].endswith(r"\.[0-9]{4}$")


# --- batches ----------------------------------------------------------------------------------

def test_batches_list_and_detail_with_products_and_etag(client, session):
    c = cast(session)
    batch, (bp,) = reporting_now(session, c)
    draft = services.create_batch(session, c.manager, services.BatchIn(code="ZJ-DRAFT",
                                                                       name="草稿批次"))
    hosp = token(session, c.hospitals[0].org, *HOSPITAL)
    bureau = bureau_token(session, c)
    listed = client.get(f"{API}/batches", headers=hosp).json
    assert [b["code"] for b in listed["items"]] == [batch.code]  # a draft is the bureau's
    assert {b["code"] for b in client.get(f"{API}/batches", headers=bureau).json["items"]} \
        == {batch.code, draft.code}
    problem(client.get(f"{API}/batches/{draft.id}", headers=hosp), 404)
    resp = client.get(f"{API}/batches/{batch.id}", headers=hosp)
    assert resp.status_code == 200 and resp.headers["ETag"] == f'"{batch.version}"'
    body = resp.json
    assert body["status"] == "reporting" and body["allowed_actions"] == []
    assert body["products"] == [{
        "id": bp.id, "batch_id": batch.id, "code": "P01", "generic_name": "阿托伐他汀钙片",
        "dosage_form": "普通片", "rep_content_value": "10.0000", "rep_content_unit": "mg",
        "rep_volume_ml": None, "rep_units": 1, "smallest_unit": "片", "max_ucp": "2.0000"}]
    assert "open_bidding" in client.get(f"{API}/batches/{batch.id}",
                                        headers=bureau).json["allowed_actions"]


def test_bureau_creates_a_batch_and_moves_it_with_if_match(client, session):
    c = cast(session)
    bureau = bureau_token(session, c)
    resp = client.post(f"{API}/batches", headers=bureau, json={
        "code": "ZJ-API-01", "name": "接口批次",
        "report_deadline": (utcnow() + timedelta(days=3)).isoformat()})
    assert resp.status_code == 201, resp.json
    batch_id = resp.json["id"]
    # Prices are decimal strings: a JSON number is refused, naming the field.
    product_in = {"code": "P01", "generic_name": "阿托伐他汀钙片", "dosage_form": "普通片",
                  "rep_content_value": "10", "rep_content_unit": "mg", "smallest_unit": "片",
                  "max_ucp": 2.5}
    err = problem(client.post(f"{API}/batches/{batch_id}/products", headers=bureau,
                              json=product_in), 422)
    assert [e["field"] for e in err["errors"]] == ["max_ucp"]
    resp = client.post(f"{API}/batches/{batch_id}/products", headers=bureau,
                       json=product_in | {"max_ucp": "2.5"})
    assert resp.status_code == 201 and resp.json["max_ucp"] == "2.5000"
    version = client.get(f"{API}/batches/{batch_id}", headers=bureau).json["version"]
    stale = problem(client.post(f"{API}/batches/{batch_id}/actions/open_reporting",
                                headers=bureau | {"If-Match": f'"{version + 1}"'}), 409)
    assert stale["type"] == "/problems/stale-version" and stale["current_status"] == "draft"
    problem(client.post(f"{API}/batches/{batch_id}/actions/open_reporting",
                        headers=bureau | {"If-Match": "yesterday"}), 422)
    moved = client.post(f"{API}/batches/{batch_id}/actions/open_reporting",
                        headers=bureau | {"If-Match": str(version)})
    assert moved.status_code == 200 and moved.json["status"] == "reporting"
    illegal = problem(client.post(f"{API}/batches/{batch_id}/actions/publicize",
                                  headers=bureau), 409)
    assert illegal["type"] == "/problems/illegal-transition"
    assert illegal["current_status"] == "reporting"
    err = problem(client.post(f"{API}/batches/{batch_id}/actions/explode", headers=bureau), 422)
    assert err["errors"][0]["field"] == "action"


# --- volume reports ---------------------------------------------------------------------------

def test_hospital_token_reports_and_reads_only_its_own(client, session):
    c = cast(session)
    batch, (bp,) = reporting_now(session, c)
    h1 = token(session, c.hospitals[0].org, *HOSPITAL)
    h2 = token(session, c.hospitals[1].org, *HOSPITAL)
    resp = client.put(f"{API}/batch-products/{bp.id}/report", headers=h1, json=REPORT)
    assert resp.status_code == 200, resp.json
    mine = resp.json
    assert (mine["org_id"], mine["demand"], mine["source"]) == (c.hospitals[0].org.id, 900,
                                                                "entered")
    # A correction replaces the report (one per hospital and product), from the version read.
    assert resp.headers["ETag"] == f'"{mine["version"]}"'
    again = client.put(f"{API}/batch-products/{bp.id}/report",
                       headers=h1 | {"If-Match": resp.headers["ETag"]},
                       json=REPORT | {"demand": 950})
    assert again.json["id"] == mine["id"] and again.json["demand"] == 950
    theirs = client.put(f"{API}/batch-products/{bp.id}/report", headers=h2,
                        json=REPORT | {"demand": 400, "explanation": "门诊量下降"}).json
    listed = client.get(f"{API}/batches/{batch.id}/reports", headers=h1).json
    assert [r["id"] for r in listed["items"]] == [mine["id"]] and listed["total"] == 1
    assert client.get(f"{API}/reports/{mine['id']}", headers=h1).status_code == 200
    ghost = problem(client.get(f"{API}/reports/{theirs['id']}", headers=h1), 404)
    assert ghost["type"] == "/problems/not-found"
    assert problem(client.get(f"{API}/reports/99999999", headers=h1), 404)["title"] \
        == ghost["title"]
    bureau = bureau_token(session, c)
    everyone = client.get(f"{API}/batches/{batch.id}/reports", headers=bureau).json
    assert {r["id"] for r in everyone["items"]} == {mine["id"], theirs["id"]}
    assert client.get(f"{API}/batches/{batch.id}/missing-reporters",
                      headers=bureau).json == {"items": []}


def test_a_report_correction_needs_the_version_it_was_read_at(client, session):
    c = cast(session)
    _, (bp,) = reporting_now(session, c)
    h1 = token(session, c.hospitals[0].org, *HOSPITAL)
    url = f"{API}/batch-products/{bp.id}/report"
    first = client.put(url, headers=h1, json=REPORT)
    assert first.status_code == 200, first.json
    version = first.json["version"]
    # Without If-Match a correction could overwrite a colleague's unseen: 428.
    missing = problem(client.put(url, headers=h1, json=REPORT | {"demand": 901}), 428)
    assert missing["type"] == "/problems/precondition-required"
    # Stale (also as a weak tag or in a list of other versions): 409, nothing written.
    for stale in (f'"{version + 1}"', f'W/"{version + 7}"', f'"{version + 1}", "x"', '"abc"'):
        err = problem(client.put(url, headers=h1 | {"If-Match": stale},
                                 json=REPORT | {"demand": 902}), 409)
        assert err["type"] == "/problems/stale-version"
        assert err["current_version"] == version
    # Not an entity-tag at all: 422 naming the header, never a 500.
    for garbage in ("abc", '"3', "W/3", '"1" "2"'):
        err = problem(client.put(url, headers=h1 | {"If-Match": garbage},
                                 json=REPORT | {"demand": 903}), 422)
        assert [e["field"] for e in err["errors"]] == ["If-Match"]
    assert client.get(f"{API}/reports/{first.json['id']}", headers=h1).json["demand"] == 900
    # Every accepted spelling of the current version, and "*", write.
    for spelling in (f'"{version}"', f'W/"{version + 1}"', f"{version + 2}",
                     f'"99", "{version + 3}"', "*"):
        ok = client.put(url, headers=h1 | {"If-Match": spelling}, json=REPORT | {"demand": 910})
        assert ok.status_code == 200, (spelling, ok.json)
    assert ok.json["version"] == version + 5 and ok.headers["ETag"] == f'"{version + 5}"'


def test_report_input_errors_and_a_closed_batch(client, session):
    c = cast(session)
    batch, (bp,) = reporting_now(session, c)
    h1 = token(session, c.hospitals[0].org, *HOSPITAL)
    low = problem(client.put(f"{API}/batch-products/{bp.id}/report", headers=h1,
                             json=REPORT | {"demand": 100}), 422)
    assert [e["field"] for e in low["errors"]] == ["explanation"]
    neg = problem(client.put(f"{API}/batch-products/{bp.id}/report", headers=h1,
                             json=REPORT | {"demand": -1}), 422)
    assert [e["field"] for e in neg["errors"]] == ["demand"]
    services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    closed = problem(client.put(f"{API}/batch-products/{bp.id}/report", headers=h1,
                                json=REPORT), 409)
    assert closed["current_status"] == "bidding"
    session.expire_all()
    assert not session.exec(select(VolumeReport).where(VolumeReport.batch_id == batch.id)).all()


def test_token_without_the_scope_is_403(client, session):
    c = cast(session)
    batch, (bp,) = reporting_now(session, c)
    read_only = token(session, c.hospitals[0].org, BATCH_READ)
    assert client.get(f"{API}/batches/{batch.id}", headers=read_only).status_code == 200
    denied = problem(client.put(f"{API}/batch-products/{bp.id}/report", headers=read_only,
                                json=REPORT), 403)
    assert denied["permission"] == REPORT_EDIT
    assert problem(client.get(f"{API}/batches/{batch.id}/reports", headers=read_only),
                   403)["permission"] == REPORT_READ
    # A company's token cannot hold a hospital's scope, and bids are not a hospital's.
    hosp = token(session, c.hospitals[0].org, *HOSPITAL)
    problem(client.get(f"{API}/batches/{batch.id}/bids", headers=hosp), 403)
    problem(client.get(f"{API}/batches/{batch.id}/missing-reporters", headers=hosp), 403)
    assert problem(client.get(f"{API}/batches", headers={"Authorization": "Bearer yc_nope"}),
                   401)["type"] == "/problems/unauthorized"
    assert client.get(f"{API}/batches").status_code == 401


def test_upload_with_bad_rows_is_422_listing_the_rows_and_saves_nothing(client, session):
    c = cast(session)
    batch, bps = reporting_now(session, c, products=2)
    h1 = token(session, c.hospitals[0].org, *HOSPITAL)
    bad = (CSV_HEADER + "P01,1000,800,900,\n"   # line 2: fine
           "P99,10,10,10,\n"                    # line 3: no such product
           "P02,12x,800,900,\n"                 # line 4: not a number
           "P01,1000,800,900,\n")               # line 5: P01 again
    resp = client.post(f"{API}/batches/{batch.id}/reports/import", headers=h1,
                       data={"file": (io.BytesIO(bad.encode()), "reports.csv")},
                       content_type="multipart/form-data")
    err = problem(resp, 422)
    assert sorted((e["row"], e["field"]) for e in err["errors"]) == [
        (3, "product_code"), (4, "usage_last_year"), (5, "product_code")]
    session.expire_all()
    assert not session.exec(select(VolumeReport).where(VolumeReport.batch_id == batch.id)).all()
    # No file at all names the field.
    missing = problem(client.post(f"{API}/batches/{batch.id}/reports/import", headers=h1,
                                  data={}, content_type="multipart/form-data"), 422)
    assert [e["field"] for e in missing["errors"]] == ["file"]
    # An Excel workbook of good rows is imported whole.
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(["品种编号", "上年用量", "前年用量", "需求量", "说明"])
    ws.append(["P01", 1000, 800, 900, None])
    ws.append(["P02", 500, 500, 100, "改用其他品种"])
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    ok = client.post(f"{API}/batches/{batch.id}/reports/import", headers=h1,
                     data={"file": (buf, "reports.xlsx")}, content_type="multipart/form-data")
    assert ok.status_code == 201, ok.json
    assert ok.json["imported"] == 2
    assert {r["source"] for r in ok.json["items"]} == {"upload"}
    listed = client.get(f"{API}/batches/{batch.id}/reports", headers=h1).json
    assert sorted(r["demand"] for r in listed["items"]) == [100, 900]


def test_logged_in_session_uses_the_api_and_writes_need_the_csrf_header(client, session):
    c = cast(session)
    batch, (bp,) = reporting_now(session, c)
    user = make_user(session, c.hospitals[0].org, "operator")
    login(client, user.username)
    assert client.get(f"{API}/batches/{batch.id}/reports").json["items"] == []
    refused = problem(client.put(f"{API}/batch-products/{bp.id}/report", json=REPORT), 403)
    assert refused["type"] == "/problems/csrf"
    resp = client.put(f"{API}/batch-products/{bp.id}/report", json=REPORT,
                      headers={"X-CSRFToken": csrf_token(client)})
    assert resp.status_code == 200 and resp.json["org_id"] == c.hospitals[0].org.id


# --- bids -------------------------------------------------------------------------------------

def test_bid_prices_are_null_for_all_but_the_bidder_until_bidding_closes(client, session):
    c = cast(session)
    batch, (bp,) = bidding_now(session, c)
    a, b = c.companies[:2]
    ta, tb = token(session, a.org, *COMPANY), token(session, b.org, *COMPANY)
    bureau = bureau_token(session, c)
    pa, pb = (product(session, p.org, content="10", units=1) for p in (a, b))
    # A price must be a decimal string: a JSON number is refused, naming the field.
    err = problem(client.put(f"{API}/batch-products/{bp.id}/bid", headers=ta,
                             json={"product_id": pa.id, "package_price": 0.5}), 422)
    assert [e["field"] for e in err["errors"]] == ["package_price"]
    err = problem(client.put(f"{API}/batch-products/{bp.id}/bid", headers=ta,
                             json={"product_id": pa.id, "package_price": "0.12345"}), 422)
    assert [e["field"] for e in err["errors"]] == ["package_price"]
    err = problem(client.put(f"{API}/batch-products/{bp.id}/bid", headers=ta,
                             json={"product_id": pb.id, "package_price": "0.50"}), 422)
    assert [e["field"] for e in err["errors"]] == ["product_id"]  # another company's product
    resp = client.put(f"{API}/batch-products/{bp.id}/bid", headers=ta,
                      json={"product_id": pa.id, "package_price": "0.5", "capacity": 5000})
    assert resp.status_code == 200, resp.json
    own = resp.json
    assert (own["package_price"], own["ucp"], own["sealed"]) == ("0.5000", "0.5000", False)
    client.put(f"{API}/batch-products/{bp.id}/bid", headers=tb,
               json={"product_id": pb.id, "package_price": "0.8000"})

    seen_by_a = client.get(f"{API}/batches/{batch.id}/bids", headers=ta).json["items"]
    assert [(x["org_id"], x["package_price"]) for x in seen_by_a] == [(a.org.id, "0.5000")]
    seen_by_b = client.get(f"{API}/batches/{batch.id}/bids", headers=tb).json["items"]
    assert [(x["org_id"], x["package_price"]) for x in seen_by_b] == [(b.org.id, "0.8000")]
    sealed = client.get(f"{API}/batches/{batch.id}/bids", headers=bureau).json["items"]
    assert sorted(x["org_id"] for x in sealed) == sorted([a.org.id, b.org.id])
    assert {(x["package_price"], x["ucp"], x["capacity"], x["sealed"]) for x in sealed} \
        == {(None, None, None, True)}

    # The window closes: the bureau sees every price.
    batch.bid_closes_at = utcnow() - timedelta(minutes=1)
    session.add(batch)
    session.flush()
    opened = client.get(f"{API}/batches/{batch.id}/bids", headers=bureau).json["items"]
    assert sorted((x["package_price"], x["capacity"]) for x in opened) == [
        ("0.5000", 5000), ("0.8000", None)]
    assert not any(x["sealed"] for x in opened)
    late = problem(client.put(f"{API}/batch-products/{bp.id}/bid", headers=ta,
                              json={"product_id": pa.id, "package_price": "0.4"}), 409)
    assert late["current_status"] == "bidding"


def test_company_withdraws_its_own_bid_once(client, session):
    c = cast(session)
    batch, (bp,) = bidding_now(session, c)
    a, b = c.companies[:2]
    ta, tb = token(session, a.org, *COMPANY), token(session, b.org, *COMPANY)
    pa = product(session, a.org, content="10", units=1)
    bid_id = client.put(f"{API}/batch-products/{bp.id}/bid", headers=ta,
                        json={"product_id": pa.id, "package_price": "0.5"}).json["id"]
    problem(client.post(f"{API}/bids/{bid_id}/withdraw", headers=tb), 404)
    resp = client.post(f"{API}/bids/{bid_id}/withdraw", headers=ta)
    assert resp.status_code == 200 and resp.json["status"] == "withdrawn"
    again = problem(client.post(f"{API}/bids/{bid_id}/withdraw", headers=ta), 409)
    assert again["current_status"] == "withdrawn"
    session.expire_all()
    assert session.get(Bid, bid_id).status.value == "withdrawn"


def test_bureau_selects_the_winners_and_results_are_public_from_the_publicity(client, session):
    c = cast(session)
    batch, (bp,) = batch_in_bidding(session, c)
    services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    bid(session, c.companies[0], bp, "0.50")
    bid(session, c.companies[1], bp, "0.60")
    to_evaluating(session, c, batch)
    bureau, hosp = bureau_token(session, c), token(session, c.hospitals[0].org, *HOSPITAL)
    early = problem(client.get(f"{API}/batches/{batch.id}/results", headers=hosp), 409)
    assert early["current_status"] == "evaluating"
    problem(client.post(f"{API}/batches/{batch.id}/selection", headers=hosp), 403)
    resp = client.post(f"{API}/batches/{batch.id}/selection", headers=bureau)
    assert resp.status_code == 200, resp.json
    (res,) = resp.json["items"]
    assert res["product"]["id"] == bp.id and res["selection"]["bidders"] == 2
    verdicts = res["selection"]["detail"]["verdicts"]
    assert [(v["ucp"], v["package_price"]) for v in verdicts] == [("0.5000", "0.5000"),
                                                                  ("0.6000", "0.6000")]
    publicized = client.post(f"{API}/batches/{batch.id}/actions/publicize", headers=bureau)
    assert publicized.json["status"] == "publicizing"
    (public,) = client.get(f"{API}/batches/{batch.id}/results", headers=hosp).json["items"]
    # Others read the winners' verdicts only: the losing company's price is not published.
    assert [v["bid_id"] for v in public["selection"]["detail"]["verdicts"]] == [
        v["bid_id"] for v in verdicts if v["won"]] and len(verdicts) == 2
    assert public["winners"] == res["winners"]
    # Supply regions are picked once the results are final.
    assert problem(client.get(f"{API}/batch-products/{bp.id}/regions", headers=hosp),
                   409)["current_status"] == "publicizing"


# --- award and allocation, end to end ---------------------------------------------------------

@pytest.fixture
def allocating(session):
    """The allocation world of ``test_allocation_runs``: winners W1 (ucp 0.50) and W2 (ucp
    0.80, capacity 200); hospitals H1 in 杭州 (report 1,000, agreed 600) and H2 in 宁波 (500,
    agreed 300); the batch at the region step."""
    c = cast(session, cities=("330106", "330203"), companies=2)
    current = rules.current(session, services.RULE_SET)
    rules.publish(session, c.manager, services.RULE_SET,
                  ProcurementRuleParams(**(current.params.model_dump() | {"entrant_cap_k": 0})))
    batch, (bp,) = batch_in_bidding(session, c)
    batch.cycle_start = date(2027, 1, 1)
    report(session, c, bp, [1000, 500])
    services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    bid(session, c.companies[0], bp, "0.50")
    bid(session, c.companies[1], bp, "0.80", capacity=200)
    to_allocating(session, c, batch)
    return c, batch, bp


def test_award_and_allocation_through_the_api(app, client, session, allocating):
    c, batch, bp = allocating
    (h1, h2), (w1, w2) = c.hospitals, c.companies
    th1, th2 = (token(session, h.org, *HOSPITAL) for h in (h1, h2))
    tw1, tw2 = (token(session, w.org, *COMPANY) for w in (w1, w2))
    bureau = bureau_token(session, c)

    # The explained results are public now; prices are 4-place strings.
    (res,) = client.get(f"{API}/batches/{batch.id}/results", headers=th1).json["items"]
    assert res["selection"]["bidders"] == 2 and res["selection"]["agreed_ratio"] == "0.6000"
    assert res["selection"]["anchor"] == "0.5000"
    assert [v["rule"] for v in res["selection"]["detail"]["verdicts"]] == ["won_multiplier"] * 2
    assert [(x["org_id"], x["rank"], x["ucp"]) for x in res["winners"]] == [
        (w1.org.id, 1, "0.5000"), (w2.org.id, 2, "0.8000")]
    winner = {x["org_id"]: x["id"] for x in res["winners"]}

    # Winners pick regions in ucp order, through their tokens.
    board = client.get(f"{API}/batch-products/{bp.id}/regions", headers=th1).json
    assert board["turn_winner_id"] == winner[w1.org.id] and board["picks"] == []
    turn = problem(client.post(f"{API}/batch-products/{bp.id}/regions", headers=tw2,
                               json={"region_code": "330200"}), 409)
    assert turn["current_status"] == "allocating"
    problem(client.post(f"{API}/batch-products/{bp.id}/regions", headers=th1,
                        json={"region_code": "330100"}), 403)  # no such scope for a hospital
    for headers, region in ((tw1, "330100"), (tw2, "330200"), (tw1, "330200")):
        resp = client.post(f"{API}/batch-products/{bp.id}/regions", headers=headers,
                           json={"region_code": region})
        assert resp.status_code == 201, resp.json
    bad = problem(client.post(f"{API}/batch-products/{bp.id}/regions", headers=tw2,
                              json={"region_code": "110100"}), 422)
    assert bad["errors"][0]["field"] == "region_code"
    board = client.post(f"{API}/batch-products/{bp.id}/regions/finish", headers=tw2).json
    assert board["turn_winner_id"] is None and board["regions"] == ["330100", "330200"]
    assert sorted((p["winner_id"], p["region_code"]) for p in board["picks"]) == sorted([
        (winner[w1.org.id], "330100"), (winner[w2.org.id], "330200"),
        (winner[w1.org.id], "330200")])
    # Hospitals choose only once the regions are closed.
    assert problem(client.get(f"{API}/batches/{batch.id}/choices", headers=th2),
                   409)["current_status"] == "allocating"
    closed = client.post(f"{API}/batches/{batch.id}/actions/close_regions", headers=bureau)
    assert closed.status_code == 200 and closed.json["award_stage"] == AwardStage.choice.value

    (opts,) = client.get(f"{API}/batches/{batch.id}/choices", headers=th2).json["items"]
    assert [x["id"] for x in opts["winners"]] == [winner[w1.org.id], winner[w2.org.id]]
    assert opts["ranks"] is None
    dup = problem(client.put(f"{API}/batch-products/{bp.id}/choices", headers=th2, json={
        "ranks": [{"winner_id": winner[w2.org.id], "rank": 1},
                  {"winner_id": winner[w2.org.id], "rank": 2}]}), 422)
    assert dup["errors"][0]["field"] == f"rank_{winner[w2.org.id]}"
    chosen = client.put(f"{API}/batch-products/{bp.id}/choices", headers=th2, json={
        "ranks": [{"winner_id": winner[w2.org.id], "rank": 1},
                  {"winner_id": winner[w1.org.id], "rank": 2}]})
    assert chosen.status_code == 200 and chosen.json["ranks"] == [
        {"winner_id": winner[w2.org.id], "rank": 1}, {"winner_id": winner[w1.org.id], "rank": 2}]
    # H1 (杭州) is served by W1 only.
    (opts,) = client.get(f"{API}/batches/{batch.id}/choices", headers=th1).json["items"]
    assert [x["id"] for x in opts["winners"]] == [winner[w1.org.id]]

    # The bureau queues a run; the test runs its job here, as the allocation tests do.
    started = client.post(f"{API}/batches/{batch.id}/runs", headers=bureau)
    assert started.status_code == 202 and started.json["status"] == "queued"
    run_id, job_id = started.json["id"], started.json["job_id"]
    assert problem(client.post(f"{API}/batches/{batch.id}/runs", headers=bureau),
                   409)["current_status"] == "queued"
    with app.app_context():
        jobs.run_job(app, jobs.registered_jobs()[alloc.JOB_NAME], job_id)
    session.expire_all()
    run = client.get(f"{API}/runs/{run_id}", headers=bureau)
    assert run.json["status"] == "optimal" and run.json["agreed_units"] == 900
    assert run.json["total_cost_fen"] == 600 * 50 + 200 * 80 + 100 * 50
    assert run.headers["ETag"] == f'"{run.json["version"]}"'
    problem(client.get(f"{API}/runs/{run_id}", headers=th1), 404)  # runs are the bureau's
    assert client.get(f"{API}/batches/{batch.id}/runs", headers=th1).json == {"items": []}
    lines = client.get(f"{API}/runs/{run_id}/lines", headers=bureau).json
    assert lines["total"] == 3
    assert sorted((x["hospital_code"], x["volume"]) for x in lines["items"]) == sorted([
        (h1.org.code, 600), (h2.org.code, 200), (h2.org.code, 100)])

    stale = problem(client.post(f"{API}/runs/{run_id}/publish",
                                headers=bureau | {"If-Match": str(run.json["version"] + 5)}),
                    409)
    assert stale["current_status"] == "optimal"
    published = client.post(f"{API}/runs/{run_id}/publish",
                            headers=bureau | {"If-Match": run.headers["ETag"]})
    assert published.status_code == 200, published.json
    assert (published.json["status"], published.json["agreements"]) == ("published", 3)
    assert problem(client.post(f"{API}/runs/{run_id}/publish", headers=bureau),
                   409)["current_status"] == "published"

    # Agreements: each side sees its own, amounts in fen, prices as strings.
    mine = client.get(f"{API}/batches/{batch.id}/agreements", headers=th1).json
    (a1,) = mine["items"]
    assert (a1["volume"], a1["unit_price"], a1["amount_fen"], a1["status"]) == (
        600, "0.5000", 30000, "proposed")
    assert (a1["starts_on"], a1["ends_on"]) == ("2027-01-01", "2027-12-31")
    theirs = client.get(f"{API}/batches/{batch.id}/agreements", headers=th2).json["items"]
    assert {a["hospital_id"] for a in theirs} == {h2.org.id}
    problem(client.get(f"{API}/agreements/{theirs[0]['id']}", headers=th1), 404)
    problem(client.post(f"{API}/agreements/{theirs[0]['id']}/sign", headers=th1), 404)
    w2_rows = client.get(f"{API}/batches/{batch.id}/agreements", headers=tw2).json["items"]
    assert [(a["hospital_id"], a["volume"]) for a in w2_rows] == [(h2.org.id, 200)]
    assert client.get(f"{API}/batches/{batch.id}/agreements?status=signed",
                      headers=th1).json["total"] == 0

    got = client.get(f"{API}/agreements/{a1['id']}", headers=th1)
    etag = got.headers["ETag"]
    stale = problem(client.post(f"{API}/agreements/{a1['id']}/sign",
                                headers=th1 | {"If-Match": f'"{a1["version"] + 1}"'}), 409)
    assert stale["type"] == "/problems/stale-version"
    assert (stale["current_status"], stale["current_version"]) == ("proposed", a1["version"])
    signed = client.post(f"{API}/agreements/{a1['id']}/sign", headers=th1 | {"If-Match": etag})
    assert signed.status_code == 200 and signed.json["status"] == "hospital_signed"
    assert signed.json["hospital_signed_at"] is not None
    assert signed.headers["ETag"] == f'"{signed.json["version"]}"'
    twice = problem(client.post(f"{API}/agreements/{a1['id']}/sign", headers=th1), 409)
    assert twice["type"] == "/problems/illegal-transition"
    assert twice["current_status"] == "hospital_signed"
    bureau_sign = bureau_token(session, c, AGREEMENT_READ)
    problem(client.post(f"{API}/agreements/{a1['id']}/sign", headers=bureau_sign), 403)

    # The rest in bulk, side by side; a second sign-all finds nothing left.
    for headers, n in ((tw1, 2), (tw2, 1), (th2, 2)):
        resp = client.post(f"{API}/batches/{batch.id}/agreements/sign-all", headers=headers,
                           json={"year": 1})
        assert resp.json == {"signed": n}, (resp.json, n)
    assert client.post(f"{API}/batches/{batch.id}/agreements/sign-all", headers=th2,
                       json={"year": 1}).json == {"signed": 0}
    problem(client.post(f"{API}/batches/{batch.id}/agreements/sign-all", headers=th2,
                        json={}), 422)
    summary = client.get(f"{API}/batches/{batch.id}/agreements/summary", headers=bureau).json
    assert summary == {"items": [{"year": 1, "status": "signed", "count": 3, "units": 900,
                                  "amount_fen": 30000 + 16000 + 5000}]}
    assert client.get(f"{API}/batches/{batch.id}/agreements/summary", headers=th1).json == {
        "items": [{"year": 1, "status": "signed", "count": 1, "units": 600,
                   "amount_fen": 30000}]}
    session.expire_all()
    assert {a.status for a in session.exec(select(Agreement).where(
        Agreement.batch_id == batch.id))} == {AgreementStatus.signed}
    assert session.exec(select(Winner).where(Winner.batch_id == batch.id)).first() is not None
    executed = client.post(f"{API}/batches/{batch.id}/actions/execute", headers=bureau)
    assert executed.json["status"] == BatchStatus.executing.value

    # The next contract year: the hospital may raise its renewal's volume, never lower it.
    session.expire_all()
    assert alloc.renew(session, c.manager, batch.id, 2) == 3
    (renewal,) = client.get(f"{API}/batches/{batch.id}/agreements?year=2",
                            headers=th1).json["items"]
    assert (renewal["previous_id"], renewal["volume"]) == (a1["id"], 600)
    seen = th1 | {"If-Match": f'"{renewal["version"]}"'}
    problem(client.put(f"{API}/agreements/{renewal['id']}/volume", headers=th1,
                       json={"volume": 700}), 428)  # a volume changes only from a version read
    low = problem(client.put(f"{API}/agreements/{renewal['id']}/volume", headers=seen,
                             json={"volume": 500}), 422)
    assert [e["field"] for e in low["errors"]] == ["volume"]
    problem(client.put(f"{API}/agreements/{renewal['id']}/volume", json={"volume": 700},
                       headers=tw1 | {"If-Match": seen["If-Match"]}), 403)  # not the company
    raised = client.put(f"{API}/agreements/{renewal['id']}/volume", json={"volume": 700},
                        headers=th1 | {"If-Match": str(renewal["version"])})
    assert raised.status_code == 200, raised.json
    assert (raised.json["volume"], raised.json["amount_fen"]) == (700, 35000)


# --- concurrent writers (committed data, real threads) ----------------------------------------

@pytest.fixture(scope="module")
def committed_app(tmp_path_factory):
    """An app of its own on a scratch database: the writers below commit for real."""
    url = scratch_database(str(tmp_path_factory.mktemp("concurrent")), "concurrent")
    upgrade(url)
    app = make_test_app(url, tmp_path_factory)
    yield app
    app.extensions["yaocai.db"].dispose()
    drop_scratch_database(url)


@pytest.mark.committed
def test_of_four_concurrent_corrections_from_one_version_exactly_one_wins(committed_app):
    database = committed_app.extensions["yaocai.db"]
    with database.unit_of_work() as s:
        c = cast(s)
        _, (bp,) = reporting_now(s, c)
        headers = token(s, c.hospitals[0].org, *HOSPITAL)
        bp_id = bp.id
    url = f"{API}/batch-products/{bp_id}/report"
    first = committed_app.test_client().put(url, headers=headers, json=REPORT)
    assert first.status_code == 200, first.json
    etag = first.headers["ETag"]
    start = threading.Barrier(4)

    def correct(demand: int) -> tuple[int, dict]:
        client = committed_app.test_client()
        start.wait()
        resp = client.put(url, headers=headers | {"If-Match": etag},
                          json=REPORT | {"demand": demand})
        return resp.status_code, resp.json

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(correct, (901, 902, 903, 904)))
    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [200, 409, 409, 409], outcomes
    (winner,) = [body for status, body in outcomes if status == 200]
    assert all(body["type"] == "/problems/stale-version" for status, body in outcomes
               if status == 409)
    final = committed_app.test_client().get(f"{API}/reports/{first.json['id']}",
                                            headers=headers).json
    assert (final["demand"], final["version"]) == (winner["demand"], first.json["version"] + 1)
