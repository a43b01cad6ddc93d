"""Append-only, hash-chained audit log (审计日志).

Each record's hash covers its own fields and the previous record's hash, and records carry a
gapless sequence number kept in ``audit_head``. So ``verify_chain`` detects a modified record
(its hash no longer matches), an inserted one (the chain breaks after it) and a deleted one
(a gap in the sequence, or a head that points past the last record).

Appending locks the head row for the rest of the transaction: chain order equals commit order.
"""
from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from core.models import AuditHead, AuditLog
from core.permissions import Actor
from core.types import utcnow

GENESIS = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not serialisable in an audit record: {type(value).__name__}")


def canonical_json(value: Any) -> str:
    return json.dumps(value, default=_default, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))


def normalise(value: Any) -> Any:
    """What a JSON column will give back: so the hash computed now matches it later."""
    if value is None:
        return None
    return json.loads(canonical_json(value))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_hash(prev_hash: str, rec: AuditLog) -> str:
    payload = canonical_json({
        "seq": rec.seq, "at": _iso(rec.at), "actor_user_id": rec.actor_user_id,
        "actor_token_id": rec.actor_token_id, "actor_name": rec.actor_name,
        "org_id": rec.org_id, "action": rec.action, "object_type": rec.object_type,
        "object_id": rec.object_id, "before": rec.before, "after": rec.after, "ip": rec.ip,
    })
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def record(session: Session, actor: Actor, action: str, object_type: str,
           object_id: Any = None, *, before: Any = None, after: Any = None,
           org_id: int | None = None) -> AuditLog:
    """Append one audit record in the caller's transaction."""
    # UPDATE first: it takes the row lock on PostgreSQL and the write lock on SQLite, so
    # concurrent appenders queue here instead of racing for the same sequence number.
    bumped = session.execute(
        sa.update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1)
    ).rowcount
    if bumped == 0:
        session.add(AuditHead(id=1, seq=1, hash=GENESIS))
        session.flush()
    head = session.execute(
        sa.select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
    ).one()
    rec = AuditLog(
        seq=head.seq,
        at=utcnow(),
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        actor_name=actor.name[:100],
        org_id=org_id if org_id is not None else actor.org_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        before=normalise(before),
        after=normalise(after),
        ip=actor.ip,
        prev_hash=head.hash,
        hash="",
    )
    rec.hash = compute_hash(head.hash, rec)
    session.add(rec)
    session.execute(sa.update(AuditHead).where(AuditHead.id == 1).values(hash=rec.hash))
    session.flush()
    return rec


@dataclass
class ChainProblem:
    seq: int | None
    kind: str  # modified | inserted | deleted
    detail: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "chain"
        return f"{self.kind}: {where}: {self.detail}"


def verify_chain(session: Session, batch: int = 5000) -> tuple[int, list[ChainProblem]]:
    """Walk the whole log in sequence order; return (records checked, problems found)."""
    problems: list[ChainProblem] = []
    prev_hash = GENESIS
    expected_seq = 1
    checked = 0
    last_seq = 0
    offset_seq = 0
    while True:
        rows: Iterable[AuditLog] = session.exec(
            select(AuditLog).where(AuditLog.seq > offset_seq).order_by(AuditLog.seq).limit(batch)
        ).all()
        rows = list(rows)
        if not rows:
            break
        for rec in rows:
            checked += 1
            if rec.seq > expected_seq:
                problems.append(ChainProblem(
                    rec.seq, "deleted",
                    f"records {expected_seq}..{rec.seq - 1} are missing"))
            if rec.prev_hash != prev_hash:
                problems.append(ChainProblem(
                    rec.seq, "inserted",
                    "does not link to the record before it (inserted or reordered record)"))
            if compute_hash(rec.prev_hash, rec) != rec.hash:
                problems.append(ChainProblem(
                    rec.seq, "modified", "content does not match its hash"))
            prev_hash = rec.hash
            expected_seq = rec.seq + 1
            last_seq = rec.seq
        offset_seq = last_seq
    head = session.get(AuditHead, 1)
    if head is not None:
        if head.seq > last_seq:
            problems.append(ChainProblem(
                None, "deleted", f"the last {head.seq - last_seq} record(s) are missing "
                f"(head is at {head.seq}, log ends at {last_seq})"))
        elif head.seq < last_seq:
            problems.append(ChainProblem(
                None, "inserted", f"records after the head ({head.seq}) were appended "
                "outside the platform"))
        elif head.hash != prev_hash:
            problems.append(ChainProblem(None, "modified", "the head hash does not match "
                                         "the last record"))
    elif checked:
        problems.append(ChainProblem(None, "modified", "the chain head is missing"))
    return checked, problems
