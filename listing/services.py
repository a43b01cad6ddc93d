"""Listing (挂网) business operations: applications, review, publicity, objections, listings.

Every function takes a ``Session`` and the acting ``Actor``, flushes and never commits: the
request, job or command that called it owns the transaction.
"""
from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from core import audit, rules
from core.codes import consumable_group_code, validate_consumable_code, validate_drug_code
from core.errors import Conflict, ErrorCollector, Forbidden, Invalid, NotFound
from core.labels import status_term
from core.models import AuditLog, Organisation, OrgKind, User, UserRole
from core.money import OptionalPositivePrice, PositivePrice
from core.permissions import Actor, require
from core.scoping import get_readable, readable_by
from core.services import Page, paginate
from core.states import Move, Workflow, check_version
from core.types import DbId, local_today, utcnow
from listing import price_rules
from listing.models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    Attachment,
    CheckStage,
    Holiday,
    Listing,
    ListingCategory,
    ListingReason,
    ListingStatus,
    Objection,
    ObjectionStatus,
    PriceCheck,
    PriceEvidence,
    Product,
    ProductKind,
    ProductStatus,
    ReferencePrice,
    SearchName,
)
from listing.permissions import (
    APP_EDIT,
    APP_REVIEW,
    LISTING_MANAGE,
    OBJECTION_RAISE,
    OBJECTION_RESOLVE,
    RULES_MANAGE,
)
from listing.storage import AttachmentStore, sniff

RULE_SET = "listing"
rules.register(RULE_SET, price_rules.ListingRuleParams, price_rules.DEFAULT_LISTING_RULES)

S = ApplicationStatus

#: The application workflow (DOMAIN §1). ``complete`` has no permission: only the publicity
#: job and the dismissal of the last objection make it.
APPLICATION_FLOW = Workflow("listing_application", ApplicationStatus, [
    Move.of("submit", [S.draft, S.returned], S.submitted, APP_EDIT),
    Move.of("withdraw", [S.draft, S.submitted, S.under_review, S.returned], S.withdrawn,
            APP_EDIT),
    Move.of("start_review", S.submitted, S.under_review, APP_REVIEW),
    Move.of("return", S.under_review, S.returned, APP_REVIEW),
    Move.of("approve", S.under_review, S.publicizing, APP_REVIEW),
    Move.of("reject", S.under_review, S.rejected, APP_REVIEW),
    Move.of("uphold_objection", S.publicizing, S.rejected, OBJECTION_RESOLVE),
    Move.of("complete", S.publicizing, S.listed),
])

#: Statuses in which an application is still in progress (blocks a duplicate application).
OPEN_STATUSES = (S.draft, S.submitted, S.under_review, S.returned, S.publicizing)
#: Statuses in which the applicant may still edit the application and its evidence.
EDITABLE = (S.draft, S.returned)
#: A submitted application waiting this long for its review is overdue (审核时限).
REVIEW_SLA = timedelta(days=5)


@dataclass(frozen=True)
class Waiting:
    """How long an application has waited since its submission, and whether that is past
    the review time limit (``REVIEW_SLA``)."""

    days: int
    hours: int
    overdue: bool


def waiting_times(apps: Iterable[Application], now: datetime | None = None
                  ) -> dict[int, Waiting]:
    """The waiting time of each submitted application of ``apps``, by id."""
    now = now or utcnow()
    out = {}
    for app in apps:
        if app.submitted_at is None:
            continue
        age = now - app.submitted_at
        out[app.id] = Waiting(age.days, age.seconds // 3600, age >= REVIEW_SLA)
    return out

OBJECTION_FLOW = Workflow("objection", ObjectionStatus, [
    Move.of("uphold", ObjectionStatus.open, ObjectionStatus.upheld, OBJECTION_RESOLVE),
    Move.of("dismiss", ObjectionStatus.open, ObjectionStatus.dismissed, OBJECTION_RESOLVE),
])

P = ProductStatus
#: A catalogue product (目录产品) a company proposes inside a new-listing application: the
#: listing's completion makes it active; a rejected or withdrawn proposal retires it, and a
#: resubmitted application proposes it again. The application's own moves decide who may.
PRODUCT_FLOW = Workflow("product", ProductStatus, [
    Move.of("activate", [P.proposed, P.retired], P.active),
    Move.of("retire", P.proposed, P.retired),
    Move.of("propose_again", P.retired, P.proposed),
])

L = ListingStatus
#: The listing workflow: listed ⇄ suspended → delisted. ``relist`` and ``withdraw_listing``
#: are made by completed relisting / delisting applications.
LISTING_FLOW = Workflow("listing", ListingStatus, [
    Move.of("suspend", L.listed, L.suspended, LISTING_MANAGE),
    Move.of("resume", L.suspended, L.listed, LISTING_MANAGE),
    Move.of("delist", [L.listed, L.suspended], L.delisted, LISTING_MANAGE),
    Move.of("relist", L.suspended, L.listed),
    Move.of("withdraw_listing", [L.listed, L.suspended], L.delisted),
])

#: Delisting for these reasons bars relisting for ``RELIST_BAR_YEARS`` (DOMAIN §1).
BARRING_REASONS = (ListingReason.refused_linkage, ListingReason.false_price_information)
RELIST_BAR_YEARS = 2


# --- working days -----------------------------------------------------------------------------

def _calendar(session: Session, start: date, end: date) -> dict[date, bool]:
    rows = session.exec(select(Holiday).where(Holiday.day >= start, Holiday.day <= end)).all()
    return {h.day: h.workday for h in rows}


def is_working_day(day: date, calendar: dict[date, bool]) -> bool:
    if day in calendar:
        return calendar[day]
    return day.weekday() < 5


def add_working_days(session: Session, start: date, n: int) -> tuple[date, date]:
    """The first and the ``n``-th working day strictly after ``start`` (工作日, holiday-aware)."""
    calendar = _calendar(session, start, start + timedelta(days=n * 3 + 60))
    day, counted, first = start, 0, None
    while counted < n:
        day += timedelta(days=1)
        if is_working_day(day, calendar):
            counted += 1
            first = first or day
    assert first is not None
    return first, day


class HolidayKey(BaseModel):
    day: date


class HolidayIn(BaseModel):
    day: date
    name: str = Field(min_length=1, max_length=60)
    workday: bool = False


def set_holiday(session: Session, actor: Actor, data: HolidayIn) -> Holiday:
    """Add or change a day of the holiday calendar (节假日/调休)."""
    require(actor, RULES_MANAGE)
    row = session.get(Holiday, data.day)
    before = None
    if row is None:
        row = Holiday(day=data.day, name=data.name, workday=data.workday)
    else:
        before = {"name": row.name, "workday": row.workday}
        row.name, row.workday = data.name, data.workday
    session.add(row)
    session.flush()
    audit.record(session, actor, "holiday.set", "holiday", data.day.isoformat(), before=before,
                 after={"name": data.name, "workday": data.workday})
    return row


def delete_holiday(session: Session, actor: Actor, day: date) -> None:
    require(actor, RULES_MANAGE)
    row = session.get(Holiday, day)
    if row is None:
        raise NotFound("no calendar entry for %(day)s", params={"day": day.isoformat()})
    session.delete(row)
    session.flush()
    audit.record(session, actor, "holiday.delete", "holiday", day.isoformat(),
                 before={"name": row.name, "workday": row.workday})


def list_holidays(session: Session, year: int) -> list[Holiday]:
    return list(session.exec(select(Holiday).where(
        Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31)).order_by(Holiday.day)))


