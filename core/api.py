"""JSON API of the kernel under ``/api/v1/core`` (OpenAPI at ``/api/openapi.json``).

Authenticate with ``Authorization: Bearer <token>`` (or the browser session plus the
``X-CSRFToken`` header for writes). Errors are ``application/problem+json``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from flask import Flask, Response, jsonify, redirect, request, url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from core import services
from core.db import get_session
from core.errors import Invalid, PreconditionRequired
from core.models import Job, OrgKind, OrgStatus
from core.money import PRICE_PLACES
from core.permissions import AUTHENTICATED, JOB_READ, ORG_READ, PUBLIC, USER_READ
from core.scoping import get_readable
from core.types import DbId, PageNumber
from core.web import current_actor, requires

SECURITY = [{"bearer": []}]
api = APIBlueprint("core_api", __name__, url_prefix="/api/v1/core",
                   abp_tags=[Tag(name="core", description="Organisations, users, jobs")],
                   abp_security=SECURITY)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class OrgOut(BaseModel):
    id: int
    kind: OrgKind
    name: str
    short_name: str | None
    code: str
    region_code: str
    status: OrgStatus


class MeOut(BaseModel):
    user_id: int | None
    token_id: int | None
    name: str
    organisation: OrgOut
    roles: list[str]
    permissions: list[str]


class PageQuery(BaseModel):
    page: PageNumber = 1
    per_page: int = Field(50, ge=1, le=200)


class OrgQuery(PageQuery):
    kind: OrgKind | None = None
    status: OrgStatus | None = None
    q: str | None = Field(None, max_length=100)


class OrgPage(BaseModel):
    items: list[OrgOut]
    total: int
    page: int
    per_page: int


class OrgPath(BaseModel):
    org_id: DbId


class UserOut(BaseModel):
    id: int
    org_id: int
    username: str
    display_name: str
    disabled: bool
    roles: list[str]
    last_login_at: datetime | None


class UserQuery(PageQuery):
    org_id: DbId | None = None
    q: str | None = Field(None, max_length=100)


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    page: int
    per_page: int


class UserPath(BaseModel):
    user_id: DbId


class JobOut(BaseModel):
    id: int
    actor: str
    status: str
    attempts: int
    result: dict | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class JobPath(BaseModel):
    job_id: DbId


ERRORS = {401: Problem, 403: Problem, 404: Problem}

#: The media type of every error body (RFC 9457).
PROBLEM_MEDIA = "application/problem+json"


def _openapi_path(rule: str) -> str:
    """A Werkzeug rule as an OpenAPI path: ``/a/<int:b_id>`` is ``/a/{b_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def amend_document(spec: dict[str, Any], app: Flask) -> None:
    """Make the generated OpenAPI document say what the API does, in one place: every error
    response is ``application/problem+json`` (flask-openapi3 writes ``application/json``),
    the validation error is a Problem naming each field (not flask-openapi3's list), and the
    operations whose route is public (``requires(PUBLIC)``) declare ``security: []``."""
    from core.web import PERMISSION_ATTR
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.pop("ValidationErrorModel", None)
    problem = {PROBLEM_MEDIA: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    public = {(_openapi_path(rule.rule), method.lower())
              for rule in app.url_map.iter_rules()
              if getattr(app.view_functions.get(rule.endpoint), PERMISSION_ATTR, None) == PUBLIC
              for method in rule.methods or ()}
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            responses.setdefault("422", {"description": "Unprocessable Content"})
            for code, response in responses.items():
                if not (code.isdigit() and int(code) >= 400):
                    continue
                # Errors are problems; a route may document a body of its own beside them (an
                # import's 422 lists the rows, the health check's 503 is a HealthOut).
                content = response.setdefault("content", {})
                plain = str(content.get("application/json", ""))
                if "Problem" in plain or "ValidationErrorModel" in plain:
                    del content["application/json"]
                content.update(problem)
            if (path, method) in public:
                operation["security"] = []


def _document_as_amended(app: Flask) -> None:
    generate = app.generate_spec_json  # type: ignore[attr-defined]

    def generate_and_amend() -> None:
        generate()
        amend_document(app.spec_json, app)  # type: ignore[attr-defined]

    app.generate_spec_json = generate_and_amend  # type: ignore[attr-defined]


# --- prices in and out ------------------------------------------------------------------------

def _four_places(value: Decimal) -> str:
    return format(value.quantize(PRICE_PLACES, rounding=ROUND_HALF_UP), "f")


def _decimal_string(description: str) -> Any:
    return Annotated[Decimal, PlainSerializer(_four_places, return_type=str),
                     WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{4}$",
                                     "examples": ["0.5000"], "description": description})]


