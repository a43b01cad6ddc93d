"""Award pages of a batch (中选): the winner selection and its explanation, the public results
board (拟中选结果公示), the supply regions picked in ucp order (供应地区选择), the hospitals'
ranked choice (医疗机构选择) and the allocation runs (约定采购量分配). Thin: parse, call a
service of ``procurement.services_award`` / ``services_allocation``, render.

What each party may read and do (the stage of the award, the buttons) comes from the services.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.db import get_session
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.forms import require_confirmation
from core.i18n import N_
from core.models import OrgKind
from core.permissions import PUBLIC, Actor
from core.web import acting, attempt, download, int_arg, requires, xlsx_download
from procurement import services, services_pages
from procurement import services_allocation as alloc
from procurement import services_award as award
from procurement.blueprint import Tab, add_tab, batch_page, bp, local_input, local_to_utc
from procurement.models import (
    AwardStage,
    Batch,
    BatchStatus,
    SupplyRole,
)
from procurement.permissions import (
    BATCH_MANAGE,
    BATCH_READ,
    CHOICE_EDIT,
    REGION_PICK,
    REPORT_OVERVIEW,
)

B = BatchStatus
A = AwardStage

#: Values and messages translated when rendered (extraction finds them through ``N_``).
TERMS: tuple[str, ...] = (
    N_("regions"), N_("choice"), N_("agreements"),  # AwardStage
    N_("queued"), N_("running"), N_("optimal"), N_("infeasible"), N_("failed"),  # RunStatus
    N_("superseded"), N_("published"),  # RunStatus
    N_("primary"), N_("backup"),  # SupplyRole
    N_("disqualified"),  # BidStatus
    N_("action:close_regions"), N_("vbp_award.close_regions"),
    N_("action:publish_allocation"), N_("vbp_award.publish_allocation"),
    N_("vbp_batch.select"), N_("vbp_bid.disqualify"), N_("vbp_region.pick"),
    N_("vbp_region.finish"), N_("vbp_choice.set"), N_("vbp_allocation.start"),
    N_("vbp_allocation.publish"),  # audit actions
    N_("reason"), N_("region_code"),  # field names
    # errors of procurement.services_award
    N_("winners of vbp_batch %(id)s are selected while evaluating"),
    N_("Give the reason."),
    N_("bids of vbp_batch %(id)s can be disqualified only while evaluating or in publicity"),
    N_("vbp_bid %(id)s is %(status)s"),
    N_("the results of vbp_batch %(id)s are not public yet"),
    N_("vbp_batch %(id)s is not at the %(stage)s step"),
    N_("supply regions of vbp_batch %(id)s are picked once results are final"),
    N_("your company is not a winner of this product"),
    N_("it is %(name)s's turn to pick a region"),
    N_("the picking of regions for this product is over"),
    N_("Choose a region of the province."),
    N_("Your company already supplies this region."),
    N_("your company has already finished picking regions"),
    N_("only medical institutions choose winners"),
    N_("hospitals choose once the supply regions of vbp_batch %(id)s are settled"),
    N_("the choice deadline of vbp_batch %(id)s has passed"),
    N_("the choice deadline of vbp_batch %(id)s can no longer change"),
    N_("Give the time with its time zone."),
    N_("Enter a date and time."),
    N_("choice_deadline"), N_("vbp_batch.choice_deadline"),
    N_("This winner does not supply your region."),
    N_("A rank is a whole number from 1."),
    N_("%(object)s %(id)s not found"),
    # errors of procurement.services_allocation (runs)
    N_("vbp_batch %(id)s is not at the choice step"),
    N_("allocation run %(id)s of this batch is still running"),
    N_("allocation run %(id)s is %(status)s, not optimal"),
    N_("a later allocation run of this batch exists"),
)

#: Why a bid won or lost, as a sentence with the batch's rule values (DOMAIN §2).
RULE_TEXT = {
    "won_multiplier": N_("Won: not above %(m)s × the anchor price"),
    "won_floor": N_("Won: not above the price floor of ¥%(floor)s"),
    "won_zero_volume": N_("Won with zero agreed volume: below the mean − %(sd)s SD"),
    "lost_threshold": N_("Not won: above %(m)s × the anchor price and the price floor"),
    "lost_cap": N_("Not won: ranked beyond the entrant cap of %(cap)s"),
}

add_tab(Tab("results", N_("Winners"), "procurement.results", BATCH_READ, award.results_shown))
add_tab(Tab("regions", N_("Supply regions"), "procurement.regions", BATCH_READ,
            lambda b, a: award.stage_reached(b, A.regions)))
add_tab(Tab("choices", N_("Hospital choice"), "procurement.choices", BATCH_READ,
            lambda b, a: (a.org_kind == OrgKind.hospital and award.stage_reached(b, A.choice))
            or (a.can(BATCH_MANAGE) and award.stage_reached(b, A.regions))))
add_tab(Tab("allocation", N_("Allocation"), "procurement.allocation", REPORT_OVERVIEW,
            lambda b, a: award.stage_reached(b, A.choice)))



def _rule_text(verdict: dict, params: Any, cap: Any) -> str:
    msgid = RULE_TEXT.get(verdict.get("rule", ""))
    if msgid is None:
        return _(verdict.get("rule", ""))
    return _(msgid, m=format(params.winner_multiplier.normalize(), "f"),
             floor=format(params.price_floor, "f"),
             sd=format(params.zero_volume_sd.normalize(), "f")
             if params.zero_volume_sd is not None else "—",
             cap=cap if cap is not None else "—")


def _names(rows: list[award.ProductResult]) -> dict[int, str]:
    """Company names by winner id, from the stored explanation (the names published with it)."""
    out: dict[int, str] = {}
    for r in rows:
        by_bid = {v.get("bid_id"): v.get("org_name") for v in r.verdicts}
        for w in r.winners:
            out[w.id] = by_bid.get(w.bid_id) or "—"
    return out


# --- winner selection (bureau) and results -----------------------------------------------------

def _results_page(batch_id: int, status: int = 200, *, errors: dict[int, list] | None = None,
                  posted: int | None = None) -> Any:
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    rows: list[award.ProductResult] = []
    hidden = None
    try:
        rows = award.results(session, actor, batch_id)
    except Conflict as exc:
        hidden = exc
    params = services.batch_rules(session, batch)
    may = award.award_actions(batch, actor)
    gone = award.disqualified_bids(session, actor, batch_id) if actor.is_bureau else {}
    return batch_page(
        "procurement/results.html", batch, "results", status, rows=rows, hidden=hidden,
        own_org=actor.org_id, params=params,
        multiplier=format(params.winner_multiplier.normalize(), "f"),
        rule_text=lambda v, cap: _rule_text(v, params, cap),
        can_select="select" in may, can_disqualify="disqualify" in may,
        notice=award.results_notice(batch),
        errors=errors or {}, posted=posted, form=request.form,
        disqualified=gone, org_names=services_pages.org_names(
            session, actor, [b.org_id for bids in gone.values() for b in bids]))


@bp.route("/batches/<int:batch_id>/results")
@requires(BATCH_READ)
def results(batch_id: int):
    """The (proposed) winners of every product and why each bid won or lost."""
    return _results_page(batch_id)


@bp.route("/batches/<int:batch_id>/results/export.xlsx")
@requires(BATCH_READ)
def results_xlsx(batch_id: int):
    """The results as the caller may read them (``services_award.results``) as a workbook:
    one row per bid shown, with its verdict."""
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    rows = award.results(session, actor, batch_id)
    params = services.batch_rules(session, batch)

    def price(value: Any) -> Decimal | None:
        return None if value in (None, "") else Decimal(str(value))

    return xlsx_download(f"{batch.code}-results.xlsx", [
        N_("Product code"), N_("Generic name"), N_("Rank"), N_("Company"),
        N_("Unit comparable price"), N_("Package price"), N_("Verdict")], (
        [r.product.code, r.product.generic_name, v.get("rank"), v.get("org_name"),
         price(v.get("ucp")), price(v.get("package_price")),
         _rule_text(v, params, r.selection.cap if r.selection else None)]
        for r in rows for v in r.verdicts), N_("Winners"))


@bp.route("/batches/<int:batch_id>/results/select", methods=["POST"])
@requires(BATCH_MANAGE)
def select_winners(batch_id: int):
    """Open the bids and select the winners by the batch's rule-set version (repeatable)."""
    done = attempt(lambda: award.run_selection(get_session(), acting(), batch_id))
    if not done.ok:
        return _results_page(batch_id, done.status)
    flash(_("Winners selected for %(n)s product(s).", n=len(done.value)), "success")
    return redirect(url_for("procurement.results", batch_id=batch_id))


