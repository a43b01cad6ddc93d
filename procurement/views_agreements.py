"""Agreement pages of a batch (采购协议): each side confirms its agreements online (协议确认),
one by one or all of a contract year; the bureau follows the counts and, while the batch
executes, renews them for the next year (每年一签), when a hospital may raise a renewal's
volume but never below last year's. Thin: parse, call ``procurement.services_allocation``,
render. The names of the parties and signatories are read at the end, through the agreements
the actor may read."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlmodel import Session, func, select

from core.db import get_session
from core.errors import DomainError, ErrorCollector, Invalid, NotFound
from core.i18n import N_
from core.labels import model_term
from core.models import Organisation, OrgKind, User
from core.money import format_fen, format_price
from core.permissions import Actor
from core.scoping import readable_by
from core.tabular import Fen, whole_number
from core.types import BIGINT_MAX
from core.web import acting, download, int_arg, requires, xlsx_download
from procurement import services
from procurement import services_allocation as alloc
from procurement.models import Agreement, AgreementStatus, AwardStage, BatchStatus
from procurement.permissions import AGREEMENT_READ, AGREEMENT_SIGN, BATCH_MANAGE
from procurement.views import Tab, add_tab, batch_page, bp, refused
from procurement.views_award import _stage_at_least

B = BatchStatus

#: Values and messages translated when rendered (extraction finds them through ``N_``).
TERMS: tuple[str, ...] = (
    N_("agreement:proposed"), N_("agreement:hospital_signed"),  # AgreementStatus
    N_("agreement:enterprise_signed"), N_("agreement:signed"),
    N_("action:sign_hospital"), N_("action:sign_enterprise"),
    N_("vbp_agreement.sign_hospital"), N_("vbp_agreement.sign_enterprise"),
    N_("vbp_agreement.renew"), N_("vbp_agreement.set_volume"),  # audit actions
    N_("volume"), N_("year"),  # field names
    # errors of procurement.services_allocation (agreements)
    N_("agreements of vbp_batch %(id)s are not open for signing"),
    N_("only the hospital and the company of an agreement confirm it"),
    N_("agreements of vbp_batch %(id)s are renewed while it executes"),
    N_("Choose a later contract year within the purchase cycle."),
    N_("vbp_batch %(id)s has no agreements of the year before"),
    N_("%(n)s agreements of vbp_batch %(id)s are not signed by both sides"),
    N_("only the hospital sets the volume of its renewal"),
    N_("vbp_agreement %(id)s is not an unsigned renewal"),
    N_("Choose a contract year within the purchase cycle."),
    N_("The renewal volume may not be below last year's agreed volume."),
    N_("publish the allocation of vbp_batch %(id)s as agreements first"),
)

add_tab(Tab("agreements", N_("Agreements"), "procurement.agreements", AGREEMENT_READ,
            lambda b, a: _stage_at_least(b, AwardStage.agreements)))


def _side(actor: Actor) -> str | None:
    """Which side of its agreements the actor's organisation is (its own column is hidden)."""
    if actor.org_kind == OrgKind.hospital:
        return "hospital"
    if actor.org_kind == OrgKind.enterprise:
        return "enterprise"
    return None



def _status_arg() -> AgreementStatus | None:
    try:
        return AgreementStatus(request.args.get("status", ""))
    except ValueError:
        return None


def _agreements_page(batch_id: int, status: int = 200, *, errors: dict[int, list] | None = None,
                     posted: int | None = None) -> Any:
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    year, state = int_arg("year"), _status_arg()
    page = alloc.list_agreements(session, actor, batch_id, year=year, status=state,
                                 page=int_arg("page") or 1, per_page=50)
    rows: list[Agreement] = page.items
    signing = batch.status in (B.allocating, B.executing)
    party = actor.org_id is not None and not actor.is_bureau
    return batch_page(
        "procurement/agreements.html", batch, "agreements", status, page=page, rows=rows,
        year=year, state=state, statuses=list(AgreementStatus),
        years=list(range(1, batch.cycle_years + 1)),
        products={p.id: p for p in services.batch_products(session, actor, batch_id)},
        orgs=_party_names(session, actor, batch_id, rows),
        signers=_signer_names(session, actor, batch_id, rows),
        previous=_previous_volumes(session, actor, rows),
        summary=alloc.agreement_summary(session, actor, batch_id),
        waiting=_waiting(session, actor, batch_id) if party else {},
        can_sign=actor.can(AGREEMENT_SIGN) and signing and party,
        can_renew=actor.can(BATCH_MANAGE) and batch.status == B.executing,
        renew_years=list(range(2, batch.cycle_years + 1)),
        own_org=actor.org_id, side=_side(actor), errors=errors or {}, posted=posted,
        form=request.form, format_fen=format_fen, format_price=format_price)


