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
    """What an attacker with the database owner's rights does first."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("DROP TRIGGER audit_log_no_update ON audit_log"))
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


# --- checkpoints: truncation of the tail --------------------------------------------------------

def _cut_tail_and_rewind_head(session, keep):
    """The attack: drop the triggers, delete every record after ``keep``, rewind the head to it
    — what is left is a perfect chain."""
    from core.models import AuditHead
    _drop_triggers(session)
    session.execute(sa.delete(AuditLog).where(AuditLog.seq > keep.seq))
    session.execute(sa.update(AuditHead).where(AuditHead.id == 1)
                    .values(seq=keep.seq, hash=keep.hash))
    session.expire_all()


def test_tail_truncation_with_rewound_head_is_caught_by_the_checkpoint(app, session, tmp_path):
    recs = _records(session, 5)
    path = tmp_path / "audit-checkpoints.jsonl"
    cp, appended = audit.write_checkpoint(session, path)
    assert appended and (cp.seq, cp.hash) == (recs[-1].seq, recs[-1].hash)

    _cut_tail_and_rewind_head(session, keep=recs[2])

    runner = app.test_cli_runner()
    _, chain_problems = audit.verify_chain(session)
    assert chain_problems == []  # the chain alone cannot see it: the hole this closes
    without = runner.invoke(args=["audit", "verify", "--checkpoints", str(tmp_path / "none")])
    assert without.exit_code == 0 and "a cut-off tail cannot be detected" in without.output

    problems = audit.verify_checkpoints(session, audit.read_checkpoints(path)[0])
    assert [(p.kind, p.seq) for p in problems] == [("truncated", recs[-1].seq)]
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(path)])
    assert result.exit_code == 1
    assert f"truncated: seq {recs[-1].seq}" in result.output
    assert f"the log ends at seq {recs[2].seq}" in result.output


def test_a_rebuilt_tail_longer_than_the_checkpoint_is_caught(session, tmp_path):
    recs = _records(session, 4)
    path = tmp_path / "cp.jsonl"
    audit.write_checkpoint(session, path)
    _cut_tail_and_rewind_head(session, keep=recs[1])
    # The attacker appends new records through the platform so the log is as long as before.
    _records(session, 4)
    assert audit.verify_chain(session)[1] == []
    problems = audit.verify_checkpoints(session, audit.read_checkpoints(path)[0])
    assert [(p.kind, p.seq) for p in problems] == [("rewritten", recs[-1].seq)]


def test_every_checkpoint_still_covered_is_checked(session, tmp_path):
    recs = _records(session, 3)
    path = tmp_path / "cp.jsonl"
    first, _ = audit.write_checkpoint(session, path)
    more = _records(session, 2)
    audit.write_checkpoint(session, path)
    assert audit.verify_checkpoints(session, audit.read_checkpoints(path)[0]) == []
    _drop_triggers(session)
    session.execute(sa.update(AuditLog).where(AuditLog.seq == recs[-1].seq)
                    .values(hash="f" * 64))
    problems = audit.verify_checkpoints(session, audit.read_checkpoints(path)[0])
    assert [(p.kind, p.seq) for p in problems] == [("rewritten", first.seq)]
    assert more[-1].seq > first.seq


def test_checkpoint_is_idempotent_fsynced_and_logged(session, tmp_path, caplog):
    _records(session, 2)
    path = tmp_path / "sub" / "cp.jsonl"
    with caplog.at_level("INFO", logger="yaocai.audit.checkpoint"):
        cp, appended = audit.write_checkpoint(session, path)
        again, appended_again = audit.write_checkpoint(session, path)
    assert appended and not appended_again and again == cp
    assert path.read_text().count("\n") == 1
    logged = [r.audit_checkpoint for r in caplog.records]
    assert logged and logged[0] == cp.as_dict()


def test_an_edited_checkpoint_file_is_a_problem(tmp_path):
    path = tmp_path / "cp.jsonl"
    path.write_text('{"seq": 1, "hash": "ab", "at": "x"}\nnot json\n'
                    '{"level": "INFO", "audit_checkpoint": {"seq": 2, "hash": "cd", "at": "y"}}\n')
    checkpoints, problems = audit.read_checkpoints(path)
    assert [c.seq for c in checkpoints] == [1, 2]  # the log stream's lines are read as they are
    assert [(p.kind, "line 2" in p.detail) for p in problems] == [("checkpoint", True)]


def test_the_scheduled_job_writes_the_checkpoint_and_stores_its_outcome(
        database_url, tmp_path_factory, db, session, tmp_path):
    from core.jobs import enqueue, periodic_jobs, registered_jobs, run_job
    from core.models import Job, JobStatus
    from tests.conftest import make_test_app

    assert "core.audit_checkpoint" in periodic_jobs()
    path = tmp_path / "cp.jsonl"
    app = make_test_app(database_url, tmp_path_factory,
                        extra={"audit_checkpoint_file": str(path)})
    app.extensions["yaocai.db"].bind_override = db
    try:
        recs = _records(session, 2)
        spec = registered_jobs()["core.audit_checkpoint"]
        results = []
        for _ in range(2):  # a second tick changes nothing
            with app.app_context():
                row = enqueue(session, "core.audit_checkpoint")
                session.flush()
                run_job(app, spec, row.id)
            session.expire_all()
            job = session.get(Job, row.id)
            assert job.status == JobStatus.succeeded
            results.append(job.result)
        assert results[0]["seq"] == recs[-1].seq and results[0]["appended"] is True
        assert results[1]["appended"] is False
        assert audit.read_checkpoints(path)[0][0].seq == recs[-1].seq
        assert path.read_text().count("\n") == 1
    finally:
        app.extensions["yaocai.db"].bind_override = None
        app.extensions["yaocai.db"].dispose()
