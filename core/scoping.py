"""Organisation scoping of every read: ``readable_by(Model, actor)``.

Each organisation-scoped model states who may read its rows with a classmethod
``readable_clause(actor)``, built from the rules here (``bureau_or_own`` for most); every list and lookup starts from ``readable_by`` so the tenant
filter cannot be forgotten. Rows outside the caller's scope answer 404, never 403: their
existence is not revealed.
"""
from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from core.errors import NotFound
from core.labels import model_term
from core.models import ApiToken, AuditLog, Job, Organisation, User
from core.permissions import Actor

T = TypeVar("T")


def bureau_or_own(actor: Actor, *owners: Any) -> Any:
    """The rule most rows follow: the bureau reads them all, any other organisation those
    where one of the ``owners`` columns is its own."""
    if actor.is_bureau:
        return sa.true()
    return sa.or_(*(column == actor.org_id for column in owners))


def own_only(actor: Actor, owner: Any) -> Any:
    """Rows only their own organisation reads — the bureau too reads only its own."""
    return owner == actor.org_id


def bureau_only(actor: Actor) -> Any:
    """Rows only the bureau reads (its working copies, e.g. allocation runs)."""
    return sa.true() if actor.is_bureau else sa.false()


def _clause_for(model: type, actor: Actor) -> Any:
    if actor.system:
        return sa.true()
    fn = getattr(model, "readable_clause", None)
    if fn is not None:
        return fn(actor)
    if model in _CLAUSES:
        return _CLAUSES[model](actor)
    raise TypeError(f"{model.__name__} declares no read scope")


def readable_by(model: type[T], actor: Actor) -> SelectOfScalar[T]:
    """``SELECT model`` restricted to the rows ``actor`` may read."""
    return select(model).where(_clause_for(model, actor))


def get_readable(session: Session, model: type[T], obj_id: Any, actor: Actor,
                 *, for_update: bool = False) -> T:
    """One row by primary key within the actor's scope, else ``NotFound``."""
    stmt = readable_by(model, actor).where(model.id == obj_id)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update()
    obj = session.exec(stmt).first()
    if obj is None:
        raise NotFound("%(object)s %(id)s not found",
                       params={"object": model_term(model), "id": obj_id})
    return obj


# Scopes of the kernel's own tables (business models define readable_clause themselves).
_CLAUSES = {
    Organisation: lambda a: bureau_or_own(a, Organisation.id),
    User: lambda a: bureau_or_own(a, User.org_id),
    Job: lambda a: bureau_or_own(a, Job.org_id),
    # A token's secret powers are its organisation's business alone.
    ApiToken: lambda a: own_only(a, ApiToken.org_id),
    # Each organisation reads the trail of its own actions (the bureau's pages add more).
    AuditLog: lambda a: own_only(a, AuditLog.org_id),
}
