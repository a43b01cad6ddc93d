"""Agreement pages of a batch (采购协议): each side confirms its agreements online (协议确认),
one by one or all of a contract year; the bureau follows the counts and, while the batch
executes, renews them for the next year (每年一签), when a hospital may raise a renewal's
volume but never below last year's. Thin: parse, call ``procurement.services_allocation``,
render; what the actor may read of the parties and do comes from the service
(``services_allocation.agreements_board``)."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _

from core.db import get_session
from core.errors import ErrorCollector
from core.i18n import N_
from core.money import format_fen, format_price
from core.tabular import Fen, whole_number
from core.types import BIGINT_MAX
from core.web import acting, attempt, download, int_arg, requires, xlsx_download
from procurement import services
from procurement import services_allocation as alloc
from procurement import services_award as award
from procurement.blueprint import Tab, add_tab, batch_page, bp
from procurement.models import AgreementStatus, AwardStage, BatchStatus
from procurement.permissions import AGREEMENT_READ, AGREEMENT_SIGN, BATCH_MANAGE

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
            lambda b, a: award.stage_reached(b, AwardStage.agreements)))


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
    board = alloc.agreements_board(session, actor, batch_id, year=year, status=state,
                                   page=int_arg("page") or 1, per_page=50)
    return batch_page(
        "procurement/agreements.html", batch, "agreements", status, page=board.page,
        rows=board.page.items, year=year, state=state, statuses=list(AgreementStatus),
        years=list(range(1, batch.cycle_years + 1)),
        products={p.id: p for p in services.batch_products(session, actor, batch_id)},
        orgs=board.orgs, signers=board.signers, previous=board.previous,
        summary=board.summary, waiting=board.waiting, can_sign=board.can_sign,
        can_renew=board.can_renew, volume_editable=board.volume_editable, renew_years=list(range(2, batch.cycle_years + 1)),
        own_org=actor.org_id, side=board.side, errors=errors or {}, posted=posted,
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
    done = attempt(lambda: alloc.sign(get_session(), acting(), agreement_id,
                                      expected_version=int_arg("version"), batch_id=batch_id))
    if not done.ok:
        return _agreements_page(batch_id, done.status)
    flash(_("Agreement confirmed."), "success")
    return _back(batch_id)


@bp.route("/batches/<int:batch_id>/agreements/sign-all", methods=["POST"])
@requires(AGREEMENT_SIGN)
def agreements_sign_all(batch_id: int):
    """Confirm every agreement of a contract year that waits for the actor's side."""
    year = int_arg("year")
    done = attempt(lambda: alloc.sign_all(get_session(), acting(), batch_id, year),
                   form=False)
    if not done.ok:
        return _agreements_page(batch_id, done.status)
    flash(_("%(n)s agreement(s) of year %(year)s confirmed.", n=done.value, year=year),
          "success")
    return _back(batch_id)


@bp.route("/batches/<int:batch_id>/agreements/renew", methods=["POST"])
@requires(BATCH_MANAGE)
def agreements_renew(batch_id: int):
    """Open the next contract year: last year's signed agreements are proposed again."""
    year = int_arg("year")
    done = attempt(lambda: alloc.renew(get_session(), acting(), batch_id, year), form=False)
    if not done.ok:
        return _agreements_page(batch_id, done.status)
    flash(_("%(n)s agreement(s) proposed for year %(year)s.", n=done.value, year=year),
          "success")
    return redirect(url_for("procurement.agreements", batch_id=batch_id, year=year))


@bp.route("/batches/<int:batch_id>/agreements/<int:agreement_id>/volume", methods=["POST"])
@requires(AGREEMENT_SIGN)
def agreement_volume(batch_id: int, agreement_id: int):
    """The hospital raises its renewal's volume before signing."""
    text = request.form.get("volume", "").strip().replace(",", "")

    def save() -> Any:
        errors = ErrorCollector()
        volume = whole_number(text, "volume", None, errors, maximum=BIGINT_MAX,
                              message="Enter a whole number of smallest units.")
        errors.raise_if_any()
        return alloc.set_volume(get_session(), acting(), agreement_id, volume,
                                expected_version=int_arg("version"), batch_id=batch_id)
    done = attempt(save)
    if not done.ok:
        return _agreements_page(batch_id, done.status, errors={agreement_id: done.errors},
                                posted=agreement_id)
    flash(_("The renewal volume is saved."), "success")
    return _back(batch_id)
