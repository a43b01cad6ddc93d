"""Words for the platform's internal names (对象名称): what a kind of object, a workflow
status or a workflow action is called on a page, and where one object's page is.

Code, audit records and problem+json machine fields use the internal names (``vbp_batch``,
``under_review``, ``start_review``); people read the labels. Each module registers its kinds in
its ``i18n.py`` (imported by its ``init_app``); a label is an English msgid translated when
rendered, and ``tests/core/test_labels.py`` fails on a workflow, an audited object kind or a
model without one.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from core.i18n import N_, Term


@dataclass(frozen=True)
class ObjectKind:
    """One kind of object (a table or a workflow) as people name it, and its page.

    ``endpoint`` shows one object; its URL argument ``arg`` is the object's id, or, when
    ``via`` names a column of ``model``, that column's value (a volume report links to its
    batch's reports page)."""

    key: str
    label: str
    endpoint: str | None = None
    arg: str | None = None
    model: Any = None
    via: str | None = None
    #: Prefix of the msgids of this workflow's statuses when plain values would be ambiguous
    #: (an agreement's ``proposed`` is not a product's).
    status_prefix: str = ""


_KINDS: dict[str, ObjectKind] = {}


def register(*kinds: ObjectKind) -> None:
    for kind in kinds:
        _KINDS[kind.key] = kind


def kinds() -> dict[str, ObjectKind]:
    return dict(_KINDS)


def kind_label(key: str) -> str:
    """The msgid naming objects of ``key`` (a table or workflow name); the key if unknown."""
    kind = _KINDS.get(key)
    return kind.label if kind else key


def model_label(model: type) -> str:
    """The msgid naming rows of ``model``, by its table name."""
    return kind_label(getattr(model, "__tablename__", model.__name__))


def status_label(key: str, status: enum.Enum | str) -> str:
    """The msgid of a status of the workflow ``key``."""
    value = getattr(status, "value", status)
    kind = _KINDS.get(key)
    return f"{kind.status_prefix}{value}" if kind else str(value)


def action_label(action: str) -> str:
    """The msgid of a workflow action, as on its button."""
    return f"action:{action}"


def kind_term(key: str) -> Term:
    """A message parameter naming the kind ``key``: internal in logs, its label on pages."""
    return Term(key, kind_label(key))


def model_term(model: type) -> Term:
    return Term(model.__name__, model_label(model))


def status_term(key: str, status: enum.Enum | str) -> Term:
    """A message parameter naming a status of the workflow ``key``."""
    return Term(str(getattr(status, "value", status)), status_label(key, status))


def action_term(action: str) -> Term:
    return Term(action, action_label(action))


def object_urls(session: Any, actor: Any, refs: Iterable[tuple[str, Any]]) -> dict[tuple[str, str], str]:
    """The page of each ``(kind, id)`` the actor may open, with one query per kind that links
    through a parent column. Objects without a page (or a permitted one) are left out."""
    from flask import current_app, url_for

    from core.web import PERMISSION_ATTR

    wanted: dict[str, set[int]] = {}
    out: dict[tuple[str, str], str] = {}
    for key, obj_id in refs:
        kind = _KINDS.get(key)
        if kind is None or kind.endpoint is None or obj_id is None:
            continue
        view = current_app.view_functions.get(kind.endpoint)
        permission = getattr(view, PERMISSION_ATTR, None)
        if view is None or permission is None or not actor.can(permission):
            continue
        if kind.arg is None:
            out[(key, str(obj_id))] = url_for(kind.endpoint)
        elif str(obj_id).isdigit():
            wanted.setdefault(key, set()).add(int(obj_id))
    for key, ids in wanted.items():
        kind = _KINDS[key]
        if kind.via:
            column = getattr(kind.model, kind.via)
            pairs = session.execute(sa.select(kind.model.id, column)
                                    .where(kind.model.id.in_(sorted(ids)))).all()
        else:
            pairs = [(i, i) for i in ids]
        for obj_id, value in pairs:
            out[(key, str(obj_id))] = url_for(kind.endpoint, **{kind.arg: value})
    return out


#: The names of the system actors (``Actor.system_actor(name)``) that audit records carry.
SYSTEM_ACTORS = {
    "system": N_("actor:system"),
    "cli": N_("actor:cli"),
    "demo": N_("actor:demo"),
    "publicity": N_("actor:publicity"),
}


def actor_label(record: Any) -> str | None:
    """The msgid naming the system actor of an audit record; None for a person or token (a
    failed login carries the typed username, also without a user id)."""
    if record.actor_user_id is None and record.actor_token_id is None:
        return SYSTEM_ACTORS.get(record.actor_name)
    return None


#: The kernel's own kinds.
register(
    ObjectKind("organisation", N_("organisation"), "core.organisation_detail", "org_id"),
    ObjectKind("user", N_("user"), "core.user_detail", "user_id"),
    ObjectKind("user_account", N_("user"), "core.user_detail", "user_id"),
    ObjectKind("user_role", N_("user role")),
    ObjectKind("login_attempt", N_("login attempt")),
    ObjectKind("api_token", N_("API token")),
    ObjectKind("audit_log", N_("audit record")),
    ObjectKind("audit_head", N_("audit chain head")),
    ObjectKind("job", N_("background job")),
    ObjectKind("rule_set", N_("rule set")),
    ObjectKind("demo", N_("demo data")),
)
