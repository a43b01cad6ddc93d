"""The audit chain: appended on every change, and tampering is detected."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core import audit
from core.models import AuditLog
from core.permissions import Actor


def _records(session, n=4):
    actor = Actor.system_actor("test")
    return [audit.record(session, actor, "test.action", "thing", i, before={"v": i},
                         after={"v": i + 1}) for i in range(n)]


def _drop_triggers(session):
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"))
    else:
        session.execute(sa.text("DROP TRIGGER audit_log_no_update"))
        session.execute(sa.text("DROP TRIGGER audit_log_no_delete"))


def test_chain_intact(session):
    recs = _records(session)
    checked, problems = audit.verify_chain(session)
    assert problems == []
    assert checked >= len(recs)
    assert recs[1].prev_hash == recs[0].hash
    assert [r.seq for r in recs] == list(range(recs[0].seq, recs[0].seq + 4))


def test_audit_log_is_append_only_in_the_database(session):
    rec = _records(session, 1)[0]
    for stmt in (sa.update(AuditLog).where(AuditLog.id == rec.id).values(actor_name="x"),
                 sa.delete(AuditLog).where(AuditLog.id == rec.id)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), session.begin_nested():
            session.execute(stmt)


def test_modified_record_detected(session):
    recs = _records(session)
    _drop_triggers(session)
    session.execute(sa.update(AuditLog).where(AuditLog.id == recs[1].id)
                    .values(after={"v": 999}))
    _, problems = audit.verify_chain(session)
    assert [(p.kind, p.seq) for p in problems] == [("modified", recs[1].seq)]


def test_deleted_record_detected(session):
    recs = _records(session)
    _drop_triggers(session)
    session.execute(sa.delete(AuditLog).where(AuditLog.id == recs[2].id))
    _, problems = audit.verify_chain(session)
    kinds = {p.kind for p in problems}
    assert "deleted" in kinds
    assert any(p.seq == recs[3].seq for p in problems)


def test_deleted_tail_detected(session):
    recs = _records(session)
    _drop_triggers(session)
    session.execute(sa.delete(AuditLog).where(AuditLog.id == recs[-1].id))
    _, problems = audit.verify_chain(session)
    assert [p.kind for p in problems] == ["deleted"]


def test_inserted_record_detected(session):
    recs = _records(session)
    # A forged record appended with a hash that is self-consistent but not chained.
    forged = AuditLog(seq=recs[-1].seq + 1, at=recs[0].at, actor_name="intruder",
                      action="user.create", object_type="user", object_id="1",
                      prev_hash="f" * 64, hash="")
    forged.hash = audit.compute_hash(forged.prev_hash, forged)
    session.add(forged)
    session.flush()
    _, problems = audit.verify_chain(session)
    kinds = [p.kind for p in problems]
    assert "inserted" in kinds


def test_cli_verify_exit_status(app, session):
    recs = _records(session, 2)
    # The CLI opens its own unit of work on the app's database, which in tests is bound
    # to this test's connection, so it sees the records above.
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "chain intact" in result.output
    _drop_triggers(session)
    session.execute(sa.update(AuditLog).where(AuditLog.id == recs[0].id)
                    .values(actor_name="someone else"))
    session.flush()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"modified: seq {recs[0].seq}" in result.output


def test_values_roundtrip_into_hash(session):
    """Decimals, dates and enums in before/after are normalised so the hash still verifies."""
    from datetime import date
    from decimal import Decimal

    from core.models import OrgKind
    audit.record(session, Actor.system_actor(), "t.x", "t", 1,
                 after={"price": Decimal("0.1235"), "day": date(2026, 1, 2),
                        "kind": OrgKind.bank, "set": {"b", "a"}})
    session.expire_all()
    _, problems = audit.verify_chain(session)
    assert problems == []
