"""The one state-machine helper every workflow uses.

A workflow declares its statuses as an Enum and its moves as one table of ``Move`` rows next to
the model. ``Workflow.transition`` checks the move (and the caller's permission for it),
checks the version the caller saw, stamps who and when, writes the audit record and sends the
``status_changed`` signal. An illegal move raises ``IllegalTransition`` — a 409 with the
current status in the body — never a silent no-op.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core import audit
from core.errors import Conflict, Forbidden, PreconditionRequired
from core.events import status_changed
from core.i18n import Term
from core.labels import action_term, kind_term, status_term
from core.permissions import Actor
from core.types import utcnow


class IllegalTransition(Conflict):
    type_slug = "illegal-transition"
    title = "Illegal transition"


class StaleVersion(Conflict):
    type_slug = "stale-version"
    title = "The record was changed by someone else"


def check_version(name: str, obj: Any, expected_version: int | Collection[int] | None, *,
                  current_status: str | None = None, required: bool = False) -> None:
    """Refuse (409) a write made from a page or request that saw another version of ``obj``,
    so that no newer change is overwritten. ``expected_version`` may be several versions (an
    ``If-Match`` list): any of them matches. Without an expected version there is nothing to
    check, unless ``required``: then the write is refused with 428."""
    version = getattr(obj, "version", None)
    if expected_version is None:
        if required and version is not None:
            raise PreconditionRequired(
                "%(name)s %(id)s changes only with the version it was read at (If-Match)",
                params={"name": kind_term(name), "id": obj.id}, current_version=version)
        return
    expected = ({expected_version} if isinstance(expected_version, int)
                else set(expected_version))
    if version is None or version in expected:
        return
    status = getattr(obj, "status", None)
    shown = ", ".join(str(v) for v in sorted(expected)) or "another entity tag"
    raise StaleVersion("%(name)s %(id)s is at version %(version)s, not %(expected)s",
                       params={"name": kind_term(name), "id": obj.id, "version": version,
                               "expected": shown},
                       current_status=current_status or getattr(status, "value", status),
                       current_version=version)


@dataclass(frozen=True)
class Move:
    """One allowed move: ``action`` takes an object from any of ``sources`` to ``target``."""

    action: str
    sources: frozenset[enum.Enum]
    target: enum.Enum
    permission: str | None = None  # None: the service decides who may (e.g. the scheduler)

    @classmethod
    def of(cls, action: str, sources: enum.Enum | Iterable[enum.Enum], target: enum.Enum,
           permission: str | None = None) -> Move:
        if isinstance(sources, enum.Enum):
            sources = [sources]
        return cls(action, frozenset(sources), target, permission)


@dataclass
class Workflow:
    """A named state machine over ``status_enum`` with the moves in ``moves``."""

    name: str
    status_enum: type[enum.Enum]
    moves: list[Move]
    status_attr: str = "status"
    _by_action: dict[str, list[Move]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_action = {}
        for move in self.moves:
            for s in move.sources:
                if not isinstance(s, self.status_enum):
                    raise TypeError(f"{self.name}: {s!r} is not a {self.status_enum.__name__}")
            self._by_action.setdefault(move.action, []).append(move)
        # Each (source, action) pair must be unambiguous.
        seen: set[tuple[Any, str]] = set()
        for move in self.moves:
            for s in move.sources:
                if (s, move.action) in seen:
                    raise ValueError(f"{self.name}: duplicate move {move.action} from {s.value}")
                seen.add((s, move.action))

    @property
    def actions(self) -> list[str]:
        return list(self._by_action)

    def _words(self, action: str, status: enum.Enum | None = None) -> dict[str, Term]:
        """The message parameters naming this workflow, an action and a status: shown in
        words (``core.labels``), internal names in ``str`` and machine fields."""
        words = {"name": kind_term(self.name), "action": action_term(action)}
        if status is not None:
            words["status"] = status_term(self.name, status)
        return words

    def find(self, current: enum.Enum, action: str) -> Move | None:
        for move in self._by_action.get(action, []):
            if current in move.sources:
                return move
        return None

    def allowed_actions(self, obj: Any, actor: Actor | None = None) -> list[str]:
        """Actions possible from the object's status (and, given an actor, permitted to it)."""
        current = getattr(obj, self.status_attr)
        out = []
        for action in self._by_action:
            move = self.find(current, action)
            if move and (actor is None or move.permission is None or actor.can(move.permission)):
                out.append(action)
        return out

    def transition(
        self,
        session: Session,
        obj: Any,
        action: str,
        actor: Actor,
        *,
        expected_version: int | None = None,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        before_commit: Callable[[Any], None] | None = None,
    ) -> Any:
        current = getattr(obj, self.status_attr)
        move = self.find(current, action)
        if move is None:
            if action not in self._by_action:
                raise IllegalTransition("unknown action %(action)s for %(name)s",
                                        params=self._words(action),
                                        current_status=current.value, action=action)
            raise IllegalTransition(
                "%(name)s cannot %(action)s from %(status)s",
                params=self._words(action, current),
                current_status=current.value, action=action)
        if move.permission is not None and not actor.can(move.permission):
            raise Forbidden("not allowed to %(action)s a %(name)s",
                            params=self._words(action))
        check_version(self.name, obj, expected_version, current_status=current.value)
        setattr(obj, self.status_attr, move.target)
        now = utcnow()
        if hasattr(obj, "status_changed_at"):
            obj.status_changed_at = now
        if hasattr(obj, "status_changed_by"):
            obj.status_changed_by = actor.user_id
        if hasattr(obj, "updated_at"):
            obj.updated_at = now
        if before_commit is not None:
            before_commit(obj)
        session.add(obj)
        session.flush()
        after: dict[str, Any] = {"status": move.target.value}
        if reason:
            after["reason"] = reason
        if details:
            after.update(details)
        audit.record(session, actor, f"{self.name}.{action}", self.name, obj.id,
                     before={"status": current.value}, after=after,
                     org_id=getattr(obj, "org_id", None))
        status_changed.send(self.name, obj=obj, action=action, source=current,
                            target=move.target, actor=actor, session=session)
        return obj

    def transition_all(
        self,
        session: Session,
        model: type,
        where: Iterable[Any],
        action: str,
        actor: Actor,
        *,
        values: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        chunk: int = 1000,
    ) -> list[int]:
        """Make ``action`` on every row of ``model`` matching ``where`` whose status allows it,
        in bulk: one UPDATE (bumping ``version``, stamping who and when, plus ``values``) and
        one audit record naming the ids per chunk of rows, one ``status_changed`` signal with
        the ids. Rows in other statuses are left alone. Returns the ids moved.

        For moves of thousands of rows at once (a company confirming all its agreements),
        where one ``transition`` per row would take minutes in one request.
        """
        moves = self._by_action.get(action)
        if not moves:
            raise IllegalTransition("unknown action %(action)s for %(name)s",
                                    params=self._words(action), action=action)
        for move in moves:
            if move.permission is not None and not actor.can(move.permission):
                raise Forbidden("not allowed to %(action)s a %(name)s",
                                params=self._words(action))
        session.flush()
        status = getattr(model, self.status_attr)
        conditions = list(where)
        now = utcnow()
        # Every row is selected before any moves, so a row is moved at most once even when
        # one move's target is another's source.
        selected = [list(session.execute(sa.select(model.id).where(
            *conditions, status.in_(move.sources)).order_by(model.id)).scalars())
            for move in moves]
        moved: list[int] = []
        for move, ids in zip(moves, selected, strict=True):
            stamp: dict[str, Any] = {self.status_attr: move.target, **(values or {})}
            for name, value in (("status_changed_at", now), ("status_changed_by", actor.user_id),
                                ("updated_at", now)):
                if hasattr(model, name):
                    stamp[name] = value
            if hasattr(model, "version"):
                stamp["version"] = model.version + 1
            for start in range(0, len(ids), chunk):
                done = sorted(session.execute(
                    sa.update(model).where(model.id.in_(ids[start:start + chunk]),
                                           status.in_(move.sources))
                    .values(**stamp).returning(model.id)
                    .execution_options(synchronize_session=False)).scalars().all())
                if not done:
                    continue
                moved += done
                after: dict[str, Any] = {"status": move.target.value, "ids": done}
                if details:
                    after.update(details)
                audit.record(session, actor, f"{self.name}.{action}", self.name, None,
                             before={"status": sorted(s.value for s in move.sources)},
                             after=after)
        # Loaded copies of the moved rows are stale now.
        session.expire_all()
        if moved:
            status_changed.send(self.name, obj=None, ids=moved, action=action, source=None,
                                target=None, actor=actor, session=session)
        return moved