# --- price rules ------------------------------------------------------------------------------

def current_rules(session: Session) -> rules.Rules[price_rules.ListingRuleParams]:
    return rules.current(session, RULE_SET)


def publish_rules(session: Session, actor: Actor, params: dict[str, Any],
                  note: str | None = None) -> rules.Rules[price_rules.ListingRuleParams]:
    """Store a new version of the listing price rules (差比价 tables, multipliers, windows)."""
    require(actor, RULES_MANAGE)
    return rules.publish(session, actor, RULE_SET, params, note=note)


def product_spec(product: Product) -> price_rules.Spec:
    return price_rules.Spec(
        form=product.dosage_form or "", content=product.content_value,
        content_unit=product.content_unit, volume_ml=product.volume_ml,
        units=product.units_per_package, material=product.package_material,
        package_form=product.package_form)


def _representative(session: Session, app: Application) -> price_rules.Representative | None:
    if app.representative_product_id is None:
        return None
    rep = session.get(Product, app.representative_product_id)
    listing = session.exec(select(Listing).where(
        Listing.product_id == app.representative_product_id, Listing.org_id == app.org_id,
        Listing.status == ListingStatus.listed)).first()
    if rep is None or listing is None:
        return None
    return price_rules.Representative(spec=product_spec(rep), price=listing.price,
                                      label=f"{rep.code} {rep.spec}")


def price_inputs(session: Session, app: Application) -> price_rules.PriceInputs:
    """Everything the price rules need for ``app``, read from the database."""
    product = session.get(Product, app.product_id)
    assert product is not None
    declared = tuple(
        price_rules.Evidence(e.province, e.price, e.evidence_date, e.document)
        for e in session.exec(select(PriceEvidence).where(
            PriceEvidence.application_id == app.id).order_by(PriceEvidence.id)))
    references = tuple(
        price_rules.Evidence(r.province, r.price, r.price_date, r.source)
        for r in session.exec(select(ReferencePrice).where(
            ReferencePrice.product_id == app.product_id).order_by(ReferencePrice.id)))
    vbp = None
    if app.category in (ListingCategory.vbp_winner, ListingCategory.vbp_non_supplying) \
            and app.vbp_own_price is not None:
        vbp = price_rules.VbpInfo(
            own_winning_price=app.vbp_own_price,
            supplies_this_province=app.category == ListingCategory.vbp_winner,
            highest_winning_price=app.vbp_highest_price)
    return price_rules.PriceInputs(
        price=app.proposed_price or Decimal(0), spec=product_spec(product), declared=declared,
        references=references, representative=_representative(session, app), vbp=vbp)


def preview_check(session: Session, app: Application) -> tuple[int, price_rules.PriceCheckResult]:
    """Run the price rules without storing the outcome (the draft page shows it live)."""
    current = current_rules(session)
    try:
        return current.version, price_rules.evaluate(price_inputs(session, app), current.params)
    except price_rules.PriceRuleError as exc:
        raise Invalid.one(exc.field, str(exc)) from None


def run_price_check(session: Session, actor: Actor, app: Application,
                    stage: CheckStage) -> PriceCheck:
    """Run the price rules on ``app`` and store the outcome with the rule-set version used."""
    version, result = preview_check(session, app)
    assert app.proposed_price is not None
    check = PriceCheck(application_id=app.id, stage=stage, rule_version=version,
                       proposed_price=app.proposed_price, passed=result.passed,
                       governing_cap=result.governing_cap, governing_rule=result.governing_rule,
                       result=result.to_dict(), created_by=actor.user_id)
    session.add(check)
    app.check_passed, app.check_cap = result.passed, result.governing_cap
    session.add(app)
    session.flush()
    return check


def latest_check(session: Session, app_id: int) -> PriceCheck | None:
    return session.exec(select(PriceCheck).where(PriceCheck.application_id == app_id)
                        .order_by(PriceCheck.id.desc()).limit(1)).first()


def price_checks(session: Session, actor: Actor, app_id: int) -> list[PriceCheck]:
    get_application(session, actor, app_id)
    return list(session.exec(select(PriceCheck).where(PriceCheck.application_id == app_id)
                             .order_by(PriceCheck.id.desc())))


# --- applications -----------------------------------------------------------------------------

class ProductProposal(BaseModel):
    """A product a company proposes inside an application when it is not in the catalogue."""

    code: str = Field(min_length=1, max_length=27)
    generic_name: str = Field(min_length=1, max_length=120)
    trade_name: str | None = Field(default=None, max_length=120)
    dosage_form: str | None = Field(default=None, max_length=40)
    spec: str = Field(min_length=1, max_length=200)
    content_value: Decimal | None = None
    content_unit: str | None = Field(default=None, max_length=10)
    volume_ml: Decimal | None = None
    units_per_package: int = Field(ge=1, le=100000)
    min_unit: str | None = Field(default=None, max_length=10)
    package_unit: str | None = Field(default=None, max_length=10)
    package_material: str | None = Field(default=None, max_length=60)
    approval_number: str | None = Field(default=None, max_length=60)
    consistency_passed: bool = False
    reference_preparation: bool = False


class ApplicationIn(BaseModel):
    """What a company fills in: the kind, the product or listing, the price and its case."""

    kind: ApplicationKind
    product_id: DbId | None = None
    listing_id: DbId | None = None
    new_product: ProductProposal | None = None
    category: ListingCategory = ListingCategory.regular
    proposed_price: OptionalPositivePrice = None
    representative_product_id: DbId | None = None
    vbp_own_price: OptionalPositivePrice = None
    vbp_highest_price: OptionalPositivePrice = None
    justification: str | None = Field(default=None, max_length=4000)


class EvidenceIn(BaseModel):
    province: str = Field(min_length=1, max_length=20)
    price: PositivePrice
    evidence_date: date
    document: str = Field(min_length=1, max_length=200)
    attachment_id: DbId | None = None


def get_application(session: Session, actor: Actor, app_id: int) -> Application:
    return get_readable(session, Application, app_id, actor)


