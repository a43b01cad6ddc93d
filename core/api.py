"""JSON API of the kernel under ``/api/v1/core`` (OpenAPI at ``/api/openapi.json``).

Authenticate with ``Authorization: Bearer <token>`` (or the browser session plus the
``X-CSRFToken`` header for writes). Errors are ``application/problem+json``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, jsonify, redirect, url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from core import services
from core.db import get_session
from core.models import Job, OrgKind, OrgStatus
from core.permissions import AUTHENTICATED, JOB_READ, ORG_READ, PUBLIC, USER_READ
from core.scoping import get_readable
from core.web import current_actor, requires

SECURITY = [{"bearer": []}]
api = APIBlueprint("core_api", __name__, url_prefix="/api/v1/core",
                   abp_tags=[Tag(name="core", description="Organisations, users, jobs")],
                   abp_security=SECURITY)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class OrgOut(BaseModel):
    id: int
    kind: OrgKind
    name: str
    short_name: str | None
    code: str
    region_code: str
    status: OrgStatus


class MeOut(BaseModel):
    user_id: int | None
    token_id: int | None
    name: str
    organisation: OrgOut
    roles: list[str]
    permissions: list[str]


class PageQuery(BaseModel):
    page: int = Field(1, ge=1)
    per_page: int = Field(50, ge=1, le=200)


class OrgQuery(PageQuery):
    kind: OrgKind | None = None
    status: OrgStatus | None = None
    q: str | None = Field(None, max_length=100)


class OrgPage(BaseModel):
    items: list[OrgOut]
    total: int
    page: int
    per_page: int


class OrgPath(BaseModel):
    org_id: int


class UserOut(BaseModel):
    id: int
    org_id: int
    username: str
    display_name: str
    disabled: bool
    roles: list[str]
    last_login_at: datetime | None


class UserQuery(PageQuery):
    org_id: int | None = None
    q: str | None = Field(None, max_length=100)


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    page: int
    per_page: int


class UserPath(BaseModel):
    user_id: int


class JobOut(BaseModel):
    id: int
    actor: str
    status: str
    attempts: int
    result: dict | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class JobPath(BaseModel):
    job_id: int


ERRORS = {401: Problem, 403: Problem, 404: Problem}


def _org(o: Any) -> dict:
    return OrgOut.model_validate(o, from_attributes=True).model_dump(mode="json")


@api.get("/me", summary="The caller: user or token, organisation, permissions",
         responses={200: MeOut, **ERRORS})
@requires(AUTHENTICATED)
def me():
    actor = current_actor()
    org = get_readable(get_session(), services.Organisation, actor.org_id, actor)
    return jsonify(MeOut(user_id=actor.user_id, token_id=actor.token_id, name=actor.name,
                         organisation=_org(org), roles=sorted(actor.roles),
                         permissions=sorted(actor.permissions)).model_dump(mode="json"))


@api.get("/organisations", summary="Organisations the caller may see",
         responses={200: OrgPage, **ERRORS})
@requires(ORG_READ)
def list_organisations(query: OrgQuery):
    page = services.list_organisations(get_session(), current_actor(), kind=query.kind,
                                       status=query.status, q=query.q, page=query.page,
                                       per_page=query.per_page)
    return jsonify({"items": [_org(o) for o in page.items], "total": page.total,
                    "page": page.page, "per_page": page.per_page})


@api.get("/organisations/<int:org_id>", summary="One organisation",
         responses={200: OrgOut, **ERRORS})
@requires(ORG_READ)
def get_organisation(path: OrgPath):
    return jsonify(_org(get_readable(get_session(), services.Organisation, path.org_id,
                                     current_actor())))


def _users(items: list) -> list[dict]:
    roles = services.roles_by_user(get_session(), [u.id for u in items])
    return [UserOut(id=u.id, org_id=u.org_id, username=u.username, display_name=u.display_name,
                    disabled=u.disabled, roles=roles[u.id], last_login_at=u.last_login_at
                    ).model_dump(mode="json") for u in items]


@api.get("/users", summary="Users the caller may see", responses={200: UserPage, **ERRORS})
@requires(USER_READ)
def list_users(query: UserQuery):
    page = services.list_users(get_session(), current_actor(), org_id=query.org_id, q=query.q,
                               page=query.page, per_page=query.per_page)
    return jsonify({"items": _users(page.items), "total": page.total, "page": page.page,
                    "per_page": page.per_page})


@api.get("/users/<int:user_id>", summary="One user", responses={200: UserOut, **ERRORS})
@requires(USER_READ)
def get_user(path: UserPath):
    return jsonify(_users([services.get_user(get_session(), current_actor(), path.user_id)])[0])


@api.get("/jobs/<int:job_id>", summary="One background job and its outcome",
         responses={200: JobOut, **ERRORS})
@requires(JOB_READ)
def get_job(path: JobPath):
    job = get_readable(get_session(), Job, path.job_id, current_actor())
    return jsonify(JobOut(id=job.id, actor=job.actor, status=job.status.value,
                          attempts=job.attempts, result=job.result, error=job.error,
                          created_at=job.created_at, finished_at=job.finished_at
                          ).model_dump(mode="json"))


health = APIBlueprint("health_api", __name__, url_prefix="/api/v1",
                      abp_tags=[Tag(name="health")])


class HealthOut(BaseModel):
    status: str
    database: str


@health.get("/health", summary="Liveness and database reachability (for load balancers)",
            responses={200: HealthOut, 503: HealthOut})
@requires(PUBLIC)
def health_check():
    try:
        get_session().execute(sa.text("SELECT 1"))
    except Exception:
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"})


def init_app(app: Flask) -> None:
    from core.app import csrf
    app.register_api(api)
    app.register_api(health)
    # Token calls carry no cookie and need no CSRF token; session-cookie writes to the API are
    # checked in ``requires`` with the X-CSRFToken header instead.
    csrf.exempt(api)
    csrf.exempt(health)

    @app.route("/api/docs")
    @requires(PUBLIC)
    def api_docs():
        return redirect(url_for("swagger.swagger"))
