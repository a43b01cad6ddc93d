"""Append-only, hash-chained audit log (审计日志).

Each record's hash covers its own fields and the previous record's hash, and records carry a
gapless sequence number kept in ``audit_head``. So ``verify_chain`` detects a modified record
(its hash no longer matches), an inserted one (the chain breaks after it) and a deleted one
(a gap in the sequence, or a head that points past the last record).

What the chain cannot see by itself — its tail cut off and ``audit_head`` rewound by someone
who dropped the append-only triggers — is caught by comparing it with checkpoints kept
outside the table (``write_checkpoint`` / ``verify_checkpoints``, below).

Appending locks the head row for the rest of the transaction: chain order equals commit order.
"""
from __future__ import annotations

import enum
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
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
    kind: str  # modified | inserted | deleted; against checkpoints: truncated | rewritten
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


# --- checkpoints: the chain anchored outside the table it protects ---------------------------
#
# The chain alone cannot see its own tail cut off: someone able to drop the append-only
# triggers can delete the last records and rewind ``audit_head`` to the new last record, and
# what remains is a perfect chain. A checkpoint — (seq, hash, time) of the chain's end — is
# written periodically to the log stream (one JSON line, meant to be shipped off the machine)
# and appended to a file under the instance folder; ``verify_checkpoints`` then refuses a chain
# that is shorter than a checkpoint or whose record at a checkpoint's seq has another hash.

CHECKPOINT_FILE = "audit-checkpoints.jsonl"

checkpoint_log = logging.getLogger("yaocai.audit.checkpoint")


@dataclass(frozen=True)
class Checkpoint:
    """Where the chain ended at a moment: its last ``seq``, that record's ``hash``, and when."""

    seq: int
    hash: str
    at: str  # ISO 8601, UTC

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at}


def checkpoint_path(settings: Any) -> Path:
    """The checkpoint file: ``AUDIT_CHECKPOINT_FILE`` (or the ``audit_checkpoint_file`` extra
    setting), else ``audit-checkpoints.jsonl`` in the instance folder."""
    configured = (settings.extra.get("audit_checkpoint_file")
                  or os.environ.get("AUDIT_CHECKPOINT_FILE"))
    return Path(configured) if configured else Path(settings.instance_path) / CHECKPOINT_FILE


def read_checkpoints(path: Path) -> tuple[list[Checkpoint], list[ChainProblem]]:
    """Every checkpoint of the file (lines of the checkpoint file, or the checkpoint lines of
    the JSON log stream) in order, and a problem for each line that is not one
    (an edited or damaged file is itself a sign of tampering). A missing file is empty."""
    checkpoints: list[Checkpoint] = []
    problems: list[ChainProblem] = []
    if not path.exists():
        return checkpoints, problems
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                # A line of the log stream carries the checkpoint under its own key, so the
                # lines shipped off the machine can be checked against as they are.
                data = data.get("audit_checkpoint", data)
                cp = Checkpoint(int(data["seq"]), str(data["hash"]), str(data["at"]))
            except (ValueError, KeyError, TypeError):
                problems.append(ChainProblem(None, "checkpoint",
                                             f"{path} line {line_no} is not a checkpoint"))
                continue
            checkpoints.append(cp)
    return checkpoints, problems


def _chain_end(session: Session) -> tuple[int, str] | None:
    row = session.execute(
        sa.select(AuditLog.seq, AuditLog.hash).order_by(AuditLog.seq.desc()).limit(1)
    ).first()
    return None if row is None else (row.seq, row.hash)


def write_checkpoint(session: Session, path: Path) -> tuple[Checkpoint | None, bool]:
    """Anchor the chain's current end: log it and append it to ``path`` (fsynced).

    Idempotent: when the file's last checkpoint already names the same record, nothing is
    appended (the log line is written again, so the stream shows the check ran). Returns
    the checkpoint (None for an empty log) and whether a line was appended.
    """
    end = _chain_end(session)
    if end is None:
        return None, False
    cp = Checkpoint(end[0], end[1], _iso(utcnow()))
    checkpoint_log.info("audit checkpoint", extra={"audit_checkpoint": cp.as_dict()})
    existing, _ = read_checkpoints(path)
    if existing and (existing[-1].seq, existing[-1].hash) == (cp.seq, cp.hash):
        return existing[-1], False
    path.parent.mkdir(parents=True, exist_ok=True)
    new_file = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (json.dumps(cp.as_dict(), sort_keys=True) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if new_file:  # the new directory entry must survive a crash too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return cp, True


def verify_checkpoints(session: Session, checkpoints: Iterable[Checkpoint],
                       batch: int = 1000) -> list[ChainProblem]:
    """Compare the chain with every checkpoint: a chain that ends before a checkpoint's seq
    was cut (``truncated``), a record at a checkpoint's seq with another hash was rewritten
    (``rewritten``)."""
    latest: dict[int, Checkpoint] = {}
    for cp in checkpoints:
        latest[cp.seq] = cp
    if not latest:
        return []
    end = _chain_end(session)
    last_seq = end[0] if end else 0
    problems: list[ChainProblem] = []
    wanted = sorted(latest)
    found: dict[int, str] = {}
    present = [s for s in wanted if s <= last_seq]
    for i in range(0, len(present), batch):
        chunk = present[i:i + batch]
        found.update(session.execute(
            sa.select(AuditLog.seq, AuditLog.hash).where(AuditLog.seq.in_(chunk))).all())
    beyond = [s for s in wanted if s > last_seq]
    if beyond:
        cp = latest[beyond[-1]]
        problems.append(ChainProblem(
            cp.seq, "truncated",
            f"the log ends at seq {last_seq} but the checkpoint of {cp.at} recorded seq "
            f"{cp.seq}: the last {cp.seq - last_seq} record(s) were removed"))
    for seq in present:
        cp = latest[seq]
        if seq not in found:
            problems.append(ChainProblem(seq, "truncated", f"the record checkpointed at "
                                         f"{cp.at} is missing"))
        elif found[seq] != cp.hash:
            problems.append(ChainProblem(seq, "rewritten", f"its hash is not the one "
                                         f"checkpointed at {cp.at} (the chain was rebuilt)"))
    return problems
