"""HTML pages of the kernel: login, home pages, and the administration of organisations,
users, API tokens, jobs and the audit log. Thin: parse, call a service, render."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from sqlmodel import select

from core import services
from core.auth import AccountLocked, LoginFailed, LoginPolicy, authenticate
from core.codes import region_name
from core.db import get_session
from core.extensions import LANGUAGES, LoginUser
from core.forms import parse
from core.i18n import N_
from core.labels import actor_label, kind_label, object_urls, status_label
from core.models import AuditLog, Job, JobStatus, Organisation, OrgKind, OrgStatus
from core.nav import NavItem, items_for, register
from core.permissions import (
    AUDIT_READ,
    AUTHENTICATED,
    JOB_MANAGE,
    JOB_READ,
    ORG_MANAGE,
    ORG_READ,
    PUBLIC,
    TOKEN_MANAGE,
    USER_MANAGE,
    USER_READ,
    declared_permissions,
    grantable_scopes,
    role_labels,
    roles_for_kind,
)
from core.scoping import get_readable, readable_by
from core.todo import todos_for
from core.web import (
    acting,
    attempt,
    client_ip,
    current_actor,
    int_arg,
    requires,
    wants_xlsx,
    xlsx_download,
)

bp = Blueprint("core", __name__)



def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/") \
            and not target.startswith("//"):
        return target
    return url_for("core.home")


# --- authentication --------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
def login():
    error = None
    status = 200
    if request.method == "POST":
        settings = current_app.extensions["yaocai.settings"]
        policy = LoginPolicy(max_failures=settings.login_max_failures,
                             ip_max_failures=settings.login_ip_max_failures,
                             window=timedelta(minutes=settings.login_window_minutes))
        session = get_session()
        try:
            user = authenticate(session, request.form.get("username", ""),
                                request.form.get("password", ""), client_ip(), policy)
        except AccountLocked as exc:
            # A refused login is an answer, not an error: the view returns normally, so the
            # request owner commits the failure record (a brute force leaves its trace).
            from flask_babel import format_datetime
            error = _("Too many failed logins. This account is locked until %(time)s; "
                      "try again then or ask your organisation admin.",
                      time=format_datetime(exc.until, "HH:mm"))
            status = 429
        except LoginFailed:
            error = _("Wrong username or password.")
            status = 401
        else:
            login_user(LoginUser(user))
            return redirect(_safe_next(request.args.get("next")))
    return render_template("core/login.html", error=error), status


@bp.route("/logout", methods=["POST"])
@requires(AUTHENTICATED)
def logout():
    from core import audit
    audit.record(get_session(), acting(), "auth.logout", "user", acting().user_id)
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("core.login"))


@bp.route("/lang/<code>")
@requires(PUBLIC)
def set_language(code: str):
    if code not in LANGUAGES:
        abort(404)
    resp = make_response(redirect(_safe_next(request.args.get("next"))))
    resp.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return resp


# --- home pages ------------------------------------------------------------------------------

@bp.route("/")
@requires(PUBLIC)
def index():
    if current_actor() is None:
        return redirect(url_for("core.login"))
    return redirect(url_for("core.home"))


@bp.route("/home")
@requires(AUTHENTICATED)
def home():
    actor = acting()
    session = get_session()
    org = session.get(Organisation, actor.org_id)
    ctx: dict = {"org": org, "modules": items_for(actor, "main"),
                 "todos": todos_for(session, actor)}
    if actor.org_kind == OrgKind.bureau:
        ctx["org_counts"] = services.org_counts_by_kind(session, actor)
        if actor.can(JOB_READ):
            ctx["job_counts"] = dict(session.execute(
                sa.select(Job.status, sa.func.count()).group_by(Job.status)).all())
        if actor.can(AUDIT_READ):
            ctx["recent_audit"] = session.exec(
                select(AuditLog).order_by(AuditLog.seq.desc()).limit(8)).all()
            ctx["links"] = _audit_links(ctx["recent_audit"])
    if actor.can(USER_READ):
        ctx["user_count"] = services.list_users(session, actor, org_id=actor.org_id,
                                                per_page=1).total
    return render_template(f"core/home_{actor.org_kind.value}.html", **ctx)


# --- organisations ---------------------------------------------------------------------------

@bp.route("/admin/organisations")
@requires(ORG_READ)
def organisations():
    kind = request.args.get("kind") or None
    status = request.args.get("status") or None
    page = services.list_organisations(
        get_session(), acting(), kind=OrgKind(kind) if kind in OrgKind.__members__ else None,
        status=OrgStatus(status) if status in OrgStatus.__members__ else None,
        q=request.args.get("q"), page=int_arg("page") or 1)
    return render_template("core/organisations.html", page=page, kinds=list(OrgKind))


@bp.route("/admin/organisations/new", methods=["GET", "POST"])
@requires(ORG_MANAGE)
def organisation_new():
    errors: list = []
    if request.method == "POST":
        done = attempt(lambda: services.create_organisation(
            get_session(), acting(), parse(services.OrgIn, request.form)), others=False)
        if done.ok:
            flash(_("Organisation %(name)s created.", name=done.value.name), "success")
            return redirect(url_for("core.organisation_detail", org_id=done.value.id))
        errors = done.errors
    return render_template("core/organisation_form.html", org=None, form=request.form,
                           errors=errors, kinds=list(OrgKind)), 422 if errors else 200


@bp.route("/admin/organisations/<int:org_id>")
@requires(ORG_READ)
def organisation_detail(org_id: int):
    actor = acting()
    session = get_session()
    org = get_readable(session, Organisation, org_id, actor)
    users = services.list_users(session, actor, org_id=org.id, per_page=200) \
        if actor.can(USER_READ) else None
    roles = services.roles_by_user(session, [u.id for u in users.items]) if users else {}
    return render_template("core/organisation_detail.html", org=org, users=users, roles=roles,
                           actions=services.ORG_WORKFLOW.allowed_actions(org, actor))


@bp.route("/admin/organisations/<int:org_id>/edit", methods=["GET", "POST"])
@requires(ORG_MANAGE)
def organisation_edit(org_id: int):
    session = get_session()
    org = get_readable(session, Organisation, org_id, acting())
    errors: list = []
    if request.method == "POST":
        done = attempt(lambda: services.update_organisation(
            session, acting(), org_id, parse(services.OrgIn, request.form),
            expected_version=int_arg("version")), others=False)
        if done.ok:
            flash(_("Saved."), "success")
            return redirect(url_for("core.organisation_detail", org_id=org_id))
        errors = done.errors
    form = request.form if request.method == "POST" else {
        **org.model_dump(), "kind": org.kind.value}
    return render_template("core/organisation_form.html", org=org, form=form, errors=errors,
                           kinds=list(OrgKind)), 422 if errors else 200


@bp.route("/admin/organisations/<int:org_id>/<any(suspend, activate):action>",
          methods=["POST"])
@requires(ORG_MANAGE)
def organisation_status(org_id: int, action: str):
    org = services.set_organisation_status(
        get_session(), acting(), org_id, action,
        expected_version=int_arg("version"),
        reason=request.form.get("reason") or None)
    flash(_("Organisation %(name)s is now %(status)s.", name=org.name,
            status=_(org.status.value)), "success")
    return redirect(url_for("core.organisation_detail", org_id=org_id))


# --- users -----------------------------------------------------------------------------------

@bp.route("/admin/users")
@requires(USER_READ)
def users():
    actor = acting()
    session = get_session()
    org_id = int_arg("org_id")
    if not actor.is_bureau:
        org_id = actor.org_id
    page = services.list_users(session, actor, org_id=org_id, q=request.args.get("q"),
                               page=int_arg("page") or 1)
    orgs = {o.id: o for o in session.exec(readable_by(Organisation, actor).where(
        Organisation.id.in_({u.org_id for u in page.items}))).all()}
    return render_template("core/users.html", page=page, orgs=orgs,
                           roles=services.roles_by_user(session, [u.id for u in page.items]),
                           role_labels=role_labels())


@bp.route("/admin/organisations/<int:org_id>/users/new", methods=["GET", "POST"])
@requires(USER_MANAGE)
def user_new(org_id: int):
    session = get_session()
    org = get_readable(session, Organisation, org_id, acting())
    errors: list = []
    if request.method == "POST":
        done = attempt(lambda: services.create_user(
            session, acting(), org.id, parse(services.UserIn, request.form, lists=("roles",))),
            others=False)
        if done.ok:
            flash(_("User %(name)s created.", name=done.value.username), "success")
            return redirect(url_for("core.user_detail", user_id=done.value.id))
        errors = done.errors
    return render_template("core/user_form.html", org=org, user=None, form=request.form,
                           errors=errors, all_roles=roles_for_kind(org.kind),
                           role_labels=role_labels(),
                           selected=request.form.getlist("roles")), 422 if errors else 200


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@requires(USER_READ)
def user_detail(user_id: int):
    actor = acting()
    session = get_session()
    user = services.get_user(session, actor, user_id)
    org = session.get(Organisation, user.org_id)
    errors: list = []
    if request.method == "POST":
        if not actor.can(USER_MANAGE):
            abort(403)
        done = attempt(lambda: services.update_user(
            session, actor, user_id, parse(services.UserUpdate, request.form, lists=("roles",)),
            expected_version=int_arg("version")), others=False)
        if done.ok:
            flash(_("Saved."), "success")
            return redirect(url_for("core.user_detail", user_id=user_id))
        errors = done.errors
    selected = request.form.getlist("roles") if request.method == "POST" else \
        services.roles_by_user(session, [user.id])[user.id]
    form = request.form if request.method == "POST" else user.model_dump()
    return render_template("core/user_form.html", org=org, user=user, form=form, errors=errors,
                           all_roles=roles_for_kind(org.kind), role_labels=role_labels(),
                           selected=selected), 422 if errors else 200


@bp.route("/admin/users/<int:user_id>/<any(disable, enable):action>", methods=["POST"])
@requires(USER_MANAGE)
def user_disable(user_id: int, action: str):
    user = services.set_user_disabled(get_session(), acting(), user_id, action == "disable")
    flash(_("User %(name)s disabled.", name=user.username) if user.disabled
          else _("User %(name)s enabled.", name=user.username), "success")
    return redirect(url_for("core.user_detail", user_id=user_id))


@bp.route("/admin/users/<int:user_id>/password", methods=["POST"])
@requires(USER_MANAGE)
def user_reset_password(user_id: int):
    done = attempt(lambda: services.reset_password(get_session(), acting(), user_id,
                                                   request.form.get("password", "")),
                   others=False)
    if not done.ok:
        for e in done.errors:
            flash(_(e.message), "error")
        return redirect(url_for("core.user_detail", user_id=user_id))
    flash(_("Password of %(name)s reset; the user's sessions were ended.",
            name=done.value.username), "success")
    return redirect(url_for("core.user_detail", user_id=user_id))


@bp.route("/account", methods=["GET", "POST"])
@requires(AUTHENTICATED)
def account():
    actor = acting()
    errors: list = []
    if request.method == "POST":
        done = attempt(lambda: services.change_own_password(
            get_session(), actor, request.form.get("current_password", ""),
            request.form.get("new_password", "")), others=False)
        if done.ok:
            login_user(LoginUser(done.value))  # the epoch changed: renew this session only
            flash(_("Password changed."), "success")
            return redirect(url_for("core.account"))
        errors = done.errors
    org = get_session().get(Organisation, actor.org_id)
    return render_template("core/account.html", org=org, errors=errors,
                           role_labels=role_labels()), 422 if errors else 200


# --- API tokens ------------------------------------------------------------------------------

@bp.route("/admin/tokens", methods=["GET", "POST"])
@requires(TOKEN_MANAGE)
def tokens():
    actor = acting()
    session = get_session()
    errors: list = []
    secret = None
    if request.method == "POST":
        done = attempt(lambda: services.create_token(
            session, actor, parse(services.TokenIn, request.form, lists=("scopes",))),
            others=False)
        if done.ok:
            _token, secret = done.value
        errors = done.errors
    return render_template("core/tokens.html", tokens=services.list_tokens(session, actor),
                           scopes=grantable_scopes(actor.org_kind, actor.roles),
                           descriptions=declared_permissions(), secret=secret,
                           errors=errors), 422 if errors else 200


@bp.route("/admin/tokens/<int:token_id>/revoke", methods=["POST"])
@requires(TOKEN_MANAGE)
def token_revoke(token_id: int):
    token = services.revoke_token(get_session(), acting(), token_id)
    flash(_("Token %(name)s revoked.", name=token.name), "success")
    return redirect(url_for("core.tokens"))


# --- jobs and audit --------------------------------------------------------------------------

@bp.route("/admin/jobs")
@requires(JOB_READ)
def jobs():
    status = request.args.get("status")
    stmt = readable_by(Job, acting())
    if status in JobStatus.__members__:
        stmt = stmt.where(Job.status == JobStatus(status))
    page = services.paginate(get_session(), stmt.order_by(Job.id.desc()),
                             int_arg("page") or 1, 50)
    return render_template("core/jobs.html", page=page, statuses=list(JobStatus))


@bp.route("/admin/jobs/<int:job_id>/requeue", methods=["POST"])
@requires(JOB_MANAGE)
def job_requeue(job_id: int):
    from core.jobs import requeue_job
    requeue_job(get_session(), acting(), job_id)
    flash(_("Job %(id)s requeued.", id=job_id), "success")
    return redirect(url_for("core.jobs"))


@bp.route("/admin/audit")
@requires(AUDIT_READ)
def audit_log():
    stmt = select(AuditLog)
    action = request.args.get("action")
    if action:
        stmt = stmt.where(AuditLog.action.like(f"{action}%"))
    page = services.paginate(get_session(), stmt.order_by(AuditLog.seq.desc()),
                             int_arg("page") or 1,
                             None if wants_xlsx() else 50)
    if wants_xlsx():
        return xlsx_download("audit-log.xlsx", [
            "#", N_("Time"), N_("Actor"), N_("Action"), N_("Object"), N_("Change"),
            N_("Address")], (
            [a.seq, a.at, a.actor_name, _(a.action),
             f"{_(kind_label(a.object_type))} {a.object_id or ''}",
             " → ".join(json.dumps(x, ensure_ascii=False, default=str)
                        for x in (a.before, a.after) if x), a.ip]
            for a in page.items), N_("Audit log"))
    return render_template("core/audit.html", page=page,
                           links=_audit_links(page.items))


def _audit_links(records: list[AuditLog]) -> dict[tuple[str, str], str]:
    """The page of each audited object the reader may open (one query per kind)."""
    return object_urls(get_session(), acting(),
                       [(a.object_type, a.object_id) for a in records])


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    for item in (
        NavItem("admin.orgs", "Organisations", "core.organisations", ORG_READ, 10, "admin"),
        NavItem("admin.users", "Users", "core.users", USER_READ, 20, "admin"),
        NavItem("admin.tokens", "API tokens", "core.tokens", TOKEN_MANAGE, 30, "admin"),
        NavItem("admin.jobs", "Jobs", "core.jobs", JOB_READ, 40, "admin"),
        NavItem("admin.audit", "Audit log", "core.audit_log", AUDIT_READ, 50, "admin"),
    ):
        register(item)

    @app.context_processor
    def _nav():
        from core.money import format_fen, format_price, price_text
        try:
            actor = current_actor()
        except Exception:  # a bad bearer token on an HTML page: render as anonymous
            actor = None
        org = get_session().get(Organisation, actor.org_id) if actor and actor.org_id else None
        from flask_babel import get_locale
        return {"locale": "zh_CN" if get_locale().language == "zh" else str(get_locale()), "actor": actor, "current_org": org, "nav_main": items_for(actor, "main"),
                "nav_admin": items_for(actor, "admin"), "nav_public": items_for(None, "public"),
                "languages": LANGUAGES,
                "role_labels_all": role_labels(), "format_fen": format_fen,
                "kind_label": kind_label, "actor_label": actor_label,
                "status_label": status_label,
                "region_name": region_name, "format_price": format_price,
                "price_text": price_text}