#: A unit price in a response: yuan as a string with exactly 4 decimal places.
PriceOut = _decimal_string("unit price in yuan, exactly 4 decimal places")
#: A non-money decimal in a response (contents, ratios), also 4 places.
DecimalOut = _decimal_string("decimal number, 4 decimal places")
#: A unit price in a request: a decimal string, never a JSON number.
PriceIn = Annotated[str, Field(max_length=24, examples=["0.5000"],
                               description="unit price in yuan as a decimal string with at "
                                           "most 4 decimal places (never a JSON number)")]
#: A non-money decimal in a request, as a string.
DecimalIn = Annotated[str, Field(max_length=24, examples=["10"],
                                 description="a decimal number as a string")]


# --- conditional writes: If-Match and ETag (RFC 9110 §8.8.3, §13.1.1) -------------------------

#: What the API documentation says about ``If-Match``; the tags' descriptions include it.
VERSIONS_DOC = (
    "* **Versions (`If-Match`, `ETag`).** A versioned row's GET returns its version as "
    "`version` and as the `ETag` header (`\"3\"`). A write to it takes the version the caller "
    "last read in `If-Match`: `\"3\"`, a weak `W/\"3\"` (proxies that compress weaken tags; "
    "a version names the whole row, so weak and strong mean the same here), a bare `3`, a list "
    "(`\"3\", \"4\"`: any of them) or `*` (whatever the row is now). A stale version answers "
    "**409** `/problems/stale-version` with `current_version` — 409 rather than 412 because "
    "the same refusal comes from the pages and from a concurrent writer that committed first, "
    "and one problem has one status. A PUT that overwrites an existing row's fields (a volume "
    "report, a renewal's volume, an application or its price evidence) *requires* `If-Match`: "
    "without it the answer is **428** `/problems/precondition-required`, since a lost update "
    "would discard someone's numbers unseen. State moves (POST …/actions, publish, sign) take "
    "it optionally: without it the move applies to the row as it is now, and the state machine "
    "still refuses a move from a status that does not allow it. An `If-Match` that is not an "
    "entity-tag list answers 422 naming the `If-Match` header. The check and the write are one "
    "atomic step: of several writers holding the same version exactly one succeeds. A "
    "company's sealed bid, region picks and a hospital's choices take no `If-Match`: the "
    "latest submission is the one that counts.")

IF_MATCH_DOC = ("`If-Match` (optional): the version the caller last read; a stale one answers "
                "409 (see the tag description).")
IF_MATCH_REQUIRED_DOC = ("`If-Match` (required when the row exists): the version the caller "
                         "last read; missing 428, stale 409 (see the tag description).")


class IfMatch(BaseModel):
    """The ``If-Match`` request header, declared for the OpenAPI document."""

    model_config = ConfigDict(populate_by_name=True)

    if_match: str | None = Field(None, alias="If-Match", max_length=200,
                                 description="the row's version (ETag) as last read, e.g. \"3\"")


# One element of an If-Match list: an entity-tag (RFC 9110 §8.8.3, optionally weak), or a bare
# number (what hand-written clients send; documented as accepted).
_ETAG_ITEM = re.compile(r'\s*(?:(?:W/)?"([\x21\x23-\x7e\x80-\uffff]*)"|([0-9]+))\s*(?:,|$)')
_MAX_VERSION = 2**63 - 1


@dataclass(frozen=True)
class Precondition:
    """A parsed ``If-Match``: absent, ``*`` (any), or the versions it names (possibly none of
    ours, e.g. ``"abc"``: such a tag can never match)."""

    sent: bool
    any: bool = False
    versions: frozenset[int] = frozenset()

    @property
    def expected_version(self) -> int | frozenset[int] | None:
        """What a service compares with the row's version: None when there is nothing to
        compare (absent or ``*``), one version, or several (any matches)."""
        if not self.sent or self.any:
            return None
        if len(self.versions) == 1:
            return next(iter(self.versions))
        return self.versions


def parse_if_match(raw: str | None) -> Precondition:
    """Parse an ``If-Match`` value; anything that is not ``*`` or a list of entity-tags is a 422
    naming the header."""
    text = (raw or "").strip()
    if not text:
        return Precondition(sent=False)
    if text == "*":
        return Precondition(sent=True, any=True)
    versions: set[int] = set()
    pos = 0
    while pos < len(text):
        match = _ETAG_ITEM.match(text, pos)
        if match is None or match.end() == pos:
            raise Invalid.one("If-Match", "Send the version you last read as an entity-tag, "
                                          "such as If-Match: \"3\".")
        opaque = match.group(1) if match.group(1) is not None else match.group(2)
        if opaque.isascii() and opaque.isdigit() and int(opaque) <= _MAX_VERSION:
            versions.add(int(opaque))
        pos = match.end()
    return Precondition(sent=True, versions=frozenset(versions))


