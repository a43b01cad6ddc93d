"""Tables of the shared kernel: organisations, users, API tokens, audit log, jobs."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from core import db as _db  # noqa: F401  (sets the naming convention before any table)
from core.types import EnumStr, UTCDateTime, utcnow


def ts_field(nullable: bool = False, index: bool = False, **kw: Any) -> Any:
    """A UTC timestamp column; non-nullable ones default to now."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime(), nullable=True, index=index, **kw)
    return Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False, index=index, **kw)


def enum_field(enum_cls: type[enum.Enum], default: Any = None, *, index: bool = False,
               nullable: bool = False, length: int = 32) -> Any:
    kwargs: dict[str, Any] = {"sa_type": EnumStr(enum_cls, length), "nullable": nullable,
                              "index": index}
    if default is not None:
        kwargs["default"] = default
    return Field(**kwargs)


class Versioned(SQLModel):
    """Optimistic concurrency: every UPDATE checks and bumps ``version``.

    A write made from a stale copy raises ``StaleDataError``, rendered as a 409.
    """

    version: int = Field(default=1, nullable=False)

    @declared_attr  # type: ignore[misc]
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        return {"version_id_col": cls.__table__.c.version}


class Stamped(SQLModel):
    """When a stateful row was created and last changed, and who last moved its status
    (``core.states.Workflow`` stamps the last two)."""

    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
    status_changed_at: datetime | None = ts_field(nullable=True)
    status_changed_by: int | None = Field(default=None)


class OrgKind(str, enum.Enum):
    """Kinds of organisation on the platform."""

    enterprise = "enterprise"  # 企业: pharma / device companies
    hospital = "hospital"      # 医疗机构: designated medical institutions
    bank = "bank"              # 银行: lenders for order financing
    bureau = "bureau"          # 医保局: the provincial medical-insurance bureau


class OrgStatus(str, enum.Enum):
    active = "active"
    suspended = "suspended"


class Organisation(Versioned, Stamped, table=True):
    """An organisation (机构) using the platform; its code is validated for its kind."""

    __tablename__ = "organisation"

    id: int | None = Field(default=None, primary_key=True)
    kind: OrgKind = enum_field(OrgKind, index=True)
    name: str = Field(max_length=200, index=True)
    short_name: str | None = Field(default=None, max_length=60)
    code: str = Field(max_length=32, unique=True)
    region_code: str = Field(max_length=6, index=True)
    status: OrgStatus = enum_field(OrgStatus, OrgStatus.active, index=True)
    contact_name: str | None = Field(default=None, max_length=60)
    contact_phone: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=300)


class Role(str, enum.Enum):
    """Roles within an organisation; business modules grant them further permissions."""

    org_admin = "org_admin"  # 机构管理员
    operator = "operator"    # 经办人
    reviewer = "reviewer"    # 审核人
    viewer = "viewer"        # 查看者


class User(Versioned, table=True):
    """A person who logs in; belongs to exactly one organisation."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=100)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    password_hash: str = Field(max_length=255)
    disabled: bool = Field(default=False, nullable=False)
    locale: str | None = Field(default=None, max_length=10)
    # Bumped on password change or disable: invalidates every existing login session.
    session_epoch: int = Field(default=1, nullable=False)
    last_login_at: datetime | None = ts_field(nullable=True)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class UserRole(SQLModel, table=True):
    __tablename__ = "user_role"

    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    role: str = Field(max_length=40, primary_key=True)


class LoginAttempt(SQLModel, table=True):
    """A failed login, kept a while for lockout decisions (per account and per address)."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_username_at", "username", "at"),
        sa.Index("ix_login_attempt_ip_at", "ip", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    ip: str = Field(max_length=64)
    at: datetime = ts_field()


class ApiToken(SQLModel, table=True):
    """An organisation's API token for system-to-system calls (HIS, ERP).

    The secret is shown once; only its SHA-256 is stored (it is 256 random bits, so a slow KDF
    adds nothing). Scopes are permission names; the token can never exceed them.
    """

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16, index=True)
    token_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    created_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = ts_field()
    expires_at: datetime | None = ts_field(nullable=True)
    last_used_at: datetime | None = ts_field(nullable=True)
    revoked_at: datetime | None = ts_field(nullable=True)
    revoked_by: int | None = Field(default=None, foreign_key="user_account.id")


class AuditLog(SQLModel, table=True):
    """Append-only audit record (审计日志), hash-chained to its predecessor by ``seq``."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    at: datetime = ts_field(index=True)
    actor_user_id: int | None = Field(default=None, index=True)
    actor_token_id: int | None = Field(default=None)
    actor_name: str = Field(max_length=100)
    org_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=80, index=True)
    object_type: str = Field(max_length=60)
    object_id: str | None = Field(default=None, max_length=60)
    before: dict | None = Field(default=None, sa_type=sa.JSON)
    after: dict | None = Field(default=None, sa_type=sa.JSON)
    ip: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)

    __table_args__ = (sa.Index("ix_audit_log_object", "object_type", "object_id"),)


class AuditHead(SQLModel, table=True):
    """The chain's head: last sequence number and hash (one row, locked by each append)."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0, nullable=False)
    hash: str = Field(max_length=64)


class JobStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    retrying = "retrying"
    succeeded = "succeeded"
    dead = "dead"  # failed on its last attempt; visible to the bureau admin for a requeue


class Job(SQLModel, table=True):
    """One run of a background job and its stored outcome."""

    __tablename__ = "job"

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=100, index=True)
    args: dict = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    # Unique key for deduplication: a scheduler tick or an idempotent request enqueues once.
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    status: JobStatus = enum_field(JobStatus, JobStatus.queued, index=True)
    attempts: int = Field(default=0, nullable=False)
    max_attempts: int = Field(default=4, nullable=False)
    result: dict | None = Field(default=None, sa_type=sa.JSON)
    error: str | None = Field(default=None, sa_type=sa.Text)
    org_id: int | None = Field(default=None, index=True)
    created_by: int | None = Field(default=None)
    created_at: datetime = ts_field(index=True)
    started_at: datetime | None = ts_field(nullable=True)
    finished_at: datetime | None = ts_field(nullable=True)
    lease_until: datetime | None = ts_field(nullable=True)


class RuleSet(SQLModel, table=True):
    """A versioned rule set (规则集): the parameters of one business rule, as validated JSON.

    Rules change with every national batch and differ between provinces, so each edit adds a
    new version instead of overwriting; every computed result stores the version it used.
    """

    __tablename__ = "rule_set"
    __table_args__ = (sa.UniqueConstraint("name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, index=True)
    version: int = Field(nullable=False)
    effective_from: datetime = ts_field()
    params: dict = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    note: str | None = Field(default=None, max_length=500)
    created_by: int | None = Field(default=None)
    created_at: datetime = ts_field()
