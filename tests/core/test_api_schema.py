"""The API does what its OpenAPI document says: schemathesis generates requests for EVERY
operation of /api/openapi.json and sends them with an API token of each kind of organisation
(bureau, hospital, enterprise, bank), holding every scope its roles may grant. No response may
be a 5xx, and every response must match the documented status codes, content type and schema.

The example count is bounded (``EXAMPLES`` per operation and kind) so the whole module stays
within about a minute per database. Half of the generated cases of an operation with path
parameters use the ids of real rows the test built, so that the happy paths run too, not only
404s. The counts are printed (``pytest -s``) and recorded as test properties.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core import services as core_services
from core.auth import actor_for_user
from core.models import Organisation, OrgKind
from core.permissions import grantable_scopes, roles_for_kind
from core.types import utcnow
from listing import services as listing_services
from listing.models import ProductStatus
from procurement import services
from tests.listing.factories import draft, product, seed_rules
from tests.procurement.factories import batch_in_bidding, cast
from tests.support import make_org, make_user

#: Generated cases per operation and organisation kind (explicit examples come on top): valid
#: requests, and requests that break the schema.
EXAMPLES = 4
NEGATIVE_EXAMPLES = 2
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _token(session, org: Organisation) -> dict[str, str]:
    """A token holding every scope the organisation's roles may grant."""
    roles = roles_for_kind(org.kind)
    creator = actor_for_user(session, make_user(session, org, *roles))
    _, secret = core_services.create_token(session, creator, core_services.TokenIn(
        name="schemathesis", scopes=grantable_scopes(org.kind, creator.roles)))
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def world(session):
    """Rows of every kind the API serves, visible to the organisations that get tokens."""
    seed_rules(session)
    c = cast(session)
    batch, (bp,) = batch_in_bidding(session, c)
    batch.report_deadline = utcnow() + timedelta(days=5)
    session.add(batch)
    session.flush()
    report = services.submit_report(session, c.hospitals[0].op, bp.id, services.ReportIn(
        usage_last_year=1000, usage_year_before=800, demand=900))
    company = c.companies[0]
    app = draft(session, company.op, product(session, company.org,
                                             status=ProductStatus.active))
    bank = make_org(session, OrgKind.bank, region="330000")
    bureau = session.get(Organisation, c.manager.org_id)
    ids = {"batch_id": batch.id, "bp_id": bp.id, "report_id": report.id, "app_id": app.id,
           "org_id": company.org.id, "user_id": company.op.user_id, "listing_id": 1,
           "objection_id": 1, "bid_id": 1, "run_id": 1, "agreement_id": 1, "job_id": 1}
    tokens = {OrgKind.bureau: _token(session, bureau),
              OrgKind.hospital: _token(session, c.hospitals[0].org),
              OrgKind.enterprise: _token(session, company.org),
              OrgKind.bank: _token(session, bank)}
    assert listing_services  # the listing services the factories drive
    return ids, tokens


@dataclass
class Tally:
    operations: int = 0
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # operation and kind → first one
    nothing_to_break: int = 0


def _exercise(operation, strategy, headers: dict[str, str], tally: Tally,
              checks: list = CHECKS, examples: int = EXAMPLES) -> None:
    """Send ``EXAMPLES`` generated cases of one operation and check every response."""

    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def exercise(case) -> None:
        tally.cases += 1
        response = case.call(headers=headers)
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect them all
            tally.failures.setdefault(f"{operation.label}: {type(exc).__name__}",
                                      str(exc)[:1500])

    try:
        exercise()
    except Unsatisfiable:
        tally.nothing_to_break += 1  # negative mode: an operation with no input to break


KINDS = pytest.mark.parametrize("kind", [OrgKind.bureau, OrgKind.hospital, OrgKind.enterprise,
                                         OrgKind.bank], ids=lambda k: k.value)


def _run(app, world, kind: OrgKind, mode: str, record_property) -> Tally:
    """Every operation of the document, ``mode`` "valid" (every check) or "invalid" (requests
    that break the schema; no 5xx), with the token of ``kind``; the counts are reported."""
    ids, tokens = world
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    negative = mode == "invalid"
    generation = (schemathesis.GenerationMode.NEGATIVE if negative
                  else schemathesis.GenerationMode.POSITIVE)
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        tally.operations += 1
        fixed = {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}
        strategy = operation.as_strategy(generation_mode=generation,
                                         path_parameters=fixed or None)
        if fixed and not negative:  # random ids too, not only the rows built above
            strategy = st.one_of(operation.as_strategy(), strategy)
        _exercise(operation, strategy, tokens[kind], tally,
                  checks=[not_a_server_error] if negative else CHECKS,
                  examples=NEGATIVE_EXAMPLES if negative else EXAMPLES)
    summary = (f"schemathesis {mode} {kind.value}: {tally.operations} operations, "
               f"{tally.cases} cases, statuses {dict(sorted(tally.statuses.items()))}, "
               f"{len(tally.failures)} failing operations")
    print(summary)
    record_property(f"schemathesis_{mode}", summary)
    return tally


@KINDS
def test_every_operation_keeps_its_documented_promises(app, world, kind, record_property):
    tally = _run(app, world, kind, "valid", record_property)
    assert tally.operations >= 50
    assert not tally.failures, "\n\n".join(f"{k}: {v}" for k, v in tally.failures.items())


@KINDS
def test_invalid_requests_never_give_a_5xx(app, world, kind, record_property):
    """Requests that break the schema (wrong types, missing fields, bad headers) are refused
    with a 4xx problem, never a 5xx."""
    tally = _run(app, world, kind, "invalid", record_property)
    assert not tally.failures, "\n\n".join(f"{k}: {v}" for k, v in tally.failures.items())


# --- the document itself ----------------------------------------------------------------------

def test_lists_are_documented_as_pages_of_items(client):
    spec = client.get("/api/openapi.json").json
    for path in ("/api/v1/listing/applications", "/api/v1/listing/objections",
                 "/api/v1/listing/publicity", "/api/v1/listing/products",
                 "/api/v1/listing/listings", "/api/v1/procurement/batches"):
        ref = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"]["$ref"]
        page = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert {"items", "total", "page", "per_page"} <= set(page["properties"]), path
        assert page["properties"]["items"]["type"] == "array", path


def test_errors_are_documented_as_problem_json_and_public_operations_as_public(client):
    spec = client.get("/api/openapi.json").json
    for path, item in spec["paths"].items():
        for operation in item.values():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    assert "application/problem+json" in response["content"], (path, code)
    public = {(p, m) for p, item in spec["paths"].items() for m, op in item.items()
              if op.get("security") == []}
    assert public == {("/api/v1/health", "get"), ("/api/v1/listing/listings", "get"),
                      ("/api/v1/listing/publicity", "get")}
    assert spec["paths"]["/api/v1/core/me"]["get"]["security"] == [{"bearer": []}]
    assert "ValidationErrorModel" not in spec["components"]["schemas"]
    assert client.get("/api/v1/listing/listings?page=0").mimetype == "application/problem+json"


def test_a_405_names_the_allowed_methods(client):
    resp = client.delete("/api/v1/listing/listings")
    assert resp.status_code == 405 and resp.mimetype == "application/problem+json"
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}
    page = client.post("/login/nowhere")
    assert page.status_code == 404