def if_match(header: IfMatch | None = None, *, required: bool = False) -> Precondition:
    """The request's ``If-Match`` (from the parsed header model, else the raw header); with
    ``required`` a missing one is 428."""
    raw = header.if_match if header is not None else request.headers.get("If-Match")
    pre = parse_if_match(raw)
    if required and not pre.sent:
        raise PreconditionRequired("This write changes only with the version it was read at: "
                                   "send If-Match.")
    return pre


def with_etag(body: dict, version: int, status: int = 200) -> Response:
    """A JSON response carrying the row's version as its strong ``ETag``."""
    resp = jsonify(body)
    resp.status_code = status
    resp.set_etag(str(version))
    return resp


def _org(o: Any) -> dict:
    return OrgOut.model_validate(o, from_attributes=True).model_dump(mode="json")


@api.get("/me", summary="The caller: user or token, organisation, permissions",
         responses={200: MeOut, **ERRORS})
@requires(AUTHENTICATED)
def me():
    actor = current_actor()
    org = get_readable(get_session(), services.Organisation, actor.org_id, actor)
    return jsonify(MeOut(user_id=actor.user_id, token_id=actor.token_id, name=actor.name,
                         organisation=_org(org), roles=sorted(actor.roles),
                         permissions=sorted(actor.permissions)).model_dump(mode="json"))


@api.get("/organisations", summary="Organisations the caller may see",
         responses={200: OrgPage, **ERRORS})
@requires(ORG_READ)
def list_organisations(query: OrgQuery):
    page = services.list_organisations(get_session(), current_actor(), kind=query.kind,
                                       status=query.status, q=query.q, page=query.page,
                                       per_page=query.per_page)
    return jsonify({"items": [_org(o) for o in page.items], "total": page.total,
                    "page": page.page, "per_page": page.per_page})


@api.get("/organisations/<int:org_id>", summary="One organisation",
         responses={200: OrgOut, **ERRORS})
@requires(ORG_READ)
def get_organisation(path: OrgPath):
    return jsonify(_org(get_readable(get_session(), services.Organisation, path.org_id,
                                     current_actor())))


def _users(items: list) -> list[dict]:
    roles = services.roles_by_user(get_session(), [u.id for u in items])
    return [UserOut(id=u.id, org_id=u.org_id, username=u.username, display_name=u.display_name,
                    disabled=u.disabled, roles=roles[u.id], last_login_at=u.last_login_at
                    ).model_dump(mode="json") for u in items]


@api.get("/users", summary="Users the caller may see", responses={200: UserPage, **ERRORS})
@requires(USER_READ)
def list_users(query: UserQuery):
    page = services.list_users(get_session(), current_actor(), org_id=query.org_id, q=query.q,
                               page=query.page, per_page=query.per_page)
    return jsonify({"items": _users(page.items), "total": page.total, "page": page.page,
                    "per_page": page.per_page})


@api.get("/users/<int:user_id>", summary="One user", responses={200: UserOut, **ERRORS})
@requires(USER_READ)
def get_user(path: UserPath):
    return jsonify(_users([services.get_user(get_session(), current_actor(), path.user_id)])[0])


@api.get("/jobs/<int:job_id>", summary="One background job and its outcome",
         responses={200: JobOut, **ERRORS})
@requires(JOB_READ)
def get_job(path: JobPath):
    job = get_readable(get_session(), Job, path.job_id, current_actor())
    return jsonify(JobOut(id=job.id, actor=job.actor, status=job.status.value,
                          attempts=job.attempts, result=job.result, error=job.error,
                          created_at=job.created_at, finished_at=job.finished_at
                          ).model_dump(mode="json"))


health = APIBlueprint("health_api", __name__, url_prefix="/api/v1",
                      abp_tags=[Tag(name="health")])


class HealthOut(BaseModel):
    status: str
    database: str


@health.get("/health", summary="Liveness and database reachability (for load balancers)",
            responses={200: HealthOut, 503: HealthOut}, security=[])
@requires(PUBLIC)
def health_check():
    try:
        get_session().execute(sa.text("SELECT 1"))
    except Exception:
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"})


def init_app(app: Flask) -> None:
    from core.extensions import csrf
    app.register_api(api)
    app.register_api(health)
    _document_as_amended(app)
    # Token calls carry no cookie and need no CSRF token; session-cookie writes to the API are
    # checked in ``requires`` with the X-CSRFToken header instead.
    csrf.exempt(api)
    csrf.exempt(health)

    @app.route("/api/docs")
    @requires(PUBLIC)
    def api_docs():
        return redirect(url_for("swagger.swagger"))
