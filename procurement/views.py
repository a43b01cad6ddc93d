"""HTML pages of the Procurement module (集采). Thin: parse, call a service, render.

A batch's pages share one head (code, name, status, the lifecycle buttons) and a row of tabs
(``procurement.blueprint``): the overview here, the volume reports in ``views_reports``, the
bids in ``views_bids``; the award pages and agreements add their own tabs.
"""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.db import get_session
from core.forms import parse, require_confirmation
from core.i18n import N_
from core.models import OrgKind
from core.types import utcnow
from core.web import acting, attempt, enum_arg, int_arg, requires
from listing import services as listing_services
from procurement import services, services_pages
from procurement.blueprint import Tab, add_tab, batch_page, bp, local_input, local_to_utc
from procurement.models import BatchStatus
from procurement.permissions import (
    BATCH_MANAGE,
    BATCH_READ,
    BID_READ,
    REPORT_OVERVIEW,
    REPORT_READ,
    VIEW,
)

B = BatchStatus


add_tab(Tab("overview", N_("Overview"), "procurement.batch_detail", BATCH_READ))
add_tab(Tab("report", N_("My volume report"), "procurement.report", REPORT_READ,
            lambda b, a: a.org_kind == OrgKind.hospital and b.status != B.draft))
add_tab(Tab("reports", N_("Volume reports"), "procurement.reports_overview", REPORT_OVERVIEW,
            lambda b, a: b.status != B.draft))
add_tab(Tab("bids", N_("Bids"), "procurement.bids", BID_READ,
            lambda b, a: b.status != B.draft))


# --- home -------------------------------------------------------------------------------------

#: The stages a batch goes through, in order (cancelled is off this path).
STAGES = [s for s in BatchStatus if s != B.cancelled]
ACTIVE = (B.draft, B.reporting, B.bidding, B.evaluating, B.publicizing, B.allocating,
          B.executing)


@bp.route("/")
@requires(VIEW)
def home():
    """The module's landing page, one per organisation kind."""
    actor = acting()
    session = get_session()
    context: dict[str, Any] = {"statuses": list(BatchStatus), "now": utcnow()}
    if actor.is_bureau:
        context["counts"] = services_pages.status_counts(session, actor)
        context["batches"] = services_pages.batches_in(session, actor, ACTIVE)
        context["next_steps"] = {b.id: services_pages.next_step(b) for b in context["batches"]}
    elif actor.org_kind == OrgKind.hospital:
        context["batches"] = services_pages.batches_in(session, actor, [B.reporting])
        context["progress"] = services_pages.report_progress(
            session, actor, [b.id for b in context["batches"]])
        context["later"] = services_pages.batches_in(
            session, actor, [B.bidding, B.evaluating, B.publicizing, B.allocating, B.executing])
    else:
        context["batches"] = services_pages.batches_in(session, actor, [B.bidding])
        context["upcoming"] = services_pages.batches_in(session, actor, [B.reporting])
        ids = [b.id for b in context["batches"]]
        context["products"] = services_pages.product_counts(
            session, actor, ids + [b.id for b in context["upcoming"]])
        context["own_bids"] = services_pages.bid_counts(session, actor, ids)
        context["bidding_open"] = {b.id: services.bidding_open(b) for b in
                                   context["batches"]}
    return render_template("procurement/home.html", **context)


# --- batches ----------------------------------------------------------------------------------

@bp.route("/batches")
@requires(BATCH_READ)
def batches():
    actor = acting()
    session = get_session()
    page = services.list_batches(session, actor, status=enum_arg(BatchStatus, "status"),
                                 page=int_arg("page") or 1, per_page=20)
    statuses = list(BatchStatus) if actor.is_bureau else \
        [s for s in BatchStatus if s != B.draft]
    return render_template("procurement/batches.html", page=page, statuses=statuses,
                           products=services_pages.product_counts(
                               session, actor, [b.id for b in page.items]))


_DATETIMES = ("report_deadline", "bid_opens_at", "bid_closes_at")


def _batch_form_data(code: str | None = None) -> dict[str, Any]:
    data = {k: v.strip() for k, v in request.form.items() if k not in ("csrf_token", "version")
            and v.strip() != ""}
    for name in _DATETIMES:
        if name in data:
            data[name] = local_to_utc(data[name])
    if code is not None:
        data["code"] = code  # the code is fixed once the batch exists
    return data


