"""Versioned rule sets (规则集) shared by every module.

A module registers the pydantic model of its parameters and their defaults under a name; the
bureau publishes new versions; services read the version in force at a moment and stamp the
version number on whatever they compute with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlmodel import Session, func, select

from core import audit
from core.errors import NotFound
from core.forms import parse
from core.models import RuleSet
from core.permissions import Actor
from core.types import utcnow

P = TypeVar("P", bound=BaseModel)

_SCHEMAS: dict[str, tuple[type[BaseModel], BaseModel]] = {}


def register(name: str, model: type[P], defaults: P) -> None:
    """Declare rule set ``name`` with its parameter model and the defaults of version 1."""
    _SCHEMAS[name] = (model, defaults)


def registered() -> list[str]:
    return sorted(_SCHEMAS)


@dataclass(frozen=True)
class Rules(Generic[P]):
    """A rule-set version in force: its validated parameters and the version to stamp."""

    name: str
    version: int
    params: P
    effective_from: datetime


def _schema(name: str) -> tuple[type[BaseModel], BaseModel]:
    try:
        return _SCHEMAS[name]
    except KeyError:
        raise NotFound("unknown rule set %(name)s", params={"name": name}) from None


def _as_rules(row: RuleSet) -> Rules[Any]:
    model, _ = _schema(row.name)
    return Rules(row.name, row.version, model.model_validate(row.params), row.effective_from)


def current(session: Session, name: str, at: datetime | None = None) -> Rules[Any]:
    """The version of ``name`` in force at ``at`` (now); version 1 is the registered defaults."""
    at = at or utcnow()
    row = session.exec(
        select(RuleSet).where(RuleSet.name == name, RuleSet.effective_from <= at)
        .order_by(RuleSet.effective_from.desc(), RuleSet.version.desc()).limit(1)
    ).first()
    if row is None:
        row = session.exec(select(RuleSet).where(RuleSet.name == name)
                           .order_by(RuleSet.version).limit(1)).first()
    if row is None:
        _, defaults = _schema(name)
        row = RuleSet(name=name, version=1, params=defaults.model_dump(mode="json"),
                      effective_from=datetime(2000, 1, 1, tzinfo=UTC), note="defaults")
        session.add(row)
        session.flush()
    return _as_rules(row)


def get_version(session: Session, name: str, version: int) -> Rules[Any]:
    row = session.exec(select(RuleSet).where(RuleSet.name == name,
                                             RuleSet.version == version)).first()
    if row is None:
        raise NotFound("rule set %(name)s has no version %(version)s",
                       params={"name": name, "version": version})
    return _as_rules(row)


def history(session: Session, name: str) -> list[RuleSet]:
    current(session, name)  # make sure version 1 exists
    return list(session.exec(select(RuleSet).where(RuleSet.name == name)
                             .order_by(RuleSet.version.desc())).all())


def publish(session: Session, actor: Actor, name: str, params: dict[str, Any] | BaseModel,
            *, effective_from: datetime | None = None, note: str | None = None) -> Rules[Any]:
    """Validate ``params`` and store them as the next version of ``name``."""
    model, _ = _schema(name)
    validated = parse(model, params.model_dump() if isinstance(params, BaseModel) else params)
    current(session, name)
    last = session.exec(select(func.max(RuleSet.version)).where(RuleSet.name == name)).one()
    row = RuleSet(name=name, version=(last or 0) + 1,
                  params=validated.model_dump(mode="json"),
                  effective_from=effective_from or utcnow(), note=note,
                  created_by=actor.user_id)
    session.add(row)
    session.flush()
    audit.record(session, actor, "rule_set.publish", "rule_set", row.id,
                 after={"name": name, "version": row.version, "params": row.params})
    return _as_rules(row)
