"""Business operations of the kernel: organisations, users and API tokens.

Plain functions taking a ``Session``, an ``Actor`` and validated values. They ``flush()``
and never commit: the request, job or command that calls them owns the transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session, func, select

from core import audit, codes
from core.auth import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    new_token_secret,
    token_digest,
    user_roles,
    verify_password,
)
from core.errors import Conflict, ErrorCollector, Forbidden, Invalid, NotFound
from core.i18n import N_
from core.models import ApiToken, Organisation, OrgKind, OrgStatus, User, UserRole
from core.permissions import (
    ORG_MANAGE,
    TOKEN_MANAGE,
    USER_MANAGE,
    Actor,
    grantable_scopes,
    roles_for_kind,
)
from core.scoping import get_readable, readable_by
from core.states import Move, Workflow
from core.types import LOCAL_TZ, utcnow

# --- organisations ---------------------------------------------------------------------------

ORG_WORKFLOW = Workflow("organisation", OrgStatus, [
    Move.of("suspend", OrgStatus.active, OrgStatus.suspended, ORG_MANAGE),
    Move.of("activate", OrgStatus.suspended, OrgStatus.active, ORG_MANAGE),
])


class OrgIn(BaseModel):
    """Input for creating or editing an organisation."""

    model_config = ConfigDict(str_strip_whitespace=True)

    kind: OrgKind
    name: str = Field(min_length=2, max_length=200)
    short_name: str | None = Field(default=None, max_length=60)
    code: str = Field(min_length=1, max_length=32)
    region_code: str = Field(min_length=6, max_length=6)
    contact_name: str | None = Field(default=None, max_length=60)
    contact_phone: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=300)

    @field_validator("short_name", "contact_name", "contact_phone", "address")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None


def _check_org(session: Session, data: OrgIn, exclude_id: int | None = None) -> dict[str, Any]:
    errors = ErrorCollector()
    values = data.model_dump()
    try:
        values["code"] = codes.validate_org_code(data.kind.value, data.code, field="code")
    except Invalid as exc:
        errors.errors.extend(exc.errors)
    try:
        values["region_code"] = codes.validate_region(data.region_code, field="region_code")
    except Invalid as exc:
        errors.errors.extend(exc.errors)
    if (data.kind == OrgKind.hospital and not errors
            and values["code"][1:7] != values["region_code"]):
        errors.add("region_code", "must match the region in the institution code")
    if not errors:
        clash = session.exec(select(Organisation.id).where(Organisation.code == values["code"])
                             ).first()
        if clash is not None and clash != exclude_id:
            errors.add("code", "another organisation already has this code")
    errors.raise_if_any()
    return values


def _org_snapshot(org: Organisation) -> dict[str, Any]:
    return {k: getattr(org, k) for k in ("kind", "name", "short_name", "code", "region_code",
                                         "status", "contact_name", "contact_phone", "address")}


def create_organisation(session: Session, actor: Actor, data: OrgIn) -> Organisation:
    if not actor.can(ORG_MANAGE):
        raise Forbidden("only the bureau admin creates organisations")
    org = Organisation(**_check_org(session, data))
    session.add(org)
    session.flush()
    audit.record(session, actor, "organisation.create", "organisation", org.id,
                 after=_org_snapshot(org), org_id=org.id)
    return org


def update_organisation(session: Session, actor: Actor, org_id: int, data: OrgIn,
                        expected_version: int | None = None) -> Organisation:
    org = get_readable(session, Organisation, org_id, actor)
    if not actor.can(ORG_MANAGE):
        raise Forbidden("only the bureau admin edits organisations")
    if expected_version is not None and expected_version != org.version:
        raise Conflict("the organisation was changed by someone else; reload and retry",
                       current_version=org.version)
    if data.kind != org.kind:
        raise Invalid.one("kind", "the kind of an organisation cannot change")
    before = _org_snapshot(org)
    for key, value in _check_org(session, data, exclude_id=org.id).items():
        setattr(org, key, value)
    org.updated_at = utcnow()
    session.add(org)
    session.flush()
    audit.record(session, actor, "organisation.update", "organisation", org.id,
                 before=before, after=_org_snapshot(org), org_id=org.id)
    return org


def set_organisation_status(session: Session, actor: Actor, org_id: int, action: str,
                            expected_version: int | None = None,
                            reason: str | None = None) -> Organisation:
    org = get_readable(session, Organisation, org_id, actor)
    if org.id == actor.org_id:
        raise Conflict("an organisation cannot suspend itself")
    return ORG_WORKFLOW.transition(session, org, action, actor,
                                   expected_version=expected_version, reason=reason)


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int
    more: bool = False  # True: there are more than ``total`` rows (the count was capped)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


#: The most rows a list's download (导出) holds; a longer list asks for narrower filters.
EXPORT_MAX_ROWS = 100_000


def paginate(session: Session, stmt: Any, page: int, per_page: int | None, *,
             count_limit: int | None = None, export_cap: int = EXPORT_MAX_ROWS) -> Page:
    """One page of ``stmt`` and the row count. With ``count_limit``, counting stops there
    (a broad public search need not count 100,000 rows to say "more than 10,000").

    ``per_page=None`` is a download of the list: every row of the same query, as one page,
    up to ``export_cap`` rows; a longer list is refused (422) asking for narrower filters."""
    if per_page is None:
        items = list(session.exec(stmt.limit(export_cap + 1)).all())
        if len(items) > export_cap:
            raise Invalid.one(N_("format"), N_("The list is too long to download: narrow it "
                                               "with the filters first."))
        return Page(items, len(items), 1, max(1, len(items)))
    page = max(1, page)
    per_page = min(max(1, per_page), 200)
    counted = stmt.order_by(None)
    if count_limit is not None:
        counted = counted.limit(count_limit + 1)
    total = session.exec(select(func.count()).select_from(counted.subquery())).one()
    more = count_limit is not None and total > count_limit
    if more:
        total = count_limit
    items = list(session.exec(stmt.offset((page - 1) * per_page).limit(per_page)).all())
    return Page(items, total, page, per_page, more)


def list_organisations(session: Session, actor: Actor, *, kind: OrgKind | None = None,
                       q: str | None = None, status: OrgStatus | None = None,
                       page: int = 1, per_page: int = 50) -> Page:
    stmt = readable_by(Organisation, actor)
    if kind is not None:
        stmt = stmt.where(Organisation.kind == kind)
    if status is not None:
        stmt = stmt.where(Organisation.status == status)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(sa.or_(Organisation.name.like(like), Organisation.code.like(like)))
    return paginate(session, stmt.order_by(Organisation.kind, Organisation.name), page, per_page)


# --- users -----------------------------------------------------------------------------------

class UserIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.\-@]+$")
    display_name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    roles: list[str] = Field(min_length=1)
    password: str | None = Field(default=None, max_length=200)


class UserUpdate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    display_name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    roles: list[str] = Field(min_length=1)


def check_password_strength(password: str, field: str = "password") -> None:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"at least {MIN_PASSWORD_LENGTH} characters")
    kinds = sum([any(c.islower() for c in password), any(c.isupper() for c in password),
                 any(c.isdigit() for c in password), any(not c.isalnum() for c in password)])
    if kinds < 3:
        problems.append("three of: lower-case, upper-case, digit, symbol")
    if problems:
        raise Invalid.one(field, "password needs " + " and ".join(problems))


def _managed_org(session: Session, actor: Actor, org_id: int) -> Organisation:
    """The organisation whose users the actor may manage (own org, or any for the bureau)."""
    if not actor.can(USER_MANAGE):
        raise Forbidden("not allowed to manage users")
    org = get_readable(session, Organisation, org_id, actor)
    if org.id != actor.org_id and not (actor.is_bureau and actor.can(ORG_MANAGE)):
        raise NotFound(f"Organisation {org_id} not found")
    return org


def _check_roles(org: Organisation, roles: list[str]) -> list[str]:
    allowed = set(roles_for_kind(org.kind))
    bad = [r for r in roles if r not in allowed]
    if bad:
        raise Invalid.one("roles", f"unknown role(s) for this organisation: {', '.join(bad)}")
    return sorted(set(roles))


def _set_roles(session: Session, user_id: int, roles: list[str]) -> None:
    session.execute(sa.delete(UserRole).where(UserRole.user_id == user_id))
    for role in roles:
        session.add(UserRole(user_id=user_id, role=role))
    session.flush()


def create_user(session: Session, actor: Actor, org_id: int, data: UserIn) -> User:
    org = _managed_org(session, actor, org_id)
    roles = _check_roles(org, data.roles)
    if not data.password:
        raise Invalid.one("password", "an initial password is required")
    check_password_strength(data.password)
    if session.exec(select(User.id).where(User.username == data.username)).first():
        raise Invalid.one("username", "this username is taken")
    user = User(org_id=org.id, username=data.username, display_name=data.display_name,
                email=data.email or None, phone=data.phone or None,
                password_hash=hash_password(data.password))
    session.add(user)
    session.flush()
    _set_roles(session, user.id, roles)
    audit.record(session, actor, "user.create", "user", user.id, org_id=org.id,
                 after={"username": user.username, "display_name": user.display_name,
                        "roles": roles})
    return user


def get_user(session: Session, actor: Actor, user_id: int) -> User:
    user = get_readable(session, User, user_id, actor)
    return user


def update_user(session: Session, actor: Actor, user_id: int, data: UserUpdate,
                expected_version: int | None = None) -> User:
    user = get_readable(session, User, user_id, actor)
    org = _managed_org(session, actor, user.org_id)
    if expected_version is not None and expected_version != user.version:
        raise Conflict("the user was changed by someone else; reload and retry",
                       current_version=user.version)
    roles = _check_roles(org, data.roles)
    before = {"display_name": user.display_name, "email": user.email, "phone": user.phone,
              "roles": sorted(user_roles(session, user.id))}
    if user.id == actor.user_id and "org_admin" in before["roles"] and "org_admin" not in roles:
        raise Conflict("you cannot remove your own admin role")
    user.display_name = data.display_name
    user.email = data.email or None
    user.phone = data.phone or None
    user.updated_at = utcnow()
    session.add(user)
    _set_roles(session, user.id, roles)
    audit.record(session, actor, "user.update", "user", user.id, org_id=org.id, before=before,
                 after={"display_name": user.display_name, "email": user.email,
                        "phone": user.phone, "roles": roles})
    return user


def set_user_disabled(session: Session, actor: Actor, user_id: int, disabled: bool) -> User:
    user = get_readable(session, User, user_id, actor)
    _managed_org(session, actor, user.org_id)
    if user.id == actor.user_id:
        raise Conflict("you cannot disable yourself")
    if user.disabled == disabled:
        raise Conflict("the user is already " + ("disabled" if disabled else "enabled"),
                       current_status="disabled" if user.disabled else "enabled")
    user.disabled = disabled
    user.session_epoch += 1  # logs the user out everywhere
    user.updated_at = utcnow()
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.disable" if disabled else "user.enable", "user", user.id,
                 org_id=user.org_id, before={"disabled": not disabled},
                 after={"disabled": disabled})
    return user


def reset_password(session: Session, actor: Actor, user_id: int, new_password: str) -> User:
    user = get_readable(session, User, user_id, actor)
    _managed_org(session, actor, user.org_id)
    check_password_strength(new_password)
    user.password_hash = hash_password(new_password)
    user.session_epoch += 1
    user.updated_at = utcnow()
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.reset_password", "user", user.id, org_id=user.org_id)
    return user


def change_own_password(session: Session, actor: Actor, current: str, new: str) -> User:
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        raise Forbidden("only people have passwords")
    if not verify_password(user.password_hash, current):
        raise Invalid.one("current_password", "the current password is wrong")
    check_password_strength(new, field="new_password")
    if verify_password(user.password_hash, new):
        raise Invalid.one("new_password", "the new password must differ from the current one")
    user.password_hash = hash_password(new)
    user.session_epoch += 1
    user.updated_at = utcnow()
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.change_password", "user", user.id, org_id=user.org_id)
    return user


def list_users(session: Session, actor: Actor, *, org_id: int | None = None,
               q: str | None = None, page: int = 1, per_page: int = 50) -> Page:
    stmt = readable_by(User, actor)
    if org_id is not None:
        stmt = stmt.where(User.org_id == org_id)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(sa.or_(User.username.like(like), User.display_name.like(like)))
    return paginate(session, stmt.order_by(User.org_id, User.username), page, per_page)


def roles_by_user(session: Session, user_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {uid: [] for uid in user_ids}
    if user_ids:
        for uid, role in session.execute(
                sa.select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(user_ids))
                .order_by(UserRole.role)):
            out[uid].append(role)
    return out


# --- API tokens ------------------------------------------------------------------------------

class TokenIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1)
    expires_at: datetime | None = None


def create_token(session: Session, actor: Actor, data: TokenIn) -> tuple[ApiToken, str]:
    """Create a token for the actor's organisation; the secret is returned once, never stored."""
    if not actor.can(TOKEN_MANAGE) or actor.user_id is None:
        raise Forbidden("only an organisation admin creates API tokens")
    allowed = set(grantable_scopes(actor.org_kind, actor.roles))
    bad = sorted(set(data.scopes) - allowed)
    if bad:
        raise Invalid.one("scopes", f"scope(s) not grantable: {', '.join(bad)}")
    if data.expires_at is not None and data.expires_at.tzinfo is None:
        # A datetime-local field: wall time in the bureau's zone.
        data = data.model_copy(update={"expires_at": data.expires_at.replace(tzinfo=LOCAL_TZ)})
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise Invalid.one("expires_at", "must be in the future")
    secret = new_token_secret()
    token = ApiToken(org_id=actor.org_id, name=data.name, prefix=secret[:10],
                     token_hash=token_digest(secret), scopes=sorted(set(data.scopes)),
                     created_by=actor.user_id, expires_at=data.expires_at)
    session.add(token)
    session.flush()
    audit.record(session, actor, "token.create", "api_token", token.id,
                 after={"name": token.name, "scopes": token.scopes, "prefix": token.prefix})
    return token, secret


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    if not actor.can(TOKEN_MANAGE):
        raise Forbidden("only an organisation admin revokes API tokens")
    token = get_readable(session, ApiToken, token_id, actor)
    if token.revoked_at is not None:
        raise Conflict("the token is already revoked", current_status="revoked")
    token.revoked_at = utcnow()
    token.revoked_by = actor.user_id
    session.add(token)
    session.flush()
    audit.record(session, actor, "token.revoke", "api_token", token.id,
                 before={"status": "active"}, after={"status": "revoked"})
    return token


def list_tokens(session: Session, actor: Actor) -> list[ApiToken]:
    if not actor.can(TOKEN_MANAGE):
        raise Forbidden("only an organisation admin sees API tokens")
    return list(session.exec(readable_by(ApiToken, actor).order_by(ApiToken.created_at.desc())
                             ).all())


def org_counts_by_kind(session: Session, actor: Actor) -> dict[str, int]:
    stmt = readable_by(Organisation, actor).subquery()
    rows = session.execute(sa.select(stmt.c.kind, func.count()).group_by(stmt.c.kind)).all()
    return {(k.value if hasattr(k, "value") else k): n for k, n in rows}