@bp.route("/batches/new", methods=["GET", "POST"])
@requires(BATCH_MANAGE)
def batch_new():
    actor = acting()
    session = get_session()
    errors: list = []
    if request.method == "POST":
        done = attempt(lambda: services.create_batch(
            session, actor, parse(services.BatchIn, _batch_form_data())))
        if done.ok:
            flash(_("Batch %(code)s created as a draft. Add its products next.",
                    code=done.value.code), "success")
            return redirect(url_for("procurement.batch_detail", batch_id=done.value.id))
        errors = done.errors
    return render_template("procurement/batch_form.html", batch=None, form=request.form,
                           errors=errors,
                           rule_version=services.current_rules(session).version), \
        422 if errors else 200


@bp.route("/batches/<int:batch_id>/edit", methods=["GET", "POST"])
@requires(BATCH_MANAGE)
def batch_edit(batch_id: int):
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    errors: list = []
    if request.method == "POST":
        done = attempt(lambda: services.update_batch(
            session, actor, batch_id, parse(services.BatchIn, _batch_form_data(batch.code))))
        if done.ok:
            flash(_("Batch saved."), "success")
        if done.ok or not done.errors:
            return redirect(url_for("procurement.batch_detail", batch_id=batch_id))
        errors = done.errors
        batch = services.get_batch(session, actor, batch_id)  # the rollback expired it
    form = request.form if request.method == "POST" else {
        "name": batch.name, "report_deadline": local_input(batch.report_deadline),
        "bid_opens_at": local_input(batch.bid_opens_at),
        "bid_closes_at": local_input(batch.bid_closes_at),
        "cycle_start": batch.cycle_start.isoformat() if batch.cycle_start else "",
        "note": batch.note or ""}
    return render_template("procurement/batch_form.html", batch=batch, form=form,
                           errors=errors, rule_version=batch.rule_version), \
        422 if errors else 200


def _overview(batch_id: int, status: int = 200) -> Any:
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    products = services.batch_products(session, actor, batch_id)
    history = services_pages.batch_history(session, actor, batch_id) if actor.is_bureau else []
    return batch_page("procurement/batch_detail.html", batch, "overview", status,
                      products=products, history=history, stages=STAGES,
                      can_manage=actor.can(BATCH_MANAGE),
                      may=services.batch_actions(batch, actor),
                      reporting_open=services_pages.reporting_open(batch),
                      bidding_open=services.bidding_open(batch))


@bp.route("/batches/<int:batch_id>")
@requires(BATCH_READ)
def batch_detail(batch_id: int):
    return _overview(batch_id)


_DONE = {
    "open_reporting": N_("Volume reporting is open."),
    "open_bidding": N_("Bidding is open."),
    "close_bidding": N_("Bidding is closed; the bids are opened."),
    "publicize": N_("The proposed winners are in publicity."),
    "start_allocation": N_("Hospital choice and allocation have started."),
    "execute": N_("The agreements are in force."),
    "close": N_("The batch is closed."),
    "cancel": N_("The batch is cancelled."),
}


@bp.route("/batches/<int:batch_id>/actions/<action>", methods=["POST"])
@requires(BATCH_MANAGE)
def batch_action(batch_id: int, action: str):
    """A lifecycle button, confirmed in its dialog (every move is for good). The form carries
    the version the page showed: a batch changed in the meantime answers 409 with the page
    as it is now."""

    def move() -> Any:
        require_confirmation(request.form)
        return services.move_batch(get_session(), acting(), batch_id, action,
                                   expected_version=int_arg("version"),
                                   reason=request.form.get("reason"))
    done = attempt(move, form=False)
    if not done.ok:
        return _overview(batch_id, done.status)
    flash(_(_DONE.get(action, N_("Saved."))), "success")
    return redirect(url_for("procurement.batch_detail", batch_id=batch_id))


# --- batch products ---------------------------------------------------------------------------

@bp.route("/batches/<int:batch_id>/products/new", methods=["GET", "POST"])
@requires(BATCH_MANAGE)
def product_new(batch_id: int):
    """Add a product (品种) to a draft batch; the dosage forms are the price-rule table's."""
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    errors: list = []
    status = 200
    if request.method == "POST":
        done = attempt(lambda: services.add_batch_product(
            session, actor, batch_id, parse(services.BatchProductIn, request.form)))
        if done.ok:
            flash(_("Product %(code)s added.", code=done.value.code), "success")
            if request.form.get("another"):
                return redirect(url_for("procurement.product_new", batch_id=batch_id))
            return redirect(url_for("procurement.batch_detail", batch_id=batch_id))
        errors, status = done.errors, done.status
    forms = sorted(listing_services.current_rules(session).params.form_ratios)
    return batch_page("procurement/product_form.html", batch, "overview", status,
                      form=request.form, errors=errors, dosage_forms=forms,
                      products=services.batch_products(session, actor, batch_id))


