"""HTML pages of the Listing module (挂网). Thin: parse, call a service, render."""
from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from core.db import get_session
from core.errors import Invalid
from core.forms import parse, require_confirmation
from core.i18n import N_
from core.models import Organisation
from core.money import unit_price_of
from core.nav import NavItem, register
from core.permissions import PUBLIC
from core.types import utcnow
from core.web import (
    acting,
    attempt,
    current_actor,
    download,
    enum_arg,
    int_arg,
    requires,
    wants_xlsx,
    xlsx_download,
)
from listing import services
from listing.models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    Listing,
    ListingCategory,
    ListingReason,
    ListingStatus,
    ObjectionStatus,
    Product,
    ProductKind,
)
from listing.permissions import (
    APP_EDIT,
    APP_READ,
    APP_REVIEW,
    CATALOGUE_READ,
    LISTING_READ,
    OBJECTION_RAISE,
    OBJECTION_RESOLVE,
    VIEW,
)

bp = Blueprint("listing", __name__, url_prefix="/listing", template_folder="templates")



def _store():
    return current_app.extensions["yaocai.attachments"]




# --- public pages -----------------------------------------------------------------------------

@bp.route("/search")
@requires(PUBLIC)
def search():
    """The public listing search (挂网产品查询): what hospitals buy from, at what price."""
    query = services.SearchQuery(q=request.args.get("q") or None,
                                 company=request.args.get("company") or None,
                                 category=enum_arg(ListingCategory, "category"),
                                 kind=enum_arg(ProductKind, "kind"), page=int_arg("page") or 1,
                                 per_page=None if wants_xlsx() else 20)
    page = services.search_listings(get_session(), query)
    if wants_xlsx():
        return xlsx_download("listings.xlsx", LISTING_HEADER, (
            [lst.generic_name, lst.dosage_form, lst.spec, lst.company_name, lst.category,
             lst.price, lst.product_code, lst.listed_at] for lst in page.items),
            N_("Listing search"))
    return render_template("listing/search.html", page=page, categories=list(ListingCategory),
                           kinds=list(ProductKind))


@bp.route("/publicity")
@requires(PUBLIC)
def publicity():
    """The publicity board (公示栏) and how to object."""
    page = services.publicity_board(get_session(), page=int_arg("page") or 1)
    return render_template("listing/publicity.html", page=page)


@bp.route("/publicity/<int:app_id>", methods=["GET", "POST"])
@requires(PUBLIC)
def publicity_detail(app_id: int):
    session = get_session()
    app = services.publicized_application(session, app_id)
    actor = current_actor()
    errors: list = []
    if request.method == "POST":
        if actor is None:
            return current_app.login_manager.unauthorized()
        files = [(f.filename or "file", f.read()) for f in request.files.getlist("files")
                 if f.filename]
        done = attempt(lambda: services.raise_objection(
            session, actor, _store(), app_id, request.form.get("reason"), files))
        if done.ok:
            flash(_("Your objection was received; the bureau will resolve it."), "success")
            return redirect(url_for("listing.publicity_detail", app_id=app_id))
        errors = done.errors
    product = session.get(Product, app.product_id)
    org = session.get(Organisation, app.org_id)
    can_object = bool(actor and actor.can(OBJECTION_RAISE) and actor.org_id != app.org_id
                      and app.status == ApplicationStatus.publicizing)
    return render_template("listing/publicity_detail.html", app=app, product=product, org=org,
                           can_object=can_object, errors=errors,
                           form=request.form), 422 if errors else 200


# --- downloads of the lists (?format=xlsx) ----------------------------------------------------

LISTING_HEADER = [N_("Generic name"), N_("Dosage form"), N_("Specification"), N_("Company"),
                  N_("Listing category"), N_("Listed price"), N_("Insurance code"),
                  N_("Listed on")]
APPLICATION_HEADER = [N_("Number"), N_("Kind"), N_("Generic name"), N_("Dosage form"),
                      N_("Specification"), N_("Insurance code"), N_("Company"),
                      N_("Proposed price"), N_("Price check"), N_("Status"), N_("Submitted"),
                      N_("Updated"), N_("Reviewer")]