@bp.route("/batches/<int:batch_id>/results/bids/<int:bid_id>/disqualify", methods=["POST"])
@requires(BATCH_MANAGE)
def bid_disqualify(batch_id: int, bid_id: int):
    """Exclude a bid with a reason; its product's winners are selected again without it."""
    done = attempt(lambda: award.disqualify_bid(get_session(), acting(), bid_id,
                                                request.form.get("reason", ""),
                                                batch_id=batch_id))
    if not done.ok:
        return _results_page(batch_id, done.status, errors={bid_id: done.errors},
                             posted=bid_id)
    flash(_("The bid is disqualified; the product's winners were selected again."), "success")
    return redirect(url_for("procurement.results", batch_id=batch_id))


# --- the public results board ------------------------------------------------------------------

#: The visitor of a public page: no organisation, no permission (reads what anyone may).
PUBLIC_ACTOR = Actor(org_id=None, org_kind=None, name="public")


@bp.route("/publicity")
@requires(PUBLIC)
def publicity():
    """Batches whose results are public (拟中选结果公示 and later), newest first."""
    session = get_session()
    page = award.public_batches(session, PUBLIC_ACTOR, page=int_arg("page") or 1, per_page=20)
    return render_template("procurement/publicity.html", page=page, batch=None,
                           products=services_pages.product_counts(
                               session, PUBLIC_ACTOR, [b.id for b in page.items]))


