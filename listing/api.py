"""JSON API of the listing module under ``/api/v1/listing`` — the same services as the pages.

The search and the publicity board are public; the rest needs a login or an API token.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Flask, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from core.api import (
    ERRORS,
    IF_MATCH_DOC,
    IF_MATCH_REQUIRED_DOC,
    SECURITY,
    VERSIONS_DOC,
    IfMatch,
    PageQuery,
    Problem,
    if_match,
    with_etag,
)
from core.db import get_session
from core.errors import Invalid
from core.i18n import render
from core.permissions import PUBLIC
from core.types import Count, DbId, PageNumber
from core.web import current_actor, requires
from listing import services, services_catalogue
from listing.models import (
    ApplicationKind,
    ApplicationStatus,
    ListingCategory,
    ListingReason,
    ListingStatus,
    ObjectionStatus,
    ProductKind,
    ProductStatus,
)
from listing.permissions import (
    APP_EDIT,
    APP_READ,
    CATALOGUE_IMPORT,
    CATALOGUE_READ,
    LISTING_MANAGE,
    OBJECTION_RAISE,
    OBJECTION_RESOLVE,
)

api = APIBlueprint("listing_api", __name__, url_prefix="/api/v1/listing",
                   abp_tags=[Tag(name="listing",
                                 description="挂网: listings, applications, objections.\n\n"
                                             + VERSIONS_DOC)],
                   abp_security=SECURITY)


class ListingOut(BaseModel):
    id: int
    product_code: str
    product_kind: ProductKind
    generic_name: str
    dosage_form: str | None
    spec: str
    company_name: str
    category: ListingCategory
    price: Decimal
    status: ListingStatus
    listed_at: datetime


class SearchQuery(BaseModel):
    q: str | None = Field(None, max_length=60, description="generic name or code prefix")
    company: str | None = Field(None, max_length=100)
    category: ListingCategory | None = None
    kind: ProductKind | None = None
    page: PageNumber = 1
    per_page: int = Field(20, ge=1, le=100)


class ListingPage(BaseModel):
    items: list[ListingOut]
    total: int
    more: bool = Field(description="true when there are more than `total` matches")
    page: int
    per_page: int


class PublicityOut(BaseModel):
    application_id: int
    number: str | None
    kind: ApplicationKind
    product_code: str
    generic_name: str
    spec: str
    company_name: str
    proposed_price: Decimal | None
    publicity_start: date | None
    publicity_end: date | None


class ApplicationOut(BaseModel):
    id: int
    number: str | None
    org_id: int
    kind: ApplicationKind
    status: ApplicationStatus
    version: int
    product_id: int
    listing_id: int | None
    category: ListingCategory
    proposed_price: Decimal | None
    representative_product_id: int | None
    justification: str | None
    decision_reason: str | None
    assigned_to: int | None
    submitted_at: datetime | None
    publicity_start: date | None
    publicity_end: date | None
    check_passed: bool | None
    check_cap: Decimal | None
    allowed_actions: list[str] = []


class PublicityPage(BaseModel):
    items: list[PublicityOut]
    total: int
    more: bool
    page: int
    per_page: int


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]
    total: int
    more: bool
    page: int
    per_page: int


class ApplicationQuery(PageQuery):
    status: ApplicationStatus | None = None
    kind: ApplicationKind | None = None
    q: str | None = Field(None, max_length=60)
    assigned: str | None = Field(None, max_length=10)
    queue: bool = False


class AppPath(BaseModel):
    app_id: DbId


class ActionPath(BaseModel):
    app_id: DbId
    action: str


class ActionBody(BaseModel):
    reason: str | None = Field(None, max_length=4000)
    expected_version: Count | None = None


class EvidenceBody(BaseModel):
    lines: list[services.EvidenceIn]


class ObjectionOut(BaseModel):
    id: int
    application_id: int
    org_id: int
    status: ObjectionStatus
    reason: str
    resolution: str | None
    version: int
    created_at: datetime


class ObjectionPage(BaseModel):
    items: list[ObjectionOut]
    total: int
    more: bool
    page: int
    per_page: int


class ObjectionPath(BaseModel):
    objection_id: DbId


class ResolveBody(BaseModel):
    upheld: bool
    resolution: str = Field(max_length=4000)
    expected_version: Count | None = None


class ListingPath(BaseModel):
    listing_id: DbId


class ListingActionBody(BaseModel):
    action: str = Field(description="suspend | resume | delist")
    reason_code: ListingReason
    reason: str = Field(max_length=4000)
    expected_version: Count | None = None


class ProductQuery(PageQuery):
    q: str | None = Field(None, max_length=60)
    kind: ProductKind | None = None


class ProductOut(BaseModel):
    id: int
    code: str
    kind: ProductKind
    generic_name: str
    dosage_form: str | None
    spec: str
    status: ProductStatus
    units_per_package: int
    manufacturer_name: str | None


class ProductPage(BaseModel):
    items: list[ProductOut]
    total: int
    more: bool
    page: int
    per_page: int


class RuleOut(BaseModel):
    code: str
    applies: bool
    passed: bool | None
    cap: str | None = Field(description="the rule's cap, formatted for display (¥, 4 places)")
    numbers: dict[str, Any]
    message: str


class PriceCheckOut(BaseModel):
    rule_version: int
    passed: bool
    governing_cap: str | None
    governing_rule: str | None
    results: list[RuleOut]


class ImportOut(BaseModel):
    id: int
    status: str
    total_rows: int
    created: int
    updated: int
    unchanged: int
    error_count: int
    errors: list[dict[str, Any]] = Field(description="the first 200 problems: row, field, "
                                                    "message")


PROBLEMS = {**ERRORS, 409: Problem, 422: Problem}


def _expected(header: IfMatch, body_version: int | None) -> Any:
    """The version a move is based on: the ``If-Match`` header, else the body's
    ``expected_version`` (kept for clients written before the header was honoured)."""
    pre = if_match(header)
    return pre.expected_version if pre.sent else body_version


def _dump(model: type[BaseModel], obj: Any, **extra: Any) -> dict:
    data = model.model_validate(obj, from_attributes=True).model_dump(mode="json")
    data.update(extra)
    return data


def _page(page: Any, rows: list[dict]) -> Any:
    return jsonify({"items": rows, "total": page.total, "more": page.more, "page": page.page,
                    "per_page": page.per_page})


@api.get("/listings", summary="Search the active listings (public)",
         responses={200: ListingPage}, security=[])
@requires(PUBLIC)
def search(query: SearchQuery):
    page = services.search_listings(get_session(), services.SearchQuery(**query.model_dump()))
    return _page(page, [_dump(ListingOut, item) for item in page.items])


@api.get("/publicity", summary="Applications in their objection window (public)",
         responses={200: PublicityPage}, security=[])
@requires(PUBLIC)
def publicity(query: PageQuery):
    page = services.publicity_board(get_session(), page=query.page, per_page=query.per_page)
    rows = [PublicityOut(application_id=a.id, number=a.number, kind=a.kind,
                         product_code=p.code, generic_name=p.generic_name, spec=p.spec,
                         company_name=o.name, proposed_price=a.proposed_price,
                         publicity_start=a.publicity_start, publicity_end=a.publicity_end
                         ).model_dump(mode="json") for a, p, o in page.items]
    return _page(page, rows)


def _application(app: Any) -> dict:
    return _dump(ApplicationOut, app, allowed_actions=services.APPLICATION_FLOW.allowed_actions(
        app, current_actor()))


@api.get("/applications", summary="Listing applications the caller may see",
         responses={200: ApplicationPage, **ERRORS})
@requires(APP_READ)
def list_applications(query: ApplicationQuery):
    page = services.list_applications(get_session(), current_actor(), status=query.status,
                                      kind=query.kind, q=query.q, assigned=query.assigned,
                                      queue=query.queue, page=query.page,
                                      per_page=query.per_page)
    return _page(page, [_application(a) for a, _, _ in page.items])


@api.post("/applications", summary="Start a draft application",
          responses={201: ApplicationOut, **ERRORS})
@requires(APP_EDIT)
def create_application(body: services.ApplicationIn):
    app = services.create_application(get_session(), current_actor(), body)
    return jsonify(_application(app)), 201


@api.get("/applications/<int:app_id>", summary="One application (ETag: its version)",
         responses={200: ApplicationOut, **ERRORS})
@requires(APP_READ)
def get_application(path: AppPath):
    app = services.get_application(get_session(), current_actor(), path.app_id)
    return with_etag(_application(app), app.version)


@api.put("/applications/<int:app_id>", summary="Change a draft or returned application",
         description=IF_MATCH_REQUIRED_DOC,
         responses={200: ApplicationOut, **PROBLEMS, 428: Problem})
@requires(APP_EDIT)
def update_application(path: AppPath, body: services.ApplicationIn, header: IfMatch):
    app = services.update_application(get_session(), current_actor(), path.app_id, body,
                                      expected_version=if_match(header,
                                                                required=True).expected_version)
    return with_etag(_application(app), app.version)


@api.put("/applications/<int:app_id>/evidence",
         summary="Replace the price-evidence lines (province, price, date, document)",
         description=IF_MATCH_REQUIRED_DOC,
         responses={200: ApplicationOut, **PROBLEMS, 428: Problem})
@requires(APP_EDIT)
def set_evidence(path: AppPath, body: EvidenceBody, header: IfMatch):
    session = get_session()
    services.set_evidence(session, current_actor(), path.app_id, body.lines,
                          expected_version=if_match(header, required=True).expected_version)
    app = services.get_application(session, current_actor(), path.app_id)
    return with_etag(_application(app), app.version)


@api.get("/applications/<int:app_id>/price-check",
         summary="The price rules on this application now, every rule with its numbers",
         responses={200: PriceCheckOut, **ERRORS})
@requires(APP_READ)
def price_check(path: AppPath):
    session = get_session()
    app = services.get_application(session, current_actor(), path.app_id)
    version, result = services.preview_check(session, app)
    body = result.to_dict()
    for rule in body["results"]:  # the message in words; ``numbers`` keeps the figures
        rule["message"] = render(rule["message"], rule["numbers"])
    return jsonify({"rule_version": version, **body})


_ACTIONS = {
    "submit": lambda s, a, i, b, v: services.submit(s, a, i, expected_version=v),
    "withdraw": lambda s, a, i, b, v: services.withdraw(s, a, i, reason=b.reason,
                                                        expected_version=v),
    "start_review": lambda s, a, i, b, v: services.start_review(s, a, i, expected_version=v),
    "return": lambda s, a, i, b, v: services.return_for_amendment(s, a, i, b.reason,
                                                                  expected_version=v),
    "approve": lambda s, a, i, b, v: services.approve(s, a, i, b.reason, expected_version=v),
    "reject": lambda s, a, i, b, v: services.reject(s, a, i, b.reason, expected_version=v),
}


@api.post("/applications/<int:app_id>/actions/<action>",
          summary="Move an application: submit, withdraw, start_review, return, approve, reject",
          description=IF_MATCH_DOC, responses={200: ApplicationOut, **PROBLEMS})
@requires(APP_READ)
def act(path: ActionPath, body: ActionBody, header: IfMatch):
    if path.action not in _ACTIONS:
        raise Invalid.one("action", "Unknown action.")
    app = _ACTIONS[path.action](get_session(), current_actor(), path.app_id, body,
                                _expected(header, body.expected_version))
    return with_etag(_application(app), app.version)


@api.get("/objections", summary="Objections the caller raised (bureau: all)",
         responses={200: ObjectionPage, **ERRORS})
@requires(APP_READ)
def list_objections(query: PageQuery):
    page = services.list_objections(get_session(), current_actor(), page=query.page,
                                    per_page=query.per_page)
    return _page(page, [_dump(ObjectionOut, o) for o in page.items])


@api.post("/applications/<int:app_id>/objections",
          summary="Object during publicity (multipart: reason, files)",
          responses={201: ObjectionOut, **ERRORS})
@requires(OBJECTION_RAISE)
def raise_objection(path: AppPath):
    files = [(f.filename or "file", f.read()) for f in request.files.getlist("files")]
    objection = services.raise_objection(get_session(), current_actor(),
                                         current_app.extensions["yaocai.attachments"],
                                         path.app_id, request.form.get("reason"), files)
    return jsonify(_dump(ObjectionOut, objection)), 201


@api.post("/objections/<int:objection_id>/resolve", summary="Uphold or dismiss an objection",
          description=IF_MATCH_DOC, responses={200: ObjectionOut, **PROBLEMS})
@requires(OBJECTION_RESOLVE)
def resolve_objection(path: ObjectionPath, body: ResolveBody, header: IfMatch):
    objection = services.resolve_objection(get_session(), current_actor(), path.objection_id,
                                           body.upheld, body.resolution,
                                           expected_version=_expected(header,
                                                                      body.expected_version))
    return with_etag(_dump(ObjectionOut, objection), objection.version)


@api.post("/listings/<int:listing_id>/actions", summary="Suspend, resume or delist a listing",
          description=IF_MATCH_DOC, responses={200: ListingOut, **PROBLEMS})
@requires(LISTING_MANAGE)
def listing_action(path: ListingPath, body: ListingActionBody, header: IfMatch):
    listing = services.change_listing(get_session(), current_actor(), None, path.listing_id,
                                      body.action, body.reason_code, body.reason,
                                      expected_version=_expected(header, body.expected_version))
    return with_etag(_dump(ListingOut, listing), listing.version)


@api.get("/products", summary="The product catalogue", responses={200: ProductPage, **ERRORS})
@requires(CATALOGUE_READ)
def products(query: ProductQuery):
    page = services_catalogue.list_products(get_session(), current_actor(), q=query.q,
                                            kind=query.kind, page=query.page,
                                            per_page=query.per_page)
    rows = [{"id": p.id, "code": p.code, "kind": p.kind.value, "generic_name": p.generic_name,
             "dosage_form": p.dosage_form, "spec": p.spec, "status": p.status.value,
             "units_per_package": p.units_per_package, "manufacturer_name": p.manufacturer_name}
            for p in page.items]
    return _page(page, rows)


@api.post("/imports/products",
          summary="Import products from .xlsx or .csv (multipart: file); all or nothing",
          description="201: every row imported; 422: nothing imported, the body lists the "
                      "problems (an ImportOut, not a Problem).",
          responses={201: ImportOut, **ERRORS, 422: ImportOut})
@requires(CATALOGUE_IMPORT)
def import_products():
    upload = request.files.get("file")
    if upload is None:
        raise Invalid.one("file", "Choose a file.")
    batch = services_catalogue.import_products(get_session(), current_actor(),
                                               upload.filename or "upload", upload.read())
    body = {"id": batch.id, "status": batch.status.value, "total_rows": batch.total_rows,
            "created": batch.created, "updated": batch.updated, "unchanged": batch.unchanged,
            "error_count": batch.error_count, "errors": batch.errors[:200]}
    return jsonify(body), (201 if batch.status.value == "succeeded" else 422)


def init_app(app: Flask) -> None:
    from core.extensions import csrf
    csrf.exempt(api)
    app.register_api(api)