def _applications_xlsx(page: Any, reviewer_names: dict[int, str], sheet: str) -> Any:
    def check(passed: bool | None) -> str:
        return "" if passed is None else _("Pass") if passed else _("Fail")

    return xlsx_download("applications.xlsx", APPLICATION_HEADER, (
        [a.number, a.kind, p.generic_name, p.dosage_form, p.spec, p.code, o.name,
         a.proposed_price, check(a.check_passed), a.status, a.submitted_at, a.updated_at,
         reviewer_names.get(a.assigned_to, "") if a.assigned_to else ""]
        for a, p, o in page.items), sheet)


# --- company and bureau pages -----------------------------------------------------------------

@bp.route("/")
@requires(VIEW)
def home():
    actor = acting()
    session = get_session()
    counts = services.status_counts(session, actor) if actor.can(APP_READ) else {}
    recent = services.list_applications(session, actor, per_page=8) \
        if actor.can(APP_READ) else None
    return render_template("listing/home.html", counts=counts, recent=recent,
                           statuses=list(ApplicationStatus))


@bp.route("/applications")
@requires(APP_READ)
def applications():
    actor = acting()
    page = services.list_applications(
        get_session(), actor, status=enum_arg(ApplicationStatus, "status"),
        kind=enum_arg(ApplicationKind, "kind"), q=request.args.get("q") or None,
        page=int_arg("page") or 1, per_page=None if wants_xlsx() else 50)
    if wants_xlsx():
        return _applications_xlsx(page, {}, N_("Applications"))
    return render_template("listing/applications.html", page=page, queue=False,
                           statuses=list(ApplicationStatus), kinds=list(ApplicationKind))


@bp.route("/review")
@requires(APP_REVIEW)
def review_queue():
    """The bureau's review queue (审核队列), oldest submission first, with each item's age."""
    actor = acting()
    session = get_session()
    page = services.list_applications(
        session, actor, status=enum_arg(ApplicationStatus, "status"),
        kind=enum_arg(ApplicationKind, "kind"), q=request.args.get("q") or None,
        assigned=request.args.get("assigned") or None, page=int_arg("page") or 1, queue=True,
        per_page=None if wants_xlsx() else 50)
    reviewers = services.reviewers(session, actor)
    if wants_xlsx():
        return _applications_xlsx(page, {u.id: u.display_name for u in reviewers},
                                  N_("Review queue"))
    return render_template("listing/applications.html", page=page, queue=True,
                           statuses=[ApplicationStatus.submitted, ApplicationStatus.under_review],
                           kinds=list(ApplicationKind), reviewers=reviewers,
                           reviewer_names={u.id: u.display_name for u in reviewers},
                           waiting=services.waiting_times(a for a, _p, _o in page.items),
                           sla_days=services.REVIEW_SLA.days)


def _application_form_data() -> dict[str, Any]:
    form = request.form
    data: dict[str, Any] = {k: v for k, v in form.items() if k != "csrf_token" and v != ""
                            and not k.startswith("np_")}
    if form.get("propose") == "1":
        data["new_product"] = {k[3:]: v for k, v in form.items()
                               if k.startswith("np_") and v != ""}
        for flag in ("consistency_passed", "reference_preparation"):
            data["new_product"][flag] = form.get("np_" + flag) == "on"
        data.pop("product_id", None)
    data.pop("propose", None)
    return data


@bp.route("/applications/new", methods=["GET", "POST"])
@requires(APP_EDIT)
def application_new():
    actor = acting()
    session = get_session()
    kind = enum_arg(ApplicationKind, "kind") or ApplicationKind(
        request.form.get("kind") or "new_listing")
    errors: list = []
    if request.method == "POST":
        done = attempt(lambda: services.create_application(
            session, actor, parse(services.ApplicationIn, _application_form_data())))
        if done.ok:
            flash(_("Draft %(number)s saved. Add the price evidence, then submit.",
                    number=done.value.number), "success")
            return redirect(url_for("listing.application_detail", app_id=done.value.id))
        errors = done.errors
    return render_template("listing/application_form.html", app=None, kind=kind,
                           form=request.form or request.args, errors=errors,
                           **_form_choices(session, actor)), 422 if errors else 200