@bp.route("/publicity/<int:batch_id>")
@requires(PUBLIC)
def publicity_detail(batch_id: int):
    """One batch's (proposed) winners per product: company, ucp and package price. Before the
    publicity nothing is shown but the batch's status."""
    session = get_session()
    batch = services.get_batch(session, PUBLIC_ACTOR, batch_id)
    try:
        rows = award.results(session, PUBLIC_ACTOR, batch_id)
    except Conflict:
        return render_template("procurement/publicity.html", batch=batch, rows=None,
                               page=None)
    return render_template("procurement/publicity.html", batch=batch, rows=rows, page=None,
                           names=_names(rows), notice=award.results_notice(batch))


# --- supply regions ---------------------------------------------------------------------------

def _regions_page(batch_id: int, status: int = 200, *, errors: dict[int, list] | None = None
                  ) -> Any:
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    boards = award.region_boards(session, actor, batch_id)
    names = _names(award.results(session, actor, batch_id))
    regions = sorted({r for b in boards for r in b.regions})
    may = award.award_actions(batch, actor)
    return batch_page(
        "procurement/regions.html", batch, "regions", status, boards=boards, names=names,
        region_info=award.region_summary(session, regions),
        picking=award.at_stage(batch, A.regions), own_org=actor.org_id,
        can_pick="pick" in may, can_close="close" in may,
        errors=errors or {}, primary=SupplyRole.primary, backup=SupplyRole.backup)


@bp.route("/batches/<int:batch_id>/regions")
@requires(BATCH_READ)
def regions(batch_id: int):
    """Per product: the regions, who supplies what, and whose turn it is to pick."""
    return _regions_page(batch_id)


def _board_of(batch_id: int, bp_id: int) -> None:
    """A batch product of another batch is not found on this batch's page."""
    if bp_id not in {p.id for p in services.batch_products(get_session(), acting(), batch_id)}:
        raise NotFound("vbp_batch_product %(id)s not found", params={"id": bp_id})


@bp.route("/batches/<int:batch_id>/regions/<int:bp_id>/pick", methods=["POST"])
@requires(REGION_PICK)
def region_pick(batch_id: int, bp_id: int):
    """The winner whose turn it is picks one more region to supply."""
    _board_of(batch_id, bp_id)
    done = attempt(lambda: award.pick_region(get_session(), acting(), bp_id,
                                             request.form.get("region_code", "")))
    if not done.ok:
        return _regions_page(batch_id, done.status, errors={bp_id: done.errors})
    flash(_("Region %(code)s picked.", code=done.value.region_code), "success")
    return redirect(url_for("procurement.regions", batch_id=batch_id) + f"#p{bp_id}")


@bp.route("/batches/<int:batch_id>/regions/<int:bp_id>/finish", methods=["POST"])
@requires(REGION_PICK)
def region_finish(batch_id: int, bp_id: int):
    """The winner picks no more regions for this product."""
    _board_of(batch_id, bp_id)
    done = attempt(lambda: award.finish_regions(get_session(), acting(), bp_id))
    if not done.ok:
        return _regions_page(batch_id, done.status)
    flash(_("Your company picks no more regions for this product."), "success")
    return redirect(url_for("procurement.regions", batch_id=batch_id) + f"#p{bp_id}")