@bp.route("/batches/<int:batch_id>/agreements")
@requires(AGREEMENT_READ)
def agreements(batch_id: int):
    """The agreements the actor is party to (the bureau: all), by year and status."""
    return _agreements_page(batch_id)


@bp.route("/batches/<int:batch_id>/agreements.csv")
@requires(AGREEMENT_READ)
def agreements_csv(batch_id: int):
    """The agreements of the page (same year and status filter) as a CSV for Excel."""
    session = get_session()
    actor = acting()
    batch = services.get_batch(session, actor, batch_id)
    data = alloc.agreements_csv(session, actor, batch_id, year=int_arg("year"),
                                status=_status_arg())
    return download(data, f"{batch.code}-agreements.csv", "text/csv; charset=utf-8")


@bp.route("/batches/<int:batch_id>/agreements/export.xlsx")
@requires(AGREEMENT_READ)
def agreements_xlsx(batch_id: int):
    """The agreements of the page (same year and status filter) as an Excel workbook."""
    session = get_session()
    actor = acting()
    batch = services.get_batch(session, actor, batch_id)
    rows = alloc.agreement_rows(session, actor, batch_id, year=int_arg("year"),
                                status=_status_arg())
    return xlsx_download(f"{batch.code}-agreements.xlsx", [
        N_("Product code"), N_("Generic name"), N_("Hospital code"), N_("Hospital"),
        N_("Company code"), N_("Company"), N_("Year"), N_("Starts on"), N_("Ends on"),
        N_("Agreed volume"), N_("Unit price"), N_("Amount"), N_("Status")], (
        [*row[:11], Fen(row[11]), _status_name(row[12])] for row in rows), N_("Agreements"))


def _status_name(status: AgreementStatus) -> str:
    key = f"agreement:{status.value}"  # the msgids the page translates (agreement:signed …)
    return _(key)


def _back(batch_id: int) -> Any:
    args = {k: v for k, v in (("year", request.args.get("year")),
                              ("status", request.args.get("status"))) if v}
    return redirect(url_for("procurement.agreements", batch_id=batch_id, **args))


@bp.route("/batches/<int:batch_id>/agreements/<int:agreement_id>/sign", methods=["POST"])
@requires(AGREEMENT_SIGN)
def agreement_sign(batch_id: int, agreement_id: int):
    """Confirm one agreement for the actor's side, from the version the page showed."""
    session = get_session()
    try:
        agreement = alloc.get_agreement(session, acting(), agreement_id)
        if agreement.batch_id != batch_id:
            raise NotFound("%(object)s %(id)s not found",
                           params={"object": model_term(Agreement), "id": agreement_id})
        alloc.sign(session, acting(), agreement_id, expected_version=int_arg("version"))
    except DomainError as exc:
        return _agreements_page(batch_id, refused(exc))
    flash(_("Agreement confirmed."), "success")
    return _back(batch_id)


@bp.route("/batches/<int:batch_id>/agreements/sign-all", methods=["POST"])
@requires(AGREEMENT_SIGN)
def agreements_sign_all(batch_id: int):
    """Confirm every agreement of a contract year that waits for the actor's side."""
    year = int_arg("year")
    try:
        if year is None:
            raise Invalid.one("year", "Choose a contract year within the purchase cycle.")
        n = alloc.sign_all(get_session(), acting(), batch_id, year)
    except DomainError as exc:
        return _agreements_page(batch_id, refused(exc))
    flash(_("%(n)s agreement(s) of year %(year)s confirmed.", n=n, year=year), "success")
    return _back(batch_id)


@bp.route("/batches/<int:batch_id>/agreements/renew", methods=["POST"])
@requires(BATCH_MANAGE)
def agreements_renew(batch_id: int):
    """Open the next contract year: last year's signed agreements are proposed again."""
    year = int_arg("year")
    try:
        if year is None:
            raise Invalid.one("year", "Choose a later contract year within the purchase cycle.")
        n = alloc.renew(get_session(), acting(), batch_id, year)
    except DomainError as exc:
        return _agreements_page(batch_id, refused(exc))
    flash(_("%(n)s agreement(s) proposed for year %(year)s.", n=n, year=year), "success")
    return redirect(url_for("procurement.agreements", batch_id=batch_id, year=year))