def _own_application(session: Session, actor: Actor, app_id: int) -> Application:
    app = get_application(session, actor, app_id)
    if app.org_id != actor.org_id:
        raise NotFound("listing_application %(id)s not found", params={"id": app_id})
    return app


def applicant_may_list(org: Organisation, product: Product) -> bool:
    """A company lists its own products: as their MAH, their manufacturer or their proposer."""
    return org.id in (product.mah_org_id, product.manufacturer_org_id,
                      product.proposed_by_org_id) or org.code in (product.mah_code,
                                                                  product.manufacturer_code)


def _propose_product(session: Session, actor: Actor, org: Organisation,
                     data: ProductProposal) -> Product:
    errors = ErrorCollector()
    code = data.code.strip().upper()
    kind = ProductKind.consumable if code.startswith("C") else ProductKind.drug
    try:
        if kind == ProductKind.drug:
            validate_drug_code(code, field="new_product.code")
        else:
            validate_consumable_code(code, field="new_product.code")
    except Invalid as exc:
        errors.errors.extend(exc.errors)
    if (data.content_value is None) != (data.content_unit is None):
        errors.add("new_product.content_unit", "Give the content value and its unit together.")
    errors.raise_if_any()
    existing = session.exec(select(Product).where(Product.code == code)).first()
    if existing is not None and not (existing.proposed_by_org_id == org.id
                                     and existing.status != ProductStatus.active):
        raise Invalid.one("new_product.code",
                          "This code is already in the catalogue; choose the product instead.")
    product = existing or Product(code=code, kind=kind, manufacturer_name=org.name, spec="",
                                  status=ProductStatus.proposed)
    for name, value in data.model_dump().items():
        setattr(product, name, value)
    product.code, product.kind = code, kind
    if product.status == ProductStatus.retired:
        PRODUCT_FLOW.transition(session, product, "propose_again", actor)
    product.proposed_by_org_id = org.id
    product.mah_org_id, product.mah_name, product.mah_code = org.id, org.name, org.code
    product.group_code = consumable_group_code(code) if kind == ProductKind.consumable else None
    product.updated_at = utcnow()
    session.add(product)
    session.flush()
    return product


def _validate_application(session: Session, actor: Actor, org: Organisation,
                          data: ApplicationIn, app_id: int | None = None) -> dict[str, Any]:
    """Check an application's fields against its kind; return the column values to store."""
    errors = ErrorCollector()
    values: dict[str, Any] = {
        "kind": data.kind, "category": data.category, "proposed_price": data.proposed_price,
        "justification": (data.justification or "").strip() or None,
        "vbp_own_price": data.vbp_own_price, "vbp_highest_price": data.vbp_highest_price,
        "representative_product_id": data.representative_product_id, "listing_id": None,
    }
    product: Product | None = None
    listing: Listing | None = None
    if data.kind == ApplicationKind.new_listing:
        if data.new_product is not None:
            product = _propose_product(session, actor, org, data.new_product)
        elif data.product_id is None:
            errors.add("product_id", "Choose a product from the catalogue or propose a new one.")
        else:
            product = session.exec(readable_by(Product, actor)
                                   .where(Product.id == data.product_id)).first()
            if product is None:
                errors.add("product_id", "No such product.")
            else:
                refusal = _new_listing_refusal(session, actor, org, product, app_id)
                if refusal is not None:
                    errors.add("product_id", refusal)
                    product = None
        if data.proposed_price is None:
            errors.add("proposed_price", "Give the proposed listing price.")
    else:
        if data.listing_id is None:
            errors.add("listing_id", "Choose the listing this application is about.")
        else:
            listing = session.get(Listing, data.listing_id)
            if listing is None or listing.org_id != org.id:
                errors.add("listing_id", "No such listing of your company.")
                listing = None
        if listing is not None:
            product = session.get(Product, listing.product_id)
            values["listing_id"] = listing.id
            values["category"] = listing.category
            if data.kind == ApplicationKind.price_change:
                if data.proposed_price is None:
                    errors.add("proposed_price", "Give the new price.")
                elif data.proposed_price == listing.price:
                    errors.add("proposed_price", "The new price equals the listed price.")
                elif data.proposed_price > listing.price and not values["justification"]:
                    errors.add("justification",
                               "A price increase needs a justification; it is reviewed strictly.")
                if listing.status != ListingStatus.listed:
                    errors.add("listing_id", "Only a listed product can change its price.")
            elif data.kind == ApplicationKind.delisting:
                values["proposed_price"] = None
                if not values["justification"]:
                    errors.add("justification", "Give the reason for delisting.")
                if listing.status == ListingStatus.delisted:
                    errors.add("listing_id", "The listing is already delisted.")
            elif data.kind == ApplicationKind.relisting:
                if listing.status != ListingStatus.suspended:
                    errors.add("listing_id", "Only a suspended listing can be relisted.")
                values["proposed_price"] = data.proposed_price or listing.price
    if product is not None and data.kind == ApplicationKind.new_listing:
        _check_not_barred(session, org, product, errors)
    if product is not None and data.representative_product_id is not None:
        rep = session.get(Product, data.representative_product_id)
        if rep is None or rep.generic_name != product.generic_name \
                or rep.id == product.id or not applicant_may_list(org, rep):
            errors.add("representative_product_id",
                       "The representative product must be another product of the same generic "
                       "name from the same applicant.")
    if data.category in (ListingCategory.vbp_winner, ListingCategory.vbp_non_supplying) \
            and data.kind == ApplicationKind.new_listing and data.vbp_own_price is None:
        errors.add("vbp_own_price", "Give the winning price of the procurement batch.")
    errors.raise_if_any()
    assert product is not None
    values["product_id"] = product.id
    duplicate = session.exec(select(Application.id).where(
        Application.org_id == org.id, Application.product_id == product.id,
        Application.kind == data.kind, Application.status.in_(OPEN_STATUSES),
        Application.id != (app_id or 0))).first()
    if duplicate is not None:
        raise Conflict("application %(id)s for this product is already in progress",
                       params={"id": duplicate})
    if data.kind == ApplicationKind.new_listing:
        open_listing = session.exec(select(Listing.id).where(
            Listing.product_id == product.id, Listing.org_id == org.id,
            Listing.status != ListingStatus.delisted)).first()
        if open_listing is not None:
            raise Conflict("the product is already listed (listing %(id)s)",
                           params={"id": open_listing})
    return values


def _check_not_barred(session: Session, org: Organisation, product: Product,
                      errors: ErrorCollector) -> None:
    barred = session.exec(select(Listing).where(
        Listing.product_id == product.id, Listing.org_id == org.id,
        Listing.relist_barred_until.is_not(None),  # type: ignore[union-attr]
        Listing.relist_barred_until > local_today())).first()
    if barred is not None:
        errors.add("product_id", "Relisting is barred for two years after delisting for "
                                 "refusing price linkage or false price information.")