def _form_choices(session: Any, actor: Any, app_id: int | None = None) -> dict[str, Any]:
    return {"products": services.listable_products(session, actor, limit=500, app_id=app_id),
            "own_products": services.own_products(session, actor),
            "listings": services.own_listings(session, actor),
            "categories": list(ListingCategory), "kinds": list(ApplicationKind),
            "form_names": sorted(services.current_rules(session).params.form_ratios)}


@bp.route("/applications/<int:app_id>/edit", methods=["GET", "POST"])
@requires(APP_EDIT)
def application_edit(app_id: int):
    actor = acting()
    session = get_session()
    app = services.get_application(session, actor, app_id)
    errors: list = []
    if request.method == "POST":
        done = attempt(lambda: services.update_application(
            session, actor, app_id, parse(services.ApplicationIn, _application_form_data()),
            expected_version=int_arg("version")))
        if done.ok:
            flash(_("Application saved."), "success")
        if done.ok or not done.errors:
            return redirect(url_for("listing.application_detail", app_id=app_id))
        errors = done.errors
    form = request.form if request.method == "POST" else {
        "product_id": app.product_id, "listing_id": app.listing_id or "",
        "category": app.category.value, "proposed_price": app.proposed_price or "",
        "representative_product_id": app.representative_product_id or "",
        "vbp_own_price": app.vbp_own_price or "", "vbp_highest_price": app.vbp_highest_price or "",
        "justification": app.justification or ""}
    return render_template("listing/application_form.html", app=app, kind=app.kind, form=form,
                           errors=errors, **_form_choices(session, actor, app.id)), \
        422 if errors else 200


@bp.route("/applications/<int:app_id>")
@requires(APP_READ)
def application_detail(app_id: int):
    actor = acting()
    session = get_session()
    app = services.get_application(session, actor, app_id)
    return render_template("listing/application_detail.html", **_detail_context(session, actor,
                                                                               app))


def _detail_context(session: Any, actor: Any, app: Application,
                    evidence_errors: list | None = None) -> dict[str, Any]:
    product = session.get(Product, app.product_id)
    rep = session.get(Product, app.representative_product_id) \
        if app.representative_product_id else None
    listing = session.get(Listing, app.listing_id) if app.listing_id else None
    live = None
    live_error = None
    if app.proposed_price is not None and app.status in (
            ApplicationStatus.draft, ApplicationStatus.returned, ApplicationStatus.submitted,
            ApplicationStatus.under_review):
        try:
            live = services.preview_check(session, app)
        except Invalid as exc:
            live_error = exc.errors
    reviewers = services.reviewers(session, actor) if actor.can(APP_REVIEW) else []
    return {
        "app": app, "product": product, "rep": rep, "listing": listing,
        "unit_price": unit_price_of(app.proposed_price, product.units_per_package)
        if product else None,
        "org": session.get(Organisation, app.org_id),
        "evidence": services.evidence_lines(session, actor, app.id),
        "attachments": services.attachments_of(session, actor, application_id=app.id),
        "checks": services.price_checks(session, actor, app.id),
        "live": live, "live_error": live_error,
        "objections": services.list_objections(session, actor, application_id=app.id,
                                               per_page=100).items,
        "actions": services.APPLICATION_FLOW.allowed_actions(app, actor),
        "editable": app.status in services.EDITABLE and app.org_id == actor.org_id
        and actor.can(APP_EDIT),
        "reviewers": reviewers, "reviewer_names": {u.id: u.display_name for u in reviewers},
        "history": services.history(session, actor, "listing_application", app.id),
        "evidence_errors": evidence_errors or [],
        "reasons": list(ListingReason), "now": utcnow(),
    }