@bp.route("/batches/<int:batch_id>/regions/close", methods=["POST"])
@requires(BATCH_MANAGE)
def regions_close(batch_id: int):
    """End the picking: unpicked regions are assigned, backups set; hospitals choose next."""
    def close() -> Any:
        require_confirmation(request.form)
        return award.close_regions(get_session(), acting(), batch_id,
                                   expected_version=int_arg("version"))
    done = attempt(close, form=False)
    if not done.ok:
        return _regions_page(batch_id, done.status)
    flash(_("Region selection is closed; hospitals choose their winners now."), "success")
    return redirect(url_for("procurement.regions", batch_id=batch_id))


# --- hospital choice --------------------------------------------------------------------------

def _choices_page(batch_id: int, status: int = 200, *, errors: dict[int, list] | None = None,
                  posted: int | None = None, deadline_errors: list | None = None) -> Any:
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    context: dict[str, Any] = {"errors": errors or {}, "posted": posted, "form": request.form}
    products = services.batch_products(session, actor, batch_id)
    if actor.org_kind == OrgKind.hospital:
        context["options"] = award.choice_options(session, actor, batch_id)
        context["names"] = _names(award.results(session, actor, batch_id))
        context["city"] = award.city_of(award.hospital_of(session, actor).region_code)
        context["region_info"] = award.region_summary(session, [context["city"]])
        context["closed"] = award.choice_closed(batch)
        context["can_edit"] = "choose" in award.award_actions(batch, actor)
    else:
        # The bureau: how many hospitals ranked the winners themselves (the rest: default).
        context["counts"] = award.choice_counts(session, actor, batch_id)
        context["can_set_deadline"] = "choice_deadline" in award.award_actions(batch, actor)
        context["deadline_value"] = request.form.get("choice_deadline", "") \
            if deadline_errors else local_input(batch.choice_deadline)
        context["deadline_errors"] = deadline_errors or []
        context["totals"] = services_pages.report_totals(session, actor, batch_id)
        context["products"] = products
    return batch_page("procurement/choices.html", batch, "choices", status,
                      hospital=actor.org_kind == OrgKind.hospital, **context)


@bp.route("/batches/<int:batch_id>/choices")
@requires(BATCH_READ)
def choices(batch_id: int):
    """A hospital ranks the winners serving its city; the bureau sees who did."""
    actor = acting()
    if actor.org_kind not in (OrgKind.hospital, OrgKind.bureau):
        services.get_batch(get_session(), actor, batch_id)  # 404 before 403
        raise Forbidden("only medical institutions choose winners")
    return _choices_page(batch_id)


def _ranks(bp_id: int) -> dict[int, Any]:
    """``rank_<winner id>`` fields: empty = not accepted; a whole number is the rank; anything
    else goes to the service as it is, to be refused by name."""
    out: dict[int, Any] = {}
    for key, value in request.form.items():
        if not key.startswith("rank_") or not key[5:].isdigit():
            continue
        value = value.strip()
        if value == "":
            continue
        try:
            out[int(key[5:])] = int(value)
        except ValueError:
            out[int(key[5:])] = value
    return out


@bp.route("/batches/<int:batch_id>/choices/<int:bp_id>", methods=["POST"])
@requires(CHOICE_EDIT)
def choices_save(batch_id: int, bp_id: int):
    """Save the hospital's ranking of one product; "reset" goes back to the default."""
    _board_of(batch_id, bp_id)
    ranks = {} if request.form.get("reset") else _ranks(bp_id)
    done = attempt(lambda: award.set_choices(get_session(), acting(), bp_id, ranks))
    if not done.ok:
        return _choices_page(batch_id, done.status, errors={bp_id: done.errors}, posted=bp_id)
    flash(_("Back to the default: every winner serving your city.") if not ranks
          else _("Your ranking is saved."), "success")
    return redirect(url_for("procurement.choices", batch_id=batch_id) + f"#p{bp_id}")


@bp.route("/batches/<int:batch_id>/choices/deadline", methods=["POST"])
@requires(BATCH_MANAGE)
def choices_deadline(batch_id: int):
    """The bureau sets (or, left empty, clears) the time hospitals may rank until; the form's
    time is Asia/Shanghai."""
    text = request.form.get("choice_deadline", "").strip()

    def save() -> datetime | None:
        deadline = None
        if text:
            try:
                deadline = datetime.fromisoformat(local_to_utc(text))
            except ValueError:
                raise Invalid.one("choice_deadline", "Enter a date and time.") from None
        award.set_choice_deadline(get_session(), acting(), batch_id, deadline)
        return deadline
    done = attempt(save)
    if not done.ok:
        return _choices_page(batch_id, done.status, deadline_errors=done.errors)
    flash(_("The choice deadline is saved.") if done.value
          else _("The choice deadline is cleared."), "success")
    return redirect(url_for("procurement.choices", batch_id=batch_id))


