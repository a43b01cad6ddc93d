"""What waits for this person's action (待办事项), shown first on each home page.

Each module registers providers (``register``), functions of its services that count for an
``Actor`` what waits on them — a batch to report, applications past their review time,
agreements to confirm — with COUNT queries scoped like every other read. A provider returns
``Todo`` items; the home page shows those with a count, each linking to where the work is done.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from core.permissions import Actor


@dataclass(frozen=True)
class Todo:
    """``count`` things waiting, described by ``label`` (an English msgid), done on the page
    ``endpoint`` with ``args``; ``detail`` (a msgid with ``params``) says where, e.g. which
    batch; ``overdue`` when past a deadline or SLA."""

    label: str
    count: int
    endpoint: str
    args: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    overdue: bool = False


Provider = Callable[[Session, Actor], Iterable[Todo]]


@dataclass(frozen=True)
class _Registration:
    key: str
    provider: Provider
    permission: str
    order: int


_PROVIDERS: dict[str, _Registration] = {}


def register(key: str, provider: Provider, *, permission: str, order: int = 100) -> None:
    """Add a provider, asked only for actors holding ``permission``."""
    _PROVIDERS[key] = _Registration(key, provider, permission, order)


def todos_for(session: Session, actor: Actor) -> list[Todo]:
    """Everything waiting for ``actor``, overdue first, in the providers' order."""
    items: list[Todo] = []
    for reg in sorted(_PROVIDERS.values(), key=lambda r: (r.order, r.key)):
        if actor.system or not actor.can(reg.permission):
            continue
        items += [t for t in reg.provider(session, actor) if t.count > 0]
    return sorted(items, key=lambda t: not t.overdue)