def create_application(session: Session, actor: Actor, data: ApplicationIn) -> Application:
    """Start a draft application (草稿) for the actor's company."""
    require(actor, APP_EDIT)
    org = session.get(Organisation, actor.org_id)
    assert org is not None
    if org.kind != OrgKind.enterprise:
        raise Forbidden("only companies apply for listing")
    values = _validate_application(session, actor, org, data)
    app = Application(org_id=org.id, created_by=actor.user_id, **values)
    session.add(app)
    session.flush()
    app.number = f"GW{local_today().year}{app.id:07d}"
    session.add(app)
    session.flush()
    audit.record(session, actor, "listing_application.create", "listing_application", app.id,
                 after=_snapshot(app), org_id=org.id)
    return app


def update_application(session: Session, actor: Actor, app_id: int, data: ApplicationIn, *,
                       expected_version: int | None = None) -> Application:
    """Change a draft or a returned application."""
    require(actor, APP_EDIT)
    app = _own_application(session, actor, app_id)
    _check_editable(app, expected_version)
    if data.kind != app.kind:
        raise Invalid.one("kind", "The kind of an application cannot change.")
    org = session.get(Organisation, actor.org_id)
    assert org is not None
    before = _snapshot(app)
    for name, value in _validate_application(session, actor, org, data, app.id).items():
        setattr(app, name, value)
    app.updated_at = utcnow()
    session.add(app)
    session.flush()
    audit.record(session, actor, "listing_application.update", "listing_application", app.id,
                 before=before, after=_snapshot(app), org_id=app.org_id)
    return app


def _check_editable(app: Application,
                    expected_version: int | Collection[int] | None = None) -> None:
    if app.status not in EDITABLE:
        raise Conflict("listing_application %(id)s cannot be changed when %(status)s",
                       params={"id": app.id, "status": status_term("listing_application", app.status)},
                       current_status=app.status.value)
    _check_version(app, expected_version)


def _check_version(app: Application, expected_version: int | Collection[int] | None) -> None:
    check_version(APPLICATION_FLOW.name, app, expected_version)


def _snapshot(app: Application) -> dict[str, Any]:
    return {"kind": app.kind.value, "status": app.status.value, "product_id": app.product_id,
            "listing_id": app.listing_id, "category": app.category.value,
            "proposed_price": app.proposed_price}


def set_evidence(session: Session, actor: Actor, app_id: int, lines: list[EvidenceIn], *,
                 expected_version: int | Collection[int] | None = None) -> list[PriceEvidence]:
    """Replace the application's price-evidence lines (价格联动 declarations), from the
    version of the application the caller saw when one is given."""
    require(actor, APP_EDIT)
    app = _own_application(session, actor, app_id)
    _check_editable(app, expected_version)
    errors = ErrorCollector()
    for i, line in enumerate(lines, start=1):
        if line.evidence_date > local_today():
            errors.add("evidence_date", "The date lies in the future.", row=i)
        if line.attachment_id is not None:
            att = session.get(Attachment, line.attachment_id)
            if att is None or att.application_id != app.id:
                errors.add("attachment_id", "Attach the document to this application first.",
                           row=i)
    errors.raise_if_any()
    session.execute(sa.delete(PriceEvidence).where(PriceEvidence.application_id == app.id))
    rows = [PriceEvidence(application_id=app.id, **line.model_dump()) for line in lines]
    session.add_all(rows)
    app.updated_at = utcnow()
    session.add(app)
    session.flush()
    audit.record(session, actor, "listing_application.evidence", "listing_application", app.id,
                 after={"lines": [line.model_dump(mode="json") for line in lines]},
                 org_id=app.org_id)
    return rows


def evidence_lines(session: Session, actor: Actor, app_id: int) -> list[PriceEvidence]:
    get_application(session, actor, app_id)
    return list(session.exec(select(PriceEvidence).where(PriceEvidence.application_id == app_id)
                             .order_by(PriceEvidence.id)))


def submit(session: Session, actor: Actor, app_id: int, *,
           expected_version: int | None = None) -> Application:
    """Submit (提交) a draft or resubmit a returned application; the price rules run first."""
    require(actor, APP_EDIT)
    app = _own_application(session, actor, app_id)
    if app.status in EDITABLE:
        # Checked here: storing the price check below bumps the application's version.
        _check_version(app, expected_version)
        expected_version = None
        errors = ErrorCollector()
        needs_evidence = app.kind in (ApplicationKind.new_listing, ApplicationKind.price_change)
        if needs_evidence and not session.exec(select(PriceEvidence.id).where(
                PriceEvidence.application_id == app.id)).first():
            errors.add("evidence", "Declare at least one price from another province with its "
                                   "document (price linkage).")
        if app.kind == ApplicationKind.new_listing:
            product = session.get(Product, app.product_id)
            if product is not None and product.status == ProductStatus.retired:
                PRODUCT_FLOW.transition(session, product, "propose_again", actor)
        errors.raise_if_any()
        if app.proposed_price is not None:
            check = run_price_check(session, actor, app, CheckStage.submit)
            if not check.passed:
                raise Invalid.one("proposed_price", "The price is above the cap set by the price "
                                                    "rules; see the price check.")

    def stamp(obj: Application) -> None:
        now = utcnow()
        obj.submitted_at = now
        obj.round += 1

    return APPLICATION_FLOW.transition(session, app, "submit", actor,
                                       expected_version=expected_version, before_commit=stamp)


def withdraw(session: Session, actor: Actor, app_id: int, *, reason: str | None = None,
             expected_version: int | None = None) -> Application:
    """The applicant withdraws (撤回) an application that has not been decided."""
    require(actor, APP_EDIT)
    app = _own_application(session, actor, app_id)
    APPLICATION_FLOW.transition(session, app, "withdraw", actor,
                                expected_version=expected_version, reason=reason)
    _retire_proposal(session, actor, app)
    return app


def _retire_proposal(session: Session, actor: Actor, app: Application) -> None:
    product = session.get(Product, app.product_id)
    if product is not None and product.status == ProductStatus.proposed:
        PRODUCT_FLOW.transition(session, product, "retire", actor)


def _reviewers(session: Session, actor: Actor) -> list[User]:
    return list(session.exec(select(User).join(UserRole, UserRole.user_id == User.id).where(
        User.org_id == actor.org_id, User.disabled.is_(False),  # type: ignore[attr-defined]
        UserRole.role.in_(("reviewer", "org_admin"))).distinct().order_by(User.username)))


def reviewers(session: Session, actor: Actor) -> list[User]:
    """Bureau staff an application can be assigned to."""
    require(actor, APP_REVIEW)
    return _reviewers(session, actor)