# --- allocation runs --------------------------------------------------------------------------

def _allocation_page(batch_id: int, run_id: int | None = None, status: int = 200) -> Any:
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    board = alloc.runs_board(session, actor, batch_id, run_id)
    products = services.batch_products(session, actor, batch_id)
    product_id = int_arg("product")
    lines = alloc.run_lines(session, actor, board.run.id, product_id=product_id,
                            page=int_arg("page") or 1, per_page=50) \
        if board.run is not None and board.has_lines else None
    return batch_page(
        "procurement/allocation.html", batch, "allocation", status, runs=board.runs,
        statuses=board.statuses, run=board.run, lines=lines, products=products,
        product_id=product_id, refresh=board.active, solving=board.solving,
        can_start=board.can_start,
        can_publish=board.can_publish)


@bp.route("/batches/<int:batch_id>/allocation")
@requires(REPORT_OVERVIEW)
def allocation(batch_id: int):
    """The batch's allocation runs, the latest with its figures and agreed volumes."""
    return _allocation_page(batch_id)


@bp.route("/batches/<int:batch_id>/allocation/<int:run_id>")
@requires(REPORT_OVERVIEW)
def allocation_run(batch_id: int, run_id: int):
    """One allocation run: progress, figures, diagnosis and its agreed volumes."""
    return _allocation_page(batch_id, run_id)


def _run_of(batch_id: int, run_id: int) -> tuple[Batch, Any]:
    """The batch and its allocation run the path names (another batch's run: 404)."""
    session, actor = get_session(), acting()
    return services.get_batch(session, actor, batch_id), \
        alloc.get_run(session, actor, run_id, batch_id=batch_id)


@bp.route("/batches/<int:batch_id>/allocation/<int:run_id>/lines.csv")
@requires(REPORT_OVERVIEW)
def allocation_lines_csv(batch_id: int, run_id: int):
    """Every agreed volume of a run as a CSV for Excel."""
    batch, run = _run_of(batch_id, run_id)
    return download(alloc.run_lines_csv(get_session(), acting(), run_id),
                    f"{batch.code}-allocation-{run.id}.csv", "text/csv; charset=utf-8")


@bp.route("/batches/<int:batch_id>/allocation/<int:run_id>/export.xlsx")
@requires(REPORT_OVERVIEW)
def allocation_lines_xlsx(batch_id: int, run_id: int):
    """Every agreed volume of a run as an Excel workbook with Chinese headers."""
    batch, run = _run_of(batch_id, run_id)
    return xlsx_download(f"{batch.code}-allocation-{run.id}.xlsx", [
        N_("Product code"), N_("Generic name"), N_("Hospital code"), N_("Hospital"),
        N_("Company code"), N_("Company"), N_("Agreed volume")],
        alloc.run_line_rows(get_session(), acting(), run_id), N_("Allocation"))


@bp.route("/batches/<int:batch_id>/allocation/start", methods=["POST"])
@requires(BATCH_MANAGE)
def allocation_start(batch_id: int):
    """Queue a solve with today's reports, regions and choices."""
    done = attempt(lambda: alloc.start_run(get_session(), acting(), batch_id))
    if not done.ok:
        return _allocation_page(batch_id, status=done.status)
    flash(_("Allocation run %(id)s is queued.", id=done.value.id), "success")
    return redirect(url_for("procurement.allocation_run", batch_id=batch_id,
                            run_id=done.value.id))


@bp.route("/batches/<int:batch_id>/allocation/<int:run_id>/publish", methods=["POST"])
@requires(BATCH_MANAGE)
def allocation_publish(batch_id: int, run_id: int):
    """Publish an optimal run as the first contract year's agreements."""
    def publish() -> Any:
        require_confirmation(request.form)
        return alloc.publish_run(get_session(), acting(), run_id,
                                 expected_version=int_arg("version"), batch_id=batch_id)
    done = attempt(publish, form=False)
    if not done.ok:
        return _allocation_page(batch_id, run_id, status=done.status)
    flash(_("%(n)s agreements are published for hospitals and companies to confirm.",
            n=len(done.value)), "success")
    return redirect(url_for("procurement.agreements", batch_id=batch_id))