@bp.route("/applications/<int:app_id>/evidence", methods=["POST"])
@requires(APP_EDIT)
def application_evidence(app_id: int):
    actor = acting()
    session = get_session()
    form = request.form
    rows = zip(form.getlist("province"), form.getlist("price"), form.getlist("evidence_date"),
               form.getlist("document"), form.getlist("attachment_id"), strict=False)
    lines = []
    errors = []
    for i, (province, price, day, document, att) in enumerate(rows, start=1):
        if not any((province, price, day, document)):
            continue
        try:
            lines.append(parse(services.EvidenceIn, {
                "province": province, "price": price, "evidence_date": day,
                "document": document, "attachment_id": att or None}))
        except Invalid as exc:
            errors.extend(type(e)(e.field, e.message, i) for e in exc.errors)
    def save() -> None:
        if errors:
            raise Invalid(errors)
        services.set_evidence(session, actor, app_id, lines)

    done = attempt(save)
    if done.errors:
        app = services.get_application(session, actor, app_id)
        return render_template("listing/application_detail.html",
                               **_detail_context(session, actor, app, done.errors)), 422
    if done.ok:
        flash(_("Price evidence saved."), "success")
    return redirect(url_for("listing.application_detail", app_id=app_id))


@bp.route("/applications/<int:app_id>/attachments", methods=["POST"])
@requires(APP_EDIT)
def application_attachment(app_id: int):
    actor = acting()
    session = get_session()
    uploads = [f for f in request.files.getlist("files") if f.filename]

    def upload_all() -> None:
        if not uploads:
            raise Invalid.one("files", "Choose a file.")
        for upload in uploads:
            services.add_application_attachment(session, actor, _store(), app_id,
                                                upload.filename or "file", upload.read())

    if attempt(upload_all, form=False).ok:
        flash(_("%(n)s file(s) attached.", n=len(uploads)), "success")
    return redirect(url_for("listing.application_detail", app_id=app_id) + "#attachments")


_ACTIONS = {
    "submit": lambda s, a, i, r, v: services.submit(s, a, i, expected_version=v),
    "withdraw": lambda s, a, i, r, v: services.withdraw(s, a, i, reason=r, expected_version=v),
    "start_review": lambda s, a, i, r, v: services.start_review(s, a, i, expected_version=v),
    "return": lambda s, a, i, r, v: services.return_for_amendment(s, a, i, r,
                                                                  expected_version=v),
    "approve": lambda s, a, i, r, v: services.approve(s, a, i, r, expected_version=v),
    "reject": lambda s, a, i, r, v: services.reject(s, a, i, r, expected_version=v),
}

_DONE = {
    "submit": N_("Application submitted for review."),
    "withdraw": N_("Application withdrawn."),
    "start_review": N_("Review started."),
    "return": N_("Application returned to the applicant for amendment."),
    "approve": N_("Approved; the publicity window is open."),
    "reject": N_("Application rejected."),
}


@bp.route("/applications/<int:app_id>/actions/<action>", methods=["POST"])
@requires(APP_READ)
def application_action(app_id: int, action: str):
    actor = acting()
    session = get_session()
    if action not in _ACTIONS:
        raise Invalid.one("action", "Unknown action.")
    if attempt(lambda: _ACTIONS[action](session, actor, app_id, request.form.get("reason"),
                                        int_arg("version")), form=False).ok:
        flash(_(_DONE[action]), "success")
    return redirect(url_for("listing.application_detail", app_id=app_id))


@bp.route("/applications/<int:app_id>/assign", methods=["POST"])
@requires(APP_REVIEW)
def application_assign(app_id: int):
    if attempt(lambda: services.assign(get_session(), acting(), app_id, int_arg("assigned_to")),
               form=False).ok:
        flash(_("Assignment saved."), "success")
    return redirect(request.form.get("next") or url_for("listing.application_detail",
                                                        app_id=app_id))


@bp.route("/attachments/<int:attachment_id>")
@requires(APP_READ)
def attachment(attachment_id: int):
    """An evidence file, only for its uploader's organisation and the bureau."""
    att, data = services.read_attachment(get_session(), acting(), _store(), attachment_id)
    return download(data, att.filename, att.content_type,
                    inline=att.content_type == "application/pdf")


# --- objections -------------------------------------------------------------------------------