def assign(session: Session, actor: Actor, app_id: int, user_id: int | None) -> Application:
    """Assign (分配) a submitted or under-review application to a reviewer, or unassign it."""
    require(actor, APP_REVIEW)
    app = get_application(session, actor, app_id)
    if app.status not in (S.submitted, S.under_review):
        raise Conflict("listing_application %(id)s cannot be assigned when %(status)s",
                       params={"id": app.id, "status": status_term("listing_application", app.status)},
                       current_status=app.status.value)
    if user_id is not None and user_id not in {u.id for u in _reviewers(session, actor)}:
        raise Invalid.one("assigned_to", "Choose a reviewer of the bureau.")
    before = app.assigned_to
    app.assigned_to, app.assigned_at = user_id, (utcnow() if user_id else None)
    session.add(app)
    session.flush()
    audit.record(session, actor, "listing_application.assign", "listing_application", app.id,
                 before={"assigned_to": before}, after={"assigned_to": user_id},
                 org_id=app.org_id)
    return app


def start_review(session: Session, actor: Actor, app_id: int, *,
                 expected_version: int | None = None) -> Application:
    """A reviewer takes a submitted application into review (受理)."""
    app = get_application(session, actor, app_id)

    def claim(obj: Application) -> None:
        if obj.assigned_to is None:
            obj.assigned_to, obj.assigned_at = actor.user_id, utcnow()

    return APPLICATION_FLOW.transition(session, app, "start_review", actor,
                                       expected_version=expected_version, before_commit=claim)


def _required_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid.one("reason", "Give the reasons; the applicant sees them.")
    return reason


def return_for_amendment(session: Session, actor: Actor, app_id: int, reason: str | None, *,
                         expected_version: int | None = None) -> Application:
    """Return (退回补正) an application to the applicant with the reasons to amend."""
    reason = _required_reason(reason)
    app = get_application(session, actor, app_id)

    def note(obj: Application) -> None:
        obj.decision_reason = reason

    return APPLICATION_FLOW.transition(session, app, "return", actor, reason=reason,
                                       expected_version=expected_version, before_commit=note)


def approve(session: Session, actor: Actor, app_id: int, reason: str | None = None, *,
            expected_version: int | None = None) -> Application:
    """Approve (审核通过) after the price rules pass again; publicity (公示) starts."""
    app = get_application(session, actor, app_id)
    if APPLICATION_FLOW.find(app.status, "approve") is None:
        APPLICATION_FLOW.transition(session, app, "approve", actor)  # raises the 409
    # Permission and version before the price check, which stores a row and bumps the version.
    require(actor, APP_REVIEW)
    _check_version(app, expected_version)
    if app.proposed_price is not None:
        check = run_price_check(session, actor, app, CheckStage.review)
        if not check.passed:
            raise Conflict("the price %(price)s is above the cap %(cap)s (%(rule)s rule)",
                           params={"price": f"{app.proposed_price:.2f}",
                                   "cap": f"{check.governing_cap:.2f}",
                                   "rule": check.governing_rule})
    days = current_rules(session).params.publicity_working_days
    start, end = add_working_days(session, local_today(), days)

    def open_window(obj: Application) -> None:
        obj.decided_at = utcnow()
        obj.decision_reason = (reason or "").strip() or None
        obj.publicity_start, obj.publicity_end = start, end

    return APPLICATION_FLOW.transition(
        session, app, "approve", actor, reason=reason,
        details={"publicity_start": start.isoformat(), "publicity_end": end.isoformat()},
        before_commit=open_window)


def reject(session: Session, actor: Actor, app_id: int, reason: str | None, *,
           expected_version: int | None = None) -> Application:
    """Reject (不予通过) an application under review, with reasons."""
    reason = _required_reason(reason)
    app = get_application(session, actor, app_id)

    def note(obj: Application) -> None:
        obj.decided_at, obj.decision_reason = utcnow(), reason

    APPLICATION_FLOW.transition(session, app, "reject", actor, reason=reason,
                                expected_version=expected_version, before_commit=note)
    _retire_proposal(session, actor, app)
    return app


def _finish(session: Session, actor: Actor, app: Application) -> Application:
    """Publicity ended with no open objection: the application takes effect (生效)."""
    APPLICATION_FLOW.transition(session, app, "complete", actor)
    now = utcnow()
    app.listed_at = now
    session.add(app)
    product = session.get(Product, app.product_id)
    assert product is not None
    if app.kind == ApplicationKind.new_listing:
        org = session.get(Organisation, app.org_id)
        assert org is not None and app.proposed_price is not None
        if product.status != ProductStatus.active:
            PRODUCT_FLOW.transition(session, product, "activate", actor)
        listing = Listing(
            product_id=product.id, org_id=app.org_id, category=app.category,
            price=app.proposed_price, product_code=product.code, product_kind=product.kind,
            generic_name=product.generic_name, dosage_form=product.dosage_form,
            spec=product.spec, company_name=org.name, application_id=app.id, listed_at=now)
        session.add(listing)
        session.flush()
        index_search_names(session, [("generic", listing.generic_name),
                                     ("company", listing.company_name)])
        app.listing_id = listing.id
        audit.record(session, actor, "listing.create", "listing", listing.id,
                     after={"price": listing.price, "application_id": app.id},
                     org_id=app.org_id)
    else:
        listing = session.get(Listing, app.listing_id)
        assert listing is not None
        if app.kind == ApplicationKind.price_change and listing.status != ListingStatus.delisted:
            before = listing.price
            listing.price = app.proposed_price  # type: ignore[assignment]
            listing.linkage_deadline = None
            listing.application_id, listing.updated_at = app.id, now
            session.add(listing)
            session.flush()
            audit.record(session, actor, "listing.price_change", "listing", listing.id,
                         before={"price": before}, after={"price": listing.price},
                         org_id=app.org_id)
        # The bureau may have delisted or resumed the listing during publicity: its decision
        # stands, and the sweep must not fail (and hold up every other application) on it.
        elif app.kind == ApplicationKind.delisting:
            if listing.status != ListingStatus.delisted:
                _listing_move(session, actor, listing, "withdraw_listing",
                              ListingReason.company_request, app.justification)
        elif app.kind == ApplicationKind.relisting:
            if listing.status == ListingStatus.suspended:
                if app.proposed_price is not None:
                    listing.price = app.proposed_price
                _listing_move(session, actor, listing, "relist", ListingReason.corrected,
                              app.justification)
    session.flush()
    return app


