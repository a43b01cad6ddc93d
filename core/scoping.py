"""Organisation scoping of every read: ``readable_by(Model, actor)``.

Each organisation-scoped model states who may read its rows with a classmethod
``readable_clause(actor)``; every list and lookup starts from ``readable_by`` so the tenant
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
from core.models import ApiToken, Job, Organisation, User
from core.permissions import Actor

T = TypeVar("T")


def _clause_for(model: type, actor: Actor) -> Any:
    if actor.system:
        return sa.true()
    fn = getattr(model, "readable_clause", None)
    if fn is not None:
        return fn(actor)
    if model in _CLAUSES:
        return _CLAUSES[model](actor)
    if hasattr(model, "org_id"):
        return model.org_id == actor.org_id
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
    # The bureau sees every organisation; others see their own.
    Organisation: lambda a: sa.true() if a.is_bureau else Organisation.id == a.org_id,
    User: lambda a: sa.true() if a.is_bureau else User.org_id == a.org_id,
    ApiToken: lambda a: ApiToken.org_id == a.org_id,
    Job: lambda a: sa.true() if a.is_bureau else Job.org_id == a.org_id,
}