@bp.route("/objections")
@requires(APP_READ)
def objections():
    actor = acting()
    page = services.list_objections(get_session(), actor,
                                    status=enum_arg(ObjectionStatus, "status"),
                                    page=int_arg("page") or 1)
    return render_template("listing/objections.html", page=page,
                           statuses=list(ObjectionStatus))


@bp.route("/objections/<int:objection_id>", methods=["GET", "POST"])
@requires(APP_READ)
def objection_detail(objection_id: int):
    actor = acting()
    session = get_session()
    objection = services.get_objection(session, actor, objection_id)
    if request.method == "POST":
        if attempt(lambda: services.resolve_objection(
                session, actor, objection_id, request.form.get("decision") == "uphold",
                request.form.get("resolution"), expected_version=int_arg("version")),
                form=False).ok:
            flash(_("Objection resolved."), "success")
        return redirect(url_for("listing.objection_detail", objection_id=objection_id))
    app = session.get(Application, objection.application_id)
    return render_template(
        "listing/objection_detail.html", objection=objection, app=app,
        product=session.get(Product, app.product_id) if app else None,
        objector=session.get(Organisation, objection.org_id),
        attachments=services.attachments_of(session, actor, objection_id=objection.id),
        can_resolve=actor.can(OBJECTION_RESOLVE)
        and objection.status == ObjectionStatus.open)


# --- listings ---------------------------------------------------------------------------------

@bp.route("/listings")
@requires(LISTING_READ)
def listings():
    actor = acting()
    page = services.list_listings(get_session(), actor, status=enum_arg(ListingStatus, "status"),
                                  q=request.args.get("q") or None, page=int_arg("page") or 1,
                                  per_page=None if wants_xlsx() else 50)
    if wants_xlsx():
        return xlsx_download("listings.xlsx", [*LISTING_HEADER, N_("Status")], (
            [lst.generic_name, lst.dosage_form, lst.spec, lst.company_name, lst.category,
             lst.price, lst.product_code, lst.listed_at, lst.status] for lst in page.items),
            N_("Listings"))
    return render_template("listing/listings.html", page=page, statuses=list(ListingStatus))


@bp.route("/listings/<int:listing_id>", methods=["GET", "POST"])
@requires(LISTING_READ)
def listing_detail(listing_id: int):
    actor = acting()
    session = get_session()
    if request.method == "POST":
        files = [(f.filename or "file", f.read()) for f in request.files.getlist("files")
                 if f.filename]

        def change() -> Any:
            require_confirmation(request.form)
            try:
                reason_code = ListingReason(request.form.get("reason_code") or "")
            except ValueError:
                raise Invalid.one("reason_code", "Choose a reason code.") from None
            return services.change_listing(session, actor, _store(), listing_id,
                                           request.form.get("action", ""), reason_code,
                                           request.form.get("reason"), files,
                                           expected_version=int_arg("version"))

        if attempt(change, form=False).ok:
            flash(_("Listing updated."), "success")
        return redirect(url_for("listing.listing_detail", listing_id=listing_id))
    listing = services.get_listing(session, actor, listing_id)
    product = session.get(Product, listing.product_id)
    history = services.history(session, actor, "listing", listing.id)
    return render_template(
        "listing/listing_detail.html", listing=listing, product=product,
        unit_price=unit_price_of(listing.price, product.units_per_package), history=history,
        attachments=services.attachments_of(session, actor, listing_id=listing.id),
        actions=services.LISTING_FLOW.allowed_actions(listing, actor),
        reasons=list(ListingReason))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register(NavItem("listing", "Listing", "listing.home", VIEW, 10))
    register(NavItem("listing_review", "Review queue", "listing.review_queue", APP_REVIEW, 11))
    register(NavItem("listing_search", "Listing search", "listing.search", VIEW, 12))
    register(NavItem("public_listing_search", "Listing search", "listing.search", PUBLIC, 10,
                     "public"))
    register(NavItem("public_listing_publicity", "Listing publicity", "listing.publicity",
                     PUBLIC, 20, "public"))
    register(NavItem("listing_catalogue", "Product catalogue", "listing.catalogue",
                     CATALOGUE_READ, 13))