def end_publicity(session: Session, actor: Actor, as_of: date | None = None) -> dict[str, int]:
    """List every application whose objection window ended before ``as_of`` (today) and has no
    open objection. Safe to run again: finished applications are no longer publicizing."""
    require(actor, APP_REVIEW)  # the scheduler (system actor) or the bureau's reviewers
    as_of = as_of or local_today()
    has_open = sa.exists().where(Objection.application_id == Application.id,
                                 Objection.status == ObjectionStatus.open)
    ids = list(session.exec(select(Application.id).where(
        Application.status == S.publicizing, Application.publicity_end < as_of,
        ~has_open).order_by(Application.id)))
    for app_id in ids:
        app = session.get(Application, app_id)
        assert app is not None
        _finish(session, actor, app)
    waiting = session.exec(select(sa.func.count()).select_from(Application).where(
        Application.status == S.publicizing, Application.publicity_end < as_of, has_open)).one()
    return {"listed": len(ids), "held_by_objection": int(waiting)}


# --- objections -------------------------------------------------------------------------------

def publicized_application(session: Session, app_id: int) -> Application:
    """An application on the publicity board (anyone may read it)."""
    app = session.get(Application, app_id)
    if app is None or app.status not in (S.publicizing, S.listed) or app.publicity_end is None:
        raise NotFound("listing_application %(id)s not found", params={"id": app_id})
    return app


def raise_objection(session: Session, actor: Actor, store: AttachmentStore, app_id: int,
                    reason: str | None, files: list[tuple[str, bytes]]) -> Objection:
    """Object (提出异议) to an application during its publicity window, with evidence."""
    require(actor, OBJECTION_RAISE)
    app = publicized_application(session, app_id)
    errors = ErrorCollector()
    reason = (reason or "").strip()
    if not reason:
        errors.add("reason", "Give the reason for the objection.")
    if not files:
        errors.add("files", "Attach the evidence for the objection (PDF, JPEG or PNG).")
    checked = []
    for name, data in files:
        try:
            checked.append((name, data, *sniff(data, field="files")))
        except Invalid as exc:
            errors.errors.extend(exc.errors)
    errors.raise_if_any()
    if app.org_id == actor.org_id:
        raise Forbidden("an applicant cannot object to its own application")
    if app.status != S.publicizing or app.publicity_end < local_today():  # type: ignore[operator]
        raise Conflict("the objection window of %(number)s has closed",
                       params={"number": app.number}, current_status=app.status.value)
    objection = Objection(application_id=app.id, org_id=actor.org_id, reason=reason,
                          created_by=actor.user_id)
    session.add(objection)
    session.flush()
    for name, data, content_type, ext in checked:
        _store_attachment(session, actor, store, name, data, content_type, ext,
                          objection_id=objection.id)
    audit.record(session, actor, "objection.raise", "objection", objection.id,
                 after={"application_id": app.id, "reason": reason}, org_id=actor.org_id)
    return objection


def get_objection(session: Session, actor: Actor, objection_id: int) -> Objection:
    return get_readable(session, Objection, objection_id, actor)


def list_objections(session: Session, actor: Actor, *, application_id: int | None = None,
                    status: ObjectionStatus | None = None, page: int = 1,
                    per_page: int = 50) -> Page:
    stmt = readable_by(Objection, actor)
    if application_id is not None:
        stmt = stmt.where(Objection.application_id == application_id)
    if status is not None:
        stmt = stmt.where(Objection.status == status)
    return paginate(session, stmt.order_by(Objection.id.desc()), page, per_page)


def resolve_objection(session: Session, actor: Actor, objection_id: int, upheld: bool,
                      resolution: str | None, *, expected_version: int | None = None,
                      as_of: date | None = None) -> Objection:
    """Resolve an objection: upheld (成立) rejects the application; dismissed (不成立) lets it
    take effect once the window has ended and no other objection is open."""
    resolution = (resolution or "").strip()
    if not resolution:
        raise Invalid.one("resolution", "Give the resolution; the objector sees it.")
    objection = get_objection(session, actor, objection_id)

    def note(obj: Objection) -> None:
        obj.resolution = resolution

    OBJECTION_FLOW.transition(session, objection, "uphold" if upheld else "dismiss", actor,
                              expected_version=expected_version, reason=resolution,
                              before_commit=note)
    app = session.get(Application, objection.application_id)
    assert app is not None
    if upheld:
        def reject_note(obj: Application) -> None:
            obj.decided_at = utcnow()
            obj.decision_reason = resolution

        APPLICATION_FLOW.transition(session, app, "uphold_objection", actor, reason=resolution,
                                    details={"objection_id": objection.id},
                                    before_commit=reject_note)
        _retire_proposal(session, actor, app)
        # The application is rejected: the other open objections against it are settled too.
        for other in session.exec(select(Objection).where(
                Objection.application_id == app.id, Objection.status == ObjectionStatus.open,
                Objection.id != objection.id)).all():
            other.resolution = resolution
            OBJECTION_FLOW.transition(session, other, "uphold", actor, reason=resolution,
                                      details={"settled_with": objection.id})
    else:
        as_of = as_of or local_today()
        still_open = session.exec(select(Objection.id).where(
            Objection.application_id == app.id, Objection.status == ObjectionStatus.open)).first()
        if still_open is None and app.status == S.publicizing \
                and app.publicity_end is not None and app.publicity_end < as_of:
            _finish(session, actor, app)
    return objection


def open_objection_count(session: Session, app_id: int) -> int:
    return int(session.exec(select(sa.func.count()).select_from(Objection).where(
        Objection.application_id == app_id, Objection.status == ObjectionStatus.open)).one())


# --- attachments ------------------------------------------------------------------------------

def _store_attachment(session: Session, actor: Actor, store: AttachmentStore, filename: str,
                      data: bytes, content_type: str, ext: str, **target: int | None) -> Attachment:
    key = store.put(data, ext)
    att = Attachment(org_id=actor.org_id, filename=(filename or "file")[-255:],
                     content_type=content_type, size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), storage_key=key,
                     created_by=actor.user_id, **target)
    session.add(att)
    session.flush()
    return att


def add_application_attachment(session: Session, actor: Actor, store: AttachmentStore,
                               app_id: int, filename: str, data: bytes) -> Attachment:
    """Attach evidence (证明材料) to one's own draft or returned application."""
    require(actor, APP_EDIT)
    app = _own_application(session, actor, app_id)
    _check_editable(app)
    content_type, ext = sniff(data)
    att = _store_attachment(session, actor, store, filename, data, content_type, ext,
                            application_id=app.id)
    audit.record(session, actor, "attachment.add", "attachment", att.id,
                 after={"application_id": app.id, "filename": att.filename,
                        "sha256": att.sha256}, org_id=actor.org_id)
    return att


def attachments_of(session: Session, actor: Actor, *, application_id: int | None = None,
                   objection_id: int | None = None,
                   listing_id: int | None = None) -> list[Attachment]:
    stmt = readable_by(Attachment, actor)
    if application_id is not None:
        stmt = stmt.where(Attachment.application_id == application_id)
    if objection_id is not None:
        stmt = stmt.where(Attachment.objection_id == objection_id)
    if listing_id is not None:
        stmt = stmt.where(Attachment.listing_id == listing_id)
    return list(session.exec(stmt.order_by(Attachment.id)))