@bp.route("/batches/<int:batch_id>/agreements/<int:agreement_id>/volume", methods=["POST"])
@requires(AGREEMENT_SIGN)
def agreement_volume(batch_id: int, agreement_id: int):
    """The hospital raises its renewal's volume before signing."""
    session = get_session()
    text = request.form.get("volume", "").strip().replace(",", "")
    try:
        agreement = alloc.get_agreement(session, acting(), agreement_id)
        if agreement.batch_id != batch_id:
            raise NotFound("%(object)s %(id)s not found",
                           params={"object": model_term(Agreement), "id": agreement_id})
        errors = ErrorCollector()
        volume = whole_number(text, "volume", None, errors, maximum=BIGINT_MAX,
                              message="Enter a whole number of smallest units.")
        errors.raise_if_any()
        alloc.set_volume(session, acting(), agreement_id, volume,
                         expected_version=int_arg("version"))
    except Invalid as exc:
        session.rollback()
        return _agreements_page(batch_id, exc.status, errors={agreement_id: exc.errors},
                                posted=agreement_id)
    except DomainError as exc:
        return _agreements_page(batch_id, refused(exc))
    flash(_("The renewal volume is saved."), "success")
    return _back(batch_id)


# --- reads the page needs beyond the services ---------------------------------------------------

def _readable_ids(actor: Actor, batch_id: int, *columns: Any) -> Any:
    """The values of ``columns`` over the agreements of the batch the actor may read."""
    scope = readable_by(Agreement, actor).where(Agreement.batch_id == batch_id).subquery()
    return sa.union(*(select(getattr(scope.c, c.key)) for c in columns))


def _party_names(session: Session, actor: Actor, batch_id: int, rows: Iterable[Agreement]
                 ) -> dict[int, str]:
    """The names of the hospitals and companies of the agreements shown: a party may know its
    counterparties, the bureau everyone."""
    ids = {a.hospital_id for a in rows} | {a.enterprise_id for a in rows}
    if not ids:
        return {}
    parties = _readable_ids(actor, batch_id, Agreement.hospital_id, Agreement.enterprise_id)
    return dict(session.exec(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_(ids), Organisation.id.in_(parties))).all())  # type: ignore[union-attr]


def _signer_names(session: Session, actor: Actor, batch_id: int, rows: Iterable[Agreement]
                  ) -> dict[int, str]:
    """The names of the people who confirmed the agreements shown."""
    ids = {a.hospital_signed_by for a in rows} | {a.enterprise_signed_by for a in rows}
    ids.discard(None)
    if not ids:
        return {}
    signers = _readable_ids(actor, batch_id, Agreement.hospital_signed_by,
                            Agreement.enterprise_signed_by)
    return dict(session.exec(select(User.id, User.display_name).where(
        User.id.in_(ids), User.id.in_(signers))).all())  # type: ignore[union-attr]


def _previous_volumes(session: Session, actor: Actor, rows: Iterable[Agreement]
                      ) -> dict[int, int]:
    """Last year's volume of each renewal shown (the least the hospital may agree to)."""
    ids = {a.previous_id for a in rows if a.previous_id is not None}
    if not ids:
        return {}
    return {a.id: a.volume for a in session.exec(readable_by(Agreement, actor).where(
        Agreement.id.in_(ids)))}  # type: ignore[union-attr]


def _waiting(session: Session, actor: Actor, batch_id: int) -> dict[int, int]:
    """Per contract year, the agreements that wait for the actor's side to confirm."""
    rows = session.execute(readable_by(Agreement, actor).with_only_columns(
        Agreement.year, func.count()).where(
        Agreement.batch_id == batch_id,
        sa.or_(sa.and_(Agreement.hospital_id == actor.org_id,
                       Agreement.hospital_signed_at.is_(None)),  # type: ignore[union-attr]
               sa.and_(Agreement.enterprise_id == actor.org_id,
                       Agreement.enterprise_signed_at.is_(None))))  # type: ignore[union-attr]
        .group_by(Agreement.year).order_by(Agreement.year)).all()
    return dict(rows)
