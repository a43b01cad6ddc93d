"""JSON API of the procurement module (集采) under ``/api/v1/procurement`` — the same services
as the pages, for a hospital's HIS, a company's ERP and the bureau's own tools.

Thin: the input is parsed with pydantic models, a service does the work (and checks the
permission and the organisation scope itself), the result is serialised here. The rules of
the whole API are in ``API_DOC`` below, which is also the OpenAPI description of the tag.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask, Response, jsonify
from flask_openapi3 import APIBlueprint, FileStorage, Tag
from pydantic import BaseModel, Field, model_validator
from werkzeug.datastructures import FileStorage as WerkzeugFile

from core.api import (
    ERRORS,
    IF_MATCH_DOC,
    IF_MATCH_REQUIRED_DOC,
    SECURITY,
    VERSIONS_DOC,
    DecimalIn,
    DecimalOut,
    IfMatch,
    PageQuery,
    PriceIn,
    PriceOut,
    Problem,
    if_match,
    with_etag,
)
from core.db import get_session
from core.errors import Invalid
from core.forms import parse
from core.scoping import get_readable
from core.types import INT_MAX, BigCount, DbId, Year
from core.web import acting, requires
from procurement import services
from procurement import services_allocation as alloc
from procurement import services_award as award
from procurement.models import (
    AgreementStatus,
    AwardStage,
    BatchStatus,
    BidStatus,
    ReportSource,
    RunStatus,
    SupplyRole,
    VolumeReport,
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

API_DOC = (
    "集采: volume-based procurement batches, volume reports (报量), sealed bids, winner "
    "selection, supply regions, hospital choice, allocation runs and purchase agreements.\n\n"
    "* **Money.** Amounts are integers of fen (`*_fen`). Unit prices are strings of yuan with "
    "exactly four decimal places (`\"0.5000\"`), in responses and in requests alike: a price "
    "sent as a JSON number is refused with 422, because it is a binary float once parsed.\n"
    + VERSIONS_DOC + "\n"
    "* **Errors** are `application/problem+json` (RFC 9457). An illegal state move is 409 "
    "with `current_status`; bad input is 422 with `errors`, each naming its `field` (and the "
    "`row`, 1 = the header, of an uploaded file). Rows outside the caller's organisation "
    "answer 404.\n"
    "* **Sealed bids.** Until a batch's bidding window closes, a bid's `package_price`, "
    "`ucp` and `capacity` are null for everyone but the company that made it, the bureau "
    "included."
)

api = APIBlueprint("procurement_api", __name__, url_prefix="/api/v1/procurement",
                   abp_tags=[Tag(name="procurement", description=API_DOC)],
                   abp_security=SECURITY)

PROBLEMS = {**ERRORS, 409: Problem, 422: Problem}

# --- paths, queries, headers -----------------------------------------------------------------

class BatchPath(BaseModel):
    batch_id: DbId


class ActionPath(BaseModel):
    batch_id: DbId
    action: str


class ActionBody(BaseModel):
    """An optional body of a batch move; a move without one sends no body."""

    reason: str | None = Field(None, max_length=2000, description=(
        "why; required by open_bidding before the reporting deadline or while hospitals "
        "have not reported (422 naming reason without it)"))

    @model_validator(mode="before")
    @classmethod
    def _no_body(cls, data: Any) -> Any:
        return {} if data is None else data


class BatchProductPath(BaseModel):
    bp_id: DbId


class ReportPath(BaseModel):
    report_id: DbId


class BidPath(BaseModel):
    bid_id: DbId


class RunPath(BaseModel):
    run_id: DbId


class AgreementPath(BaseModel):
    agreement_id: DbId


class BatchQuery(PageQuery):
    status: BatchStatus | None = None


class ReportQuery(PageQuery):
    batch_product_id: DbId | None = None
    per_page: int = Field(100, ge=1, le=200)


class LineQuery(PageQuery):
    batch_product_id: DbId | None = None
    per_page: int = Field(100, ge=1, le=200)


class AgreementQuery(PageQuery):
    year: Year | None = None
    status: AgreementStatus | None = None
    per_page: int = Field(100, ge=1, le=200)


# --- response models -------------------------------------------------------------------------

class BatchProductOut(BaseModel):
    id: int
    batch_id: int
    code: str
    generic_name: str
    dosage_form: str
    rep_content_value: DecimalOut | None
    rep_content_unit: str | None
    rep_volume_ml: DecimalOut | None
    rep_units: int
    smallest_unit: str
    max_ucp: PriceOut


class BatchOut(BaseModel):
    id: int
    code: str
    name: str
    status: BatchStatus
    award_stage: AwardStage | None
    rule_version: int
    report_deadline: datetime | None
    bid_opens_at: datetime | None
    bid_closes_at: datetime | None
    choice_deadline: datetime | None
    publicity_ends_on: date | None = Field(
        default=None, description="last day (Beijing) of the proposed-winner publicity")
    cycle_start: date | None
    cycle_years: int
    note: str | None
    version: int
    created_at: datetime
    status_changed_at: datetime | None
    allowed_actions: list[str] = []


class BatchDetailOut(BatchOut):
    products: list[BatchProductOut] = []


class BatchPage(BaseModel):
    items: list[BatchOut]
    total: int
    page: int
    per_page: int


class ReportOut(BaseModel):
    id: int
    batch_id: int
    batch_product_id: int
    org_id: int
    usage_last_year: int
    usage_year_before: int
    demand: int
    explanation: str | None
    source: ReportSource
    version: int
    created_at: datetime
    updated_at: datetime


class ReportPage(BaseModel):
    items: list[ReportOut]
    total: int
    page: int
    per_page: int


class ImportOut(BaseModel):
    imported: int
    items: list[ReportOut]


class OrgRef(BaseModel):
    id: int
    code: str
    name: str
    region_code: str


class OrgList(BaseModel):
    items: list[OrgRef]


class BidOut(BaseModel):
    id: int
    batch_product_id: int
    org_id: int
    product_id: int
    status: BidStatus
    capacity: int | None = Field(description="units a year; null = unlimited, or sealed")
    submitted_at: datetime
    sealed: bool = Field(description="true: the prices are hidden until bidding closes")
    package_price: PriceOut | None
    ucp: PriceOut | None = Field(description="unit comparable price 单位可比价")


class BidList(BaseModel):
    items: list[BidOut]


class WinnerOut(BaseModel):
    id: int
    batch_product_id: int
    bid_id: int
    org_id: int
    product_id: int
    rank: int
    ucp: PriceOut
    package_price: PriceOut
    capacity: int | None
    zero_volume: bool
    regions_done_at: datetime | None


class SelectionOut(BaseModel):
    rule_version: int
    bidders: int
    winners: int
    anchor: PriceOut | None
    threshold: PriceOut | None
    agreed_ratio: DecimalOut
    detail: dict = Field(description="the explanation: anchor, mean, SD, threshold, cap and "
                                     "the verdicts the caller may read, with the rule that "
                                     "decided each. Outside the bureau a figure computed from "
                                     "losing bids is null (withheld): the mean and SD always, "
                                     "the anchor, threshold and ratios unless the anchor is "
                                     "the lowest, winning price")
    computed_at: datetime


class ProductResultOut(BaseModel):
    product: BatchProductOut
    selection: SelectionOut | None
    winners: list[WinnerOut]


class ResultList(BaseModel):
    items: list[ProductResultOut]


class RegionPickOut(BaseModel):
    id: int
    batch_product_id: int
    winner_id: int
    org_id: int
    region_code: str
    role: SupplyRole
    assigned: bool
    turn: int


class RegionBoardOut(BaseModel):
    batch_product_id: int
    regions: list[str]
    winners: list[WinnerOut]
    picks: list[RegionPickOut]
    turn_winner_id: int | None = Field(description="whose turn it is; null when picking is over")


class RankIn(BaseModel):
    winner_id: DbId
    rank: int = Field(ge=1, le=INT_MAX)


class RankOut(BaseModel):
    winner_id: int
    rank: int


class ChoiceOptionsOut(BaseModel):
    batch_product_id: int
    product_code: str
    generic_name: str
    winners: list[WinnerOut]
    ranks: list[RankOut] | None = Field(
        description="the hospital's ranking; null: the default (every winner serving its "
                    "city, all equally acceptable)")


class ChoiceList(BaseModel):
    items: list[ChoiceOptionsOut]


class ChoicesOut(BaseModel):
    batch_product_id: int
    ranks: list[RankOut] | None = Field(description="null: back to the default")


class RunOut(BaseModel):
    id: int
    batch_id: int
    status: RunStatus
    rule_version: int
    job_id: int | None
    products_total: int
    products_done: int
    hospitals: int
    variables: int
    rank_penalty: int | None
    total_cost_fen: int | None
    agreed_units: int | None
    seconds: float | None = Field(description="solve time (not money)")
    diagnosis: list
    version: int
    created_at: datetime
    finished_at: datetime | None


class RunList(BaseModel):
    items: list[RunOut]


class PublishOut(RunOut):
    agreements: int


class LineOut(BaseModel):
    product_code: str
    generic_name: str
    hospital: str
    hospital_code: str
    enterprise: str
    volume: int


class LinePage(BaseModel):
    items: list[LineOut]
    total: int
    page: int
    per_page: int


class AgreementOut(BaseModel):
    id: int
    batch_id: int
    batch_product_id: int
    hospital_id: int
    enterprise_id: int
    winner_id: int
    year: int
    starts_on: date | None
    ends_on: date | None
    volume: int
    unit_price: PriceOut
    amount_fen: int
    status: AgreementStatus
    run_id: int | None
    previous_id: int | None
    rule_version: int
    hospital_signed_at: datetime | None
    enterprise_signed_at: datetime | None
    version: int


class AgreementPage(BaseModel):
    items: list[AgreementOut]
    total: int
    page: int
    per_page: int


class SummaryRow(BaseModel):
    year: int
    status: AgreementStatus
    count: int
    units: int
    amount_fen: int


class SummaryOut(BaseModel):
    items: list[SummaryRow]


class SignedOut(BaseModel):
    signed: int


# --- request bodies --------------------------------------------------------------------------

class BatchProductBody(BaseModel):
    code: str
    generic_name: str
    dosage_form: str
    rep_content_value: DecimalIn | None = None
    rep_content_unit: str | None = None
    rep_volume_ml: DecimalIn | None = None
    rep_units: int = Field(1, ge=1, le=INT_MAX)
    smallest_unit: str
    max_ucp: PriceIn


class BidBody(BaseModel):
    product_id: DbId = Field(description="the company's own active catalogue product")
    package_price: PriceIn
    capacity: int | None = Field(None, ge=1, le=INT_MAX,
                                 description="units a year; null = unlimited")


class UploadForm(BaseModel):
    file: FileStorage = Field(description="the filled template, .xlsx or .csv")


class RegionBody(BaseModel):
    region_code: str = Field(max_length=6, description="a city (地市) code of the province")


class ChoicesBody(BaseModel):
    ranks: list[RankIn] = Field(description="the accepted winners, 1 = first choice; winners "
                                            "left out are not accepted; empty = the default")


class YearBody(BaseModel):
    year: Year


class VolumeBody(BaseModel):
    volume: BigCount


# --- serialisation ---------------------------------------------------------------------------

def _dump(model: type[BaseModel], obj: Any, **extra: Any) -> dict:
    data = model.model_validate(obj, from_attributes=True).model_dump(mode="json")
    data.update(extra)
    return data


def _page(page: Any, rows: list[dict]) -> Response:
    return jsonify({"items": rows, "total": page.total, "page": page.page,
                    "per_page": page.per_page})


def _batch(batch: Any, **extra: Any) -> dict:
    return _dump(BatchOut, batch, allowed_actions=services.BATCH_FLOW.allowed_actions(
        batch, acting()), **extra)


def _selection(r: award.ProductResult) -> dict | None:
    """The selection as ``services_award.selection_view`` lets the caller read it."""
    v = r.selection
    if v is None:
        return None

    def text(d: Any) -> str | None:
        return None if d is None else format(d, "f")
    detail = {"bidders": v.bidders, "anchor": text(v.anchor), "anchor_rule": v.anchor_rule,
              "mean": text(v.mean), "sd": text(v.sd), "threshold": text(v.threshold),
              "cap": v.cap, "verdicts": v.verdicts}
    return SelectionOut(rule_version=v.rule_version, bidders=v.bidders, winners=v.winners,
                        anchor=v.anchor, threshold=v.threshold, agreed_ratio=v.agreed_ratio,
                        detail=detail, computed_at=v.computed_at).model_dump(mode="json")


def _results(items: list[award.ProductResult]) -> Response:
    return jsonify({"items": [{
        "product": _dump(BatchProductOut, r.product), "selection": _selection(r),
        "winners": [_dump(WinnerOut, w) for w in r.winners]} for r in items]})


def _board(board: award.RegionBoard) -> dict:
    return {"batch_product_id": board.product.id, "regions": board.regions,
            "winners": [_dump(WinnerOut, w) for w in board.winners],
            "picks": [_dump(RegionPickOut, p) for p in board.picks],
            "turn_winner_id": board.turn.id if board.turn is not None else None}


def _options(o: award.ChoiceOptions) -> dict:
    ranks = None if o.ranks is None else [
        {"winner_id": w, "rank": r} for w, r in sorted(o.ranks.items(), key=lambda x: (x[1], x[0]))]
    return {"batch_product_id": o.product.id, "product_code": o.product.code,
            "generic_name": o.product.generic_name,
            "winners": [_dump(WinnerOut, w) for w in o.winners], "ranks": ranks}


def _run(run: Any, **extra: Any) -> dict:
    return _dump(RunOut, run, status=alloc.effective_status(get_session(), run).value, **extra)


# --- batches ---------------------------------------------------------------------------------

@api.get("/batches", summary="Procurement batches the caller may see (drafts: the bureau's)",
         responses={200: BatchPage, **ERRORS})
@requires(BATCH_READ)
def list_batches(query: BatchQuery):
    page = services.list_batches(get_session(), acting(), status=query.status,
                                 page=query.page, per_page=query.per_page)
    return _page(page, [_batch(b) for b in page.items])


@api.get("/batches/<int:batch_id>", summary="One batch with its products (ETag: its version)",
         responses={200: BatchDetailOut, **ERRORS})
@requires(BATCH_READ)
def get_batch(path: BatchPath):
    session, actor = get_session(), acting()
    batch = services.get_batch(session, actor, path.batch_id)
    products = services.batch_products(session, actor, batch.id)
    return with_etag(_batch(batch, products=[_dump(BatchProductOut, p) for p in products]),
                      batch.version)


@api.post("/batches", summary="Create a draft batch bound to the rule set in force (bureau)",
          responses={201: BatchOut, **PROBLEMS})
@requires(BATCH_MANAGE)
def create_batch(body: services.BatchIn):
    batch = services.create_batch(get_session(), acting(), body)
    return jsonify(_batch(batch)), 201


@api.post("/batches/<int:batch_id>/products",
          summary="Add a product (品种) to a draft batch (bureau)",
          responses={201: BatchProductOut, **PROBLEMS})
@requires(BATCH_MANAGE)
def add_batch_product(path: BatchPath, body: BatchProductBody):
    data = parse(services.BatchProductIn, body.model_dump(exclude_none=True))
    product = services.add_batch_product(get_session(), acting(), path.batch_id, data)
    return jsonify(_dump(BatchProductOut, product)), 201


_AWARD_ACTIONS = ("close_regions",)


@api.post("/batches/<int:batch_id>/actions/<action>",
          summary="Move a batch: open_reporting, open_bidding, close_bidding, publicize, "
                  "start_allocation, close_regions, execute, close, cancel (bureau)",
          description=IF_MATCH_DOC, responses={200: BatchOut, **PROBLEMS})
@requires(BATCH_MANAGE)
def batch_action(path: ActionPath, header: IfMatch, body: ActionBody):
    session, actor = get_session(), acting()
    version = if_match(header).expected_version
    if path.action in _AWARD_ACTIONS:
        batch = award.close_regions(session, actor, path.batch_id, expected_version=version)
    elif path.action in services.BATCH_FLOW.actions:
        batch = services.move_batch(session, actor, path.batch_id, path.action,
                                    expected_version=version, reason=body.reason)
    else:
        raise Invalid.one("action", "Unknown action.")
    return jsonify(_batch(batch))


# --- volume reports --------------------------------------------------------------------------

@api.get("/batches/<int:batch_id>/reports",
         summary="Volume reports of a batch: a hospital's own, the bureau's all",
         responses={200: ReportPage, **ERRORS})
@requires(REPORT_READ)
def list_reports(path: BatchPath, query: ReportQuery):
    page = services.list_reports(get_session(), acting(), path.batch_id,
                                 batch_product_id=query.batch_product_id, page=query.page,
                                 per_page=query.per_page)
    return _page(page, [_dump(ReportOut, r) for r in page.items])


@api.get("/reports/<int:report_id>", summary="One volume report (another hospital's: 404)",
         responses={200: ReportOut, **ERRORS})
@requires(REPORT_READ)
def get_report(path: ReportPath):
    session, actor = get_session(), acting()
    report = get_readable(session, VolumeReport, path.report_id, actor)
    services.get_batch(session, actor, report.batch_id)
    return with_etag(_dump(ReportOut, report), report.version)


@api.put("/batch-products/<int:bp_id>/report",
         summary="Report (or correct) the hospital's volume of one batch product, in smallest "
                 "units, before the reporting deadline",
         description="A demand below 80% of the average usage of the last two years needs an "
                     "`explanation` (422 naming it otherwise). The first report needs no "
                     "`If-Match`; a correction does. " + IF_MATCH_REQUIRED_DOC,
         responses={200: ReportOut, **PROBLEMS, 428: Problem})
@requires(REPORT_EDIT)
def put_report(path: BatchProductPath, body: services.ReportIn, header: IfMatch):
    pre = if_match(header)
    report = services.submit_report(get_session(), acting(), path.bp_id, body,
                                    expected_version=pre.expected_version,
                                    version_required=not pre.sent)
    return with_etag(_dump(ReportOut, report), report.version)


@api.post("/batches/<int:batch_id>/reports/import",
          summary="Import the hospital's reports from the .xlsx or .csv template "
                  "(multipart: file); all or nothing",
          description="Columns: product_code (品种编号), usage_last_year (上年用量), "
                      "usage_year_before (前年用量), demand (需求量), explanation (说明). With "
                      "any bad row nothing is saved and the 422 lists every problem with its "
                      "`row` and `field`.",
          responses={201: ImportOut, **PROBLEMS})
@requires(REPORT_EDIT)
def import_reports(path: BatchPath, form: UploadForm):
    upload = form.file
    if not isinstance(upload, WerkzeugFile) or not upload.filename:
        raise Invalid.one("file", "Choose a file.")
    saved = services.import_reports(get_session(), acting(), path.batch_id, upload.filename,
                                    upload.read())
    return jsonify({"imported": len(saved), "items": [_dump(ReportOut, r) for r in saved]}), 201


@api.get("/batches/<int:batch_id>/missing-reporters",
         summary="Active hospitals that have not reported every product yet (bureau)",
         responses={200: OrgList, **ERRORS})
@requires(REPORT_OVERVIEW)
def missing_reporters(path: BatchPath):
    orgs = services.missing_reporters(get_session(), acting(), path.batch_id)
    return jsonify({"items": [_dump(OrgRef, o) for o in orgs]})


# --- bids ------------------------------------------------------------------------------------

@api.get("/batches/<int:batch_id>/bids",
         summary="Bids the caller may see (a company: its own; the bureau: all); prices are "
                 "null while sealed",
         responses={200: BidList, **ERRORS})
@requires(BID_READ)
def list_bids(path: BatchPath):
    views = services.list_bids(get_session(), acting(), path.batch_id)
    return jsonify({"items": [_dump(BidOut, v) for v in views]})


def _own_bid(bid: Any) -> dict:
    # The company that made a bid always sees its own prices (as ``list_bids`` shows them).
    return _dump(BidOut, services.BidView(
        bid.id, bid.batch_product_id, bid.org_id, bid.product_id, bid.status, bid.capacity,
        bid.submitted_at, bid.package_price, bid.ucp, sealed=False))


@api.put("/batch-products/<int:bp_id>/bid",
         summary="Submit or replace the company's sealed bid on one batch product while "
                 "bidding is open",
         responses={200: BidOut, **PROBLEMS})
@requires(BID_EDIT)
def put_bid(path: BatchProductPath, body: BidBody):
    data = parse(services.BidIn, body.model_dump())
    bid = services.submit_bid(get_session(), acting(), path.bp_id, data)
    return jsonify(_own_bid(bid))


@api.post("/bids/<int:bid_id>/withdraw",
          summary="Withdraw the company's own bid while bidding is open (it may bid again)",
          responses={200: BidOut, **PROBLEMS})
@requires(BID_EDIT)
def withdraw_bid(path: BidPath):
    bid = services.withdraw_bid(get_session(), acting(), path.bid_id)
    return jsonify(_own_bid(bid))


# --- winner selection, supply regions, hospital choice ---------------------------------------

@api.post("/batches/<int:batch_id>/selection",
          summary="Open the bids and select the proposed winners of every product (bureau, "
                  "while evaluating); running it again gives the same result",
          responses={200: ResultList, **PROBLEMS})
@requires(BATCH_MANAGE)
def run_selection(path: BatchPath):
    session, actor = get_session(), acting()
    award.run_selection(session, actor, path.batch_id)
    return _results(award.results(session, actor, path.batch_id))


@api.get("/batches/<int:batch_id>/results",
         summary="Winner selection of every product, explained, with its winners (public "
                 "from the publicity on)",
         responses={200: ResultList, **PROBLEMS})
@requires(BATCH_READ)
def results(path: BatchPath):
    return _results(award.results(get_session(), acting(), path.batch_id))


@api.get("/batch-products/<int:bp_id>/regions",
         summary="Supply-region picking of one product: regions, winners, picks, whose turn",
         responses={200: RegionBoardOut, **PROBLEMS})
@requires(BATCH_READ)
def region_board(path: BatchProductPath):
    return jsonify(_board(award.region_board(get_session(), acting(), path.bp_id)))


@api.post("/batch-products/<int:bp_id>/regions",
          summary="Pick one more supply region at the company's turn (winners, lowest ucp "
                  "first)",
          responses={201: RegionPickOut, **PROBLEMS})
@requires(REGION_PICK)
def pick_region(path: BatchProductPath, body: RegionBody):
    pick = award.pick_region(get_session(), acting(), path.bp_id, body.region_code)
    return jsonify(_dump(RegionPickOut, pick)), 201


@api.post("/batch-products/<int:bp_id>/regions/finish",
          summary="The company picks no more regions for this product",
          responses={200: RegionBoardOut, **PROBLEMS})
@requires(REGION_PICK)
def finish_regions(path: BatchProductPath):
    session, actor = get_session(), acting()
    award.finish_regions(session, actor, path.bp_id)
    return jsonify(_board(award.region_board(session, actor, path.bp_id)))


@api.get("/batches/<int:batch_id>/choices",
         summary="The hospital's choice: per product the winners serving its city and its "
                 "ranks",
         responses={200: ChoiceList, **PROBLEMS})
@requires(BATCH_READ)
def choice_options(path: BatchPath):
    options = award.choice_options(get_session(), acting(), path.batch_id)
    return jsonify({"items": [_options(o) for o in options]})


@api.put("/batch-products/<int:bp_id>/choices",
         summary="Rank the winners the hospital accepts for one product (empty: the default)",
         responses={200: ChoicesOut, **PROBLEMS})
@requires(CHOICE_EDIT)
def set_choices(path: BatchProductPath, body: ChoicesBody):
    ranks: dict[int, int] = {}
    for r in body.ranks:
        if r.winner_id in ranks:
            raise Invalid.one(f"rank_{r.winner_id}", "This winner is ranked twice.")
        ranks[r.winner_id] = r.rank
    rows = award.set_choices(get_session(), acting(), path.bp_id, ranks)
    return jsonify({"batch_product_id": path.bp_id, "ranks": [
        {"winner_id": c.winner_id, "rank": c.rank}
        for c in sorted(rows, key=lambda c: (c.rank, c.winner_id))] or None})


# --- allocation runs -------------------------------------------------------------------------

@api.get("/batches/<int:batch_id>/runs",
         summary="Allocation runs of a batch, the newest first (the bureau's; others see none)",
         responses={200: RunList, **ERRORS})
@requires(BATCH_READ)
def list_runs(path: BatchPath):
    runs = alloc.list_runs(get_session(), acting(), path.batch_id)
    return jsonify({"items": [_run(r) for r in runs]})


@api.post("/batches/<int:batch_id>/runs",
          summary="Queue an allocation run with today's reports, regions and choices "
                  "(bureau); follow it with GET /runs/{run_id}",
          responses={202: RunOut, **PROBLEMS})
@requires(BATCH_MANAGE)
def start_run(path: BatchPath):
    run = alloc.start_run(get_session(), acting(), path.batch_id)
    return jsonify(_run(run)), 202


@api.get("/runs/<int:run_id>", summary="One allocation run and its progress (bureau)",
         responses={200: RunOut, **ERRORS})
@requires(BATCH_READ)
def get_run(path: RunPath):
    run = alloc.get_run(get_session(), acting(), path.run_id)
    return with_etag(_run(run), run.version)


@api.get("/runs/<int:run_id>/lines",
         summary="The agreed volumes of a run: hospital × winner × product (bureau)",
         responses={200: LinePage, **ERRORS})
@requires(BATCH_READ)
def run_lines(path: RunPath, query: LineQuery):
    page = alloc.run_lines(get_session(), acting(), path.run_id,
                           product_id=query.batch_product_id, page=query.page,
                           per_page=query.per_page)
    return _page(page, [_dump(LineOut, line) for line in page.items])


@api.post("/runs/<int:run_id>/publish",
          summary="Publish an optimal run as the first year's agreements (bureau)",
          description=IF_MATCH_DOC, responses={200: PublishOut, **PROBLEMS})
@requires(BATCH_MANAGE)
def publish_run(path: RunPath, header: IfMatch):
    session, actor = get_session(), acting()
    agreements = alloc.publish_run(session, actor, path.run_id,
                                   expected_version=if_match(header).expected_version)
    return jsonify(_run(alloc.get_run(session, actor, path.run_id),
                        agreements=len(agreements)))


# --- agreements ------------------------------------------------------------------------------

@api.get("/batches/<int:batch_id>/agreements",
         summary="The purchase agreements the caller is party to (the bureau: all)",
         responses={200: AgreementPage, **ERRORS})
@requires(AGREEMENT_READ)
def list_agreements(path: BatchPath, query: AgreementQuery):
    page = alloc.list_agreements(get_session(), acting(), path.batch_id, year=query.year,
                                 status=query.status, page=query.page, per_page=query.per_page)
    return _page(page, [_dump(AgreementOut, a) for a in page.items])


@api.get("/batches/<int:batch_id>/agreements/summary",
         summary="Agreements counted, with units and amounts, by contract year and status",
         responses={200: SummaryOut, **ERRORS})
@requires(AGREEMENT_READ)
def agreement_summary(path: BatchPath):
    summary = alloc.agreement_summary(get_session(), acting(), path.batch_id)
    rows = [{"year": year, "status": status, **numbers}
            for year, by_status in sorted(summary.items())
            for status, numbers in sorted(by_status.items())]
    return jsonify({"items": rows})


@api.get("/agreements/<int:agreement_id>", summary="One agreement (ETag: its version)",
         responses={200: AgreementOut, **ERRORS})
@requires(AGREEMENT_READ)
def get_agreement(path: AgreementPath):
    agreement = alloc.get_agreement(get_session(), acting(), path.agreement_id)
    return with_etag(_dump(AgreementOut, agreement), agreement.version)


@api.post("/agreements/<int:agreement_id>/sign",
          summary="Confirm an agreement for the caller's side (hospital or company)",
          description="Signing a side that has already signed is 409 with `current_status`. "
                      + IF_MATCH_DOC,
          responses={200: AgreementOut, **PROBLEMS})
@requires(AGREEMENT_SIGN)
def sign_agreement(path: AgreementPath, header: IfMatch):
    agreement = alloc.sign(get_session(), acting(), path.agreement_id,
                           expected_version=if_match(header).expected_version)
    return with_etag(_dump(AgreementOut, agreement), agreement.version)


@api.post("/batches/<int:batch_id>/agreements/sign-all",
          summary="Confirm every agreement of a contract year that waits for the caller's side",
          responses={200: SignedOut, **PROBLEMS})
@requires(AGREEMENT_SIGN)
def sign_all(path: BatchPath, body: YearBody):
    return jsonify({"signed": alloc.sign_all(get_session(), acting(), path.batch_id,
                                             body.year)})


@api.put("/agreements/<int:agreement_id>/volume",
         summary="The hospital raises an unsigned renewal's volume (never below last year's)",
         description=IF_MATCH_REQUIRED_DOC,
         responses={200: AgreementOut, **PROBLEMS, 428: Problem})
@requires(AGREEMENT_SIGN)
def set_volume(path: AgreementPath, body: VolumeBody, header: IfMatch):
    agreement = alloc.set_volume(get_session(), acting(), path.agreement_id, body.volume,
                                 expected_version=if_match(header,
                                                           required=True).expected_version)
    return with_etag(_dump(AgreementOut, agreement), agreement.version)


def init_app(app: Flask) -> None:
    from core.extensions import csrf
    # Token calls carry no cookie; session-cookie writes are checked in ``requires`` with the
    # X-CSRFToken header instead.
    csrf.exempt(api)
    app.register_api(api)