def read_attachment(session: Session, actor: Actor, store: AttachmentStore,
                    attachment_id: int) -> tuple[Attachment, bytes]:
    """An attachment's metadata and bytes, for its uploader's organisation and the bureau."""
    att = get_readable(session, Attachment, attachment_id, actor)
    return att, store.get(att.storage_key)


# --- listings ---------------------------------------------------------------------------------

def get_listing(session: Session, actor: Actor, listing_id: int) -> Listing:
    return get_readable(session, Listing, listing_id, actor)


def _listing_move(session: Session, actor: Actor, listing: Listing, action: str,
                  reason_code: ListingReason, reason: str | None) -> Listing:
    def stamp(obj: Listing) -> None:
        obj.reason_code, obj.reason = reason_code, reason
        if action in ("delist", "withdraw_listing") and reason_code in BARRING_REASONS:
            today = local_today()
            obj.relist_barred_until = today.replace(year=today.year + RELIST_BAR_YEARS) \
                if not (today.month == 2 and today.day == 29) \
                else date(today.year + RELIST_BAR_YEARS, 3, 1)

    return LISTING_FLOW.transition(session, listing, action, actor, reason=reason,
                                   details={"reason_code": reason_code.value},
                                   before_commit=stamp)


def change_listing(session: Session, actor: Actor, store: AttachmentStore | None, listing_id: int,
                   action: str, reason_code: ListingReason, reason: str | None,
                   files: list[tuple[str, bytes]] = (), *,  # type: ignore[assignment]
                   expected_version: int | None = None) -> Listing:
    """Suspend (暂停), resume or delist (撤网) a listing, with a reason code and evidence."""
    if action not in ("suspend", "resume", "delist"):
        raise Invalid.one("action", "Unknown action.")
    reason = _required_reason(reason)
    listing = get_listing(session, actor, listing_id)
    check_version("listing", listing, expected_version)
    checked = [(name, data, *sniff(data, field="files")) for name, data in files]
    _listing_move(session, actor, listing, action, reason_code, reason)
    for name, data, content_type, ext in checked:
        assert store is not None
        _store_attachment(session, actor, store, name, data, content_type, ext,
                          listing_id=listing.id)
    return listing


def list_listings(session: Session, actor: Actor, *, status: ListingStatus | None = None,
                  q: str | None = None, org_id: int | None = None, page: int = 1,
                  per_page: int = 50) -> Page:
    stmt = readable_by(Listing, actor)
    if not actor.is_bureau and actor.org_kind == OrgKind.enterprise and org_id is None:
        org_id = actor.org_id
    if org_id is not None:
        stmt = stmt.where(Listing.org_id == org_id)
    if status is not None:
        stmt = stmt.where(Listing.status == status)
    if q:
        stmt = stmt.where(sa.or_(Listing.generic_name.contains(q),
                                 Listing.product_code.startswith(q.upper())))
    return paginate(session, stmt.order_by(Listing.id.desc()), page, per_page)


def own_listings(session: Session, actor: Actor) -> list[Listing]:
    """The actor company's open listings (for choosing one in an application)."""
    return list(session.exec(select(Listing).where(
        Listing.org_id == actor.org_id, Listing.status != ListingStatus.delisted)
        .order_by(Listing.generic_name, Listing.spec)))


def _own_product_clause(org: Organisation) -> Any:
    """The products ``applicant_may_list`` allows the company (as SQL)."""
    return sa.or_(Product.mah_org_id == org.id, Product.manufacturer_org_id == org.id,
                  Product.mah_code == org.code, Product.manufacturer_code == org.code,
                  Product.proposed_by_org_id == org.id)


def _listable_clause(org: Organisation, app_id: int | None = None) -> Any:
    """What a new-listing application (挂网申请) may be for: the company's own product, not
    a retired proposal, without an open listing of the company, without another open
    new-listing application of it (``app_id`` is the one being edited), and not barred from
    relisting."""
    open_listing = sa.select(Listing.id).where(
        Listing.product_id == Product.id, Listing.org_id == org.id,
        Listing.status != ListingStatus.delisted)
    barred = sa.select(Listing.id).where(
        Listing.product_id == Product.id, Listing.org_id == org.id,
        Listing.relist_barred_until.is_not(None),  # type: ignore[union-attr]
        Listing.relist_barred_until > local_today())
    in_progress = sa.select(Application.id).where(
        Application.product_id == Product.id, Application.org_id == org.id,
        Application.kind == ApplicationKind.new_listing,
        Application.status.in_(OPEN_STATUSES), Application.id != (app_id or 0))
    return sa.and_(_own_product_clause(org), Product.status != ProductStatus.retired,
                   ~open_listing.exists(), ~barred.exists(), ~in_progress.exists())


def own_products(session: Session, actor: Actor, limit: int = 500) -> list[Product]:
    """The actor company's catalogue products (e.g. to name a representative product)."""
    org = session.get(Organisation, actor.org_id)
    assert org is not None
    return list(session.exec(readable_by(Product, actor).where(_own_product_clause(org))
                             .order_by(Product.generic_name, Product.spec).limit(limit)))


def listable_products(session: Session, actor: Actor, q: str | None = None,
                      limit: int = 50, *, app_id: int | None = None) -> list[Product]:
    """The products the actor's company can apply to list now (the new-listing form's
    choices); ``create_application`` refuses any other with 422. ``app_id``: the
    application being edited keeps its own product among the choices."""
    org = session.get(Organisation, actor.org_id)
    assert org is not None
    stmt = readable_by(Product, actor).where(_listable_clause(org, app_id))
    if q:
        stmt = stmt.where(sa.or_(Product.generic_name.contains(q),
                                 Product.code.startswith(q.upper())))
    return list(session.exec(stmt.order_by(Product.generic_name, Product.spec).limit(limit)))


def _new_listing_refusal(session: Session, actor: Actor, org: Organisation, product: Product,
                         app_id: int | None) -> str | None:
    """Why the company cannot apply to list ``product`` now (None: it can)."""
    if not applicant_may_list(org, product):
        return ("Only the product's marketing-authorisation holder or manufacturer may apply "
                "to list it.")
    if session.exec(readable_by(Product, actor).where(
            Product.id == product.id, _listable_clause(org, app_id))).first() is not None:
        return None
    if product.status == ProductStatus.retired:
        return "No such product."
    if session.exec(select(Listing.id).where(
            Listing.product_id == product.id, Listing.org_id == org.id,
            Listing.status != ListingStatus.delisted)).first() is not None:
        return ("Your company already lists this product: apply for a price change or a "
                "relisting of that listing instead.")
    if session.exec(select(Application.id).where(
            Application.product_id == product.id, Application.org_id == org.id,
            Application.kind == ApplicationKind.new_listing,
            Application.status.in_(OPEN_STATUSES),
            Application.id != (app_id or 0))).first() is not None:
        return "An application of your company to list this product is already in progress."
    return ("Relisting is barred for two years after delisting for refusing price linkage or "
            "false price information.")


