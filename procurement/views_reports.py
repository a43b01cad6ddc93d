"""Volume-report pages (报量): the hospital's report of a batch — typed in row by row or
uploaded from the Excel template — and the bureau's overview with the hospitals still missing."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _

from core.db import get_session
from core.errors import FieldError, Invalid
from core.i18n import N_
from core.models import OrgKind
from core.web import acting, attempt, download, requires, xlsx_download
from procurement import services, services_pages
from procurement.blueprint import batch_page, bp
from procurement.permissions import BATCH_MANAGE, REPORT_EDIT, REPORT_OVERVIEW, REPORT_READ

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REPORT_FIELDS = ("usage_last_year", "usage_year_before", "demand", "explanation")


def _report_page(batch_id: int, status: int = 200, *, row_errors: dict[int, list] | None = None,
                 upload_errors: list | None = None, posted: bool = False) -> Any:
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    products = services.batch_products(session, actor, batch_id)
    reports = services_pages.own_reports(session, actor, batch_id)
    values: dict[int, dict[str, Any]] = {}
    for p in products:
        if posted:
            values[p.id] = {f: request.form.get(f"{f}-{p.id}", "") for f in REPORT_FIELDS}
        elif p.id in reports:
            r = reports[p.id]
            values[p.id] = {f: getattr(r, f) if getattr(r, f) is not None else ""
                            for f in REPORT_FIELDS}
        else:
            values[p.id] = dict.fromkeys(REPORT_FIELDS, "")
    done = sum(1 for p in products if p.id in reports)
    return batch_page("procurement/report.html", batch, "report", status, products=products,
                      reports=reports, values=values, row_errors=row_errors or {},
                      upload_errors=upload_errors or [], done=done,
                      columns={c.key: c.title for c in services.REPORT_COLUMNS},
                      editable=actor.can(REPORT_EDIT) and services_pages.reporting_open(batch),
                      min_share=services.batch_rules(session, batch).report_min_share)


@bp.route("/batches/<int:batch_id>/report")
@requires(REPORT_READ)
def report(batch_id: int):
    """The hospital's volume report of one batch: every product, its last two years' usage
    and the annual demand, in smallest units."""
    actor = acting()
    if actor.org_kind != OrgKind.hospital:
        services.get_batch(get_session(), actor, batch_id)  # 404 before anything else
        if actor.can(REPORT_OVERVIEW):
            return redirect(url_for("procurement.reports_overview", batch_id=batch_id))
    return _report_page(batch_id)


@bp.route("/batches/<int:batch_id>/report", methods=["POST"])
@requires(REPORT_EDIT)
def report_save(batch_id: int):
    """Save the filled rows (or, with ``only``, one row). All or nothing: with a problem on
    any row nothing is saved and every row's problems are shown beside its fields."""
    only = request.form.get("only", type=int)
    rows: dict[int, dict[str, str]] = defaultdict(dict)
    for key, value in request.form.items():  # "<field>-<batch product id>"
        name, _sep, bp_id = key.rpartition("-")
        if name in REPORT_FIELDS and bp_id.isdigit():
            rows[int(bp_id)][name] = value
    done = attempt(lambda: services.save_report_rows(get_session(), acting(), batch_id, rows,
                                                     only=only))
    if not done.ok:
        row_errors: dict[int, list[FieldError]] = defaultdict(list)
        for e in done.errors:
            row_errors[e.row].append(e)
        if row_errors:
            flash(_("Nothing was saved: %(n)s product(s) have problems, marked below.",
                    n=len(row_errors)), "error")
        return _report_page(batch_id, done.status, row_errors=row_errors, posted=True)
    saved = done.value
    if saved:
        flash(_("%(n)s product(s) saved.", n=saved), "success")
    else:
        flash(_("Nothing to save: no row was filled in or changed."), "info")
    return redirect(url_for("procurement.report", batch_id=batch_id))


@bp.route("/batches/<int:batch_id>/report/template.xlsx")
@requires(REPORT_READ)
def report_template(batch_id: int):
    """The Excel template, one row per product of the batch."""
    session = get_session()
    actor = acting()
    batch = services.get_batch(session, actor, batch_id)
    return download(services.report_template_xlsx(session, actor, batch_id),
                    f"{batch.code}-volume-report.xlsx", XLSX)


@bp.route("/batches/<int:batch_id>/report/upload", methods=["POST"])
@requires(REPORT_EDIT)
def report_upload(batch_id: int):
    """Import the filled template (Excel or CSV): with any bad row nothing is saved and every
    problem is listed by row and field."""
    upload = request.files.get("file")

    def load() -> list:
        if upload is None or not upload.filename:
            raise Invalid.one("file", "Choose a file.")
        return services.import_reports(get_session(), acting(), batch_id, upload.filename,
                                       upload.read())
    done = attempt(load)
    if not done.ok:
        if done.errors:
            flash(_("Nothing was imported: %(n)s problem(s). Correct the file and upload it "
                    "again.", n=len(done.errors)), "error")
        return _report_page(batch_id, done.status, upload_errors=done.errors)
    flash(_("%(n)s row(s) imported.", n=len(done.value)), "success")
    return redirect(url_for("procurement.report", batch_id=batch_id))


@bp.route("/batches/<int:batch_id>/reports")
@requires(REPORT_OVERVIEW)
def reports_overview(batch_id: int):
    """The bureau's view of a batch's reports: per product the hospitals that reported and the
    summed demand (the base of the agreed volume), and the hospitals still missing."""
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    missing = services.missing_reporters(session, actor, batch_id) \
        if actor.can(BATCH_MANAGE) else None
    return batch_page("procurement/reports_overview.html", batch, "reports",
                      products=services.batch_products(session, actor, batch_id),
                      totals=services_pages.report_totals(session, actor, batch_id),
                      missing=missing,
                      reported=services_pages.reported_by_org(session, actor, batch_id))


@bp.route("/batches/<int:batch_id>/reports/export.xlsx")
@requires(REPORT_READ)
def reports_xlsx(batch_id: int):
    """The volume reports the caller may read (a hospital its own, the bureau every one) as
    an Excel workbook."""
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    reports = services.list_reports(session, actor, batch_id, per_page=None).items
    products = {p.id: p for p in services.batch_products(session, actor, batch_id)}
    names = services_pages.org_names(session, actor, [r.org_id for r in reports])
    return xlsx_download(f"{batch.code}-volume-reports.xlsx", [
        N_("Product code"), N_("Generic name"), N_("Smallest unit"), N_("Hospital"),
        N_("Usage last year"), N_("Usage the year before"), N_("Annual demand"),
        N_("Explanation"), N_("Source"), N_("Updated")], (
        [products[r.batch_product_id].code, products[r.batch_product_id].generic_name,
         products[r.batch_product_id].smallest_unit, names.get(r.org_id, ""),
         r.usage_last_year, r.usage_year_before, r.demand, r.explanation, r.source,
         r.updated_at] for r in reports), N_("Volume reports"))
