"""Bureau pages of the listing module: catalogue and imports, price rules, holiday calendar."""
from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.db import get_session
from core.errors import Invalid
from core.forms import parse
from core.i18n import N_
from core.rules import history as rule_history
from core.types import local_today
from core.web import (
    acting,
    attempt,
    download,
    enum_arg,
    int_arg,
    requires,
    wants_xlsx,
    xlsx_download,
)
from listing import services, services_catalogue
from listing.models import ImportKind, ImportStatus, ProductKind
from listing.permissions import CATALOGUE_IMPORT, CATALOGUE_READ, RULES_MANAGE
from listing.views import bp

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


CATALOGUE_HEADER = [N_("Insurance code"), N_("Kind"), N_("Generic name"), N_("Trade name"),
                    N_("Dosage form"), N_("Specification"), N_("Units per package"),
                    N_("Smallest unit"), N_("Manufacturer"), N_("Marketing-authorisation holder"),
                    N_("Approval number"), N_("Passed consistency evaluation"),
                    N_("VBP winner"), N_("Status")]


@bp.route("/catalogue")
@requires(CATALOGUE_READ)
def catalogue():
    """The product catalogue (产品目录) by insurance code."""
    actor = acting()
    session = get_session()
    page = services_catalogue.list_products(session, actor, q=request.args.get("q") or None,
                                            kind=enum_arg(ProductKind, "kind"),
                                            page=int_arg("page") or 1,
                                            per_page=None if wants_xlsx() else 50)
    if wants_xlsx():
        return xlsx_download("catalogue.xlsx", CATALOGUE_HEADER, (
            [p.code, p.kind, p.generic_name, p.trade_name, p.dosage_form, p.spec,
             p.units_per_package, p.min_unit, p.manufacturer_name, p.mah_name,
             p.approval_number, p.consistency_passed, p.vbp_winner, p.status]
            for p in page.items), N_("Product catalogue"))
    batches = services_catalogue.list_import_batches(session, actor, per_page=10) \
        if actor.can(CATALOGUE_IMPORT) else None
    return render_template("listing/catalogue.html", page=page, batches=batches,
                           kinds=list(ProductKind))


@bp.route("/imports", methods=["POST"])
@requires(CATALOGUE_IMPORT)
def import_upload():
    """Upload a product or reference-price file; all or nothing, with a report."""
    session = get_session()
    upload = request.files.get("file")

    def run() -> Any:
        if upload is None or not upload.filename:
            raise Invalid.one("file", "Choose a file.")
        importer = services_catalogue.import_reference_prices \
            if request.form.get("kind") == ImportKind.reference_prices.value \
            else services_catalogue.import_products
        return importer(session, acting(), upload.filename, upload.read())

    done = attempt(run, form=False)
    if not done.ok:
        return redirect(url_for("listing.catalogue"))
    batch = done.value
    if batch.status == ImportStatus.succeeded:
        flash(_("Imported %(total)s rows: %(created)s new, %(updated)s changed, "
                "%(unchanged)s unchanged.", total=batch.total_rows, created=batch.created,
                updated=batch.updated, unchanged=batch.unchanged), "success")
    else:
        flash(_("Nothing was imported: %(n)s problems. Download the report, correct the file "
                "and upload it again.", n=batch.error_count), "error")
    return redirect(url_for("listing.import_detail", batch_id=batch.id))


@bp.route("/imports/<int:batch_id>")
@requires(CATALOGUE_IMPORT)
def import_detail(batch_id: int):
    batch = services_catalogue.get_import_batch(get_session(), acting(), batch_id)
    return render_template("listing/import_detail.html", batch=batch)


@bp.route("/imports/<int:batch_id>/report.csv")
@requires(CATALOGUE_IMPORT)
def import_report(batch_id: int):
    batch = services_catalogue.get_import_batch(get_session(), acting(), batch_id)
    return download(services_catalogue.import_report_csv(batch),
                     f"import-{batch.id}-report.csv", "text/csv; charset=utf-8")


@bp.route("/imports/template/<kind>.xlsx")
@requires(CATALOGUE_IMPORT)
def import_template(kind: str):
    if kind == ImportKind.reference_prices.value:
        return download(services_catalogue.reference_template_xlsx(),
                         "reference-prices-template.xlsx", XLSX)
    return download(services_catalogue.product_template_xlsx(), "products-template.xlsx", XLSX)


# --- price rules ------------------------------------------------------------------------------

def _rules_from_form(form: Any) -> dict[str, Any]:
    """The rule-set form: scalar fields plus the editable dosage-form table as rows."""
    params: dict[str, Any] = {k: form.get(k) for k in (
        "content_base", "volume_base", "units_base", "vbp_offprovince_multiplier",
        "linkage_follow_days", "publicity_working_days")}
    for table in ("form_ratios", "material_ratios", "package_form_ratios"):
        names = form.getlist(f"{table}_name")
        values = form.getlist(f"{table}_value")
        params[table] = {n.strip(): v.strip() for n, v in zip(names, values, strict=False)
                         if n.strip()}
    return params


@bp.route("/rules", methods=["GET", "POST"])
@requires(CATALOGUE_READ)
def rules():
    """The listing price rules (价格规则): the 差比价 tables and multipliers, versioned."""
    actor = acting()
    session = get_session()
    errors: list = []
    if request.method == "POST":
        done = attempt(lambda: services.publish_rules(
            session, actor, _rules_from_form(request.form), note=request.form.get("note") or None))
        if done.ok:
            flash(_("Rule set version %(v)s published.", v=done.value.version), "success")
            return redirect(url_for("listing.rules"))
        errors = done.errors
    current = services.current_rules(session)
    return render_template("listing/rules.html", current=current,
                           params=json.loads(current.params.model_dump_json()),
                           versions=rule_history(session, services.RULE_SET), errors=errors,
                           can_edit=actor.can(RULES_MANAGE)), 422 if errors else 200


@bp.route("/holidays", methods=["GET", "POST"])
@requires(CATALOGUE_READ)
def holidays():
    """The holiday calendar (节假日) that publicity windows count working days with."""
    actor = acting()
    session = get_session()
    year = int_arg("year", minimum=1, maximum=9999) or local_today().year
    errors: list = []
    if request.method == "POST":
        def save() -> None:
            if request.form.get("delete"):
                services.delete_holiday(session, actor, parse(
                    services.HolidayKey, {"day": request.form["delete"]}).day)
            else:
                form = request.form.to_dict()
                form["workday"] = form.get("workday") == "on"
                services.set_holiday(session, actor, parse(services.HolidayIn, form))

        done = attempt(save)
        if done.ok:
            flash(_("Calendar saved."), "success")
            return redirect(url_for("listing.holidays", year=year))
        errors = done.errors
    return render_template("listing/holidays.html", year=year,
                           days=services.list_holidays(session, year), errors=errors,
                           can_edit=actor.can(RULES_MANAGE)), 422 if errors else 200