# --- queues and lists -------------------------------------------------------------------------

def list_applications(session: Session, actor: Actor, *, status: ApplicationStatus | None = None,
                      kind: ApplicationKind | None = None, q: str | None = None,
                      assigned: str | None = None, org_id: int | None = None,
                      page: int = 1, per_page: int = 50, queue: bool = False) -> Page:
    """Applications the actor may see; ``queue`` orders the bureau's review queue oldest first.

    ``assigned``: ``"me"``, ``"none"`` or a user id. Items are (application, product, company).
    """
    stmt = (select(Application, Product, Organisation)
            .join(Product, Product.id == Application.product_id)
            .join(Organisation, Organisation.id == Application.org_id)
            .where(Application.readable_clause(actor)))
    if queue:
        require(actor, APP_REVIEW)
        stmt = stmt.where(Application.status.in_((S.submitted, S.under_review)))
    if status is not None:
        stmt = stmt.where(Application.status == status)
    if kind is not None:
        stmt = stmt.where(Application.kind == kind)
    if org_id is not None:
        stmt = stmt.where(Application.org_id == org_id)
    if assigned == "me":
        stmt = stmt.where(Application.assigned_to == actor.user_id)
    elif assigned == "none":
        stmt = stmt.where(Application.assigned_to.is_(None))  # type: ignore[union-attr]
    elif assigned and assigned.isdigit():
        stmt = stmt.where(Application.assigned_to == int(assigned))
    if q:
        stmt = stmt.where(sa.or_(Product.generic_name.contains(q), Product.code == q.upper(),
                                 Application.number == q.upper(), Organisation.name.contains(q)))
    order = Application.submitted_at.asc() if queue else Application.id.desc()  # type: ignore[union-attr]
    return paginate(session, stmt.order_by(order, Application.id), page, per_page)


def status_counts(session: Session, actor: Actor) -> dict[str, int]:
    rows = session.exec(select(Application.status, sa.func.count()).where(
        Application.readable_clause(actor)).group_by(Application.status)).all()
    return {status.value: int(n) for status, n in rows}


# --- public pages -----------------------------------------------------------------------------

@dataclass
class SearchQuery:
    """The public listing search (挂网查询): any combination of the filters."""

    q: str | None = None          # generic name (contains) or code (prefix)
    company: str | None = None    # company name (contains)
    category: ListingCategory | None = None
    kind: ProductKind | None = None
    page: int = 1
    per_page: int | None = 20  # None: every match, for a download


#: The public search counts matches up to this many, then says "more than".
SEARCH_COUNT_LIMIT = 10_000
#: Above this many matching names, a fragment is too unspecific to look up name by name.
_MAX_NAMES = 400


def index_search_names(session: Session, rows: list[tuple[str, str]]) -> None:
    """Record ("generic" | "company", name) pairs for the search; existing ones are kept."""
    values = [{"kind": k, "name": n} for k, n in set(rows) if n]
    if not values:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = pg_insert(SearchName.__table__).on_conflict_do_nothing()
    else:
        stmt = sqlite_insert(SearchName.__table__).on_conflict_do_nothing()
    session.execute(stmt, values)


def _name_filter(session: Session, column: Any, kind: str, fragment: str) -> Any:
    """``column`` contains ``fragment``, answered through the name dictionary when it can."""
    names = list(session.exec(select(SearchName.name).where(
        SearchName.kind == kind, SearchName.name.contains(fragment, autoescape=True))
        .limit(_MAX_NAMES + 1)))
    if len(names) > _MAX_NAMES:
        return column.contains(fragment, autoescape=True)
    return column.in_(names)


def _code_prefix(prefix: str) -> Any:
    """Codes starting with ``prefix`` as an index range (LIKE is case-folding on SQLite and
    collation-bound on PostgreSQL, so it cannot use the index on either)."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return sa.and_(Listing.product_code >= prefix, Listing.product_code < upper)


def search_listings(session: Session, query: SearchQuery) -> Page:
    """Active listings, the catalogue hospitals buy from; public, no login needed.

    ``q`` is an insurance-code prefix when it starts with a Latin letter and holds no CJK
    character, else a fragment of the generic name.
    """
    stmt = select(Listing).where(Listing.status == ListingStatus.listed)
    order: tuple[Any, ...] = (Listing.generic_name, Listing.id)
    q = (query.q or "").strip()
    if q:
        if q.isascii() and q[:1].isalpha() and len(q) >= 2:
            stmt = stmt.where(_code_prefix(q.upper()))
            order = (Listing.product_code, Listing.id)  # read in the code index's order
        else:
            stmt = stmt.where(_name_filter(session, Listing.generic_name, "generic", q))
    if query.company and query.company.strip():
        stmt = stmt.where(_name_filter(session, Listing.company_name, "company",
                                       query.company.strip()))
    if query.category is not None:
        stmt = stmt.where(Listing.category == query.category)
    if query.kind is not None:
        stmt = stmt.where(Listing.product_kind == query.kind)
    # A download (per_page None) of the public search holds at most as many rows as it counts.
    per_page = None if query.per_page is None else min(query.per_page, 100)
    return paginate(session, stmt.order_by(*order), query.page, per_page,
                    count_limit=SEARCH_COUNT_LIMIT, export_cap=SEARCH_COUNT_LIMIT)


def publicity_board(session: Session, *, page: int = 1, per_page: int = 20,
                    as_of: date | None = None) -> Page:
    """Applications in their objection window (公示), newest first; public."""
    as_of = as_of or local_today()
    stmt = (select(Application, Product, Organisation)
            .join(Product, Product.id == Application.product_id)
            .join(Organisation, Organisation.id == Application.org_id)
            .where(Application.status == S.publicizing))
    return paginate(session, stmt.order_by(Application.publicity_start.desc(),  # type: ignore[union-attr]
                                           Application.id.desc()), page, per_page)


def history(session: Session, actor: Actor, object_type: str, object_id: int) -> list[Any]:
    """The audit trail of one application or listing the actor can see, oldest first."""
    model = {"listing_application": Application, "listing": Listing}[object_type]
    get_readable(session, model, object_id, actor)
    return list(session.exec(select(AuditLog).where(
        AuditLog.object_type == object_type, AuditLog.object_id == str(object_id))
        .order_by(AuditLog.seq)))


def application_age(app: Application, now: datetime | None = None) -> timedelta | None:
    """How long an application has waited since it was (re)submitted."""
    if app.submitted_at is None:
        return None
    return (now or utcnow()) - app.submitted_at
