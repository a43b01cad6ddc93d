"""The state-machine helper, exercised on the organisation workflow and a synthetic one."""
from __future__ import annotations

import enum

import pytest
from sqlmodel import select

from core import services
from core.auth import actor_for_user
from core.errors import Conflict, Forbidden
from core.events import status_changed
from core.models import AuditLog, Organisation, OrgKind, OrgStatus
from core.states import IllegalTransition, Move, StaleVersion, Workflow
from tests.support import csrf_token, login, make_org, make_user


class Light(str, enum.Enum):
    red = "red"
    green = "green"
    amber = "amber"


def test_workflow_table_is_checked():
    with pytest.raises(ValueError):
        Workflow("dup", Light, [Move.of("go", Light.red, Light.green),
                                Move.of("go", Light.red, Light.amber)])
    with pytest.raises(TypeError):
        Workflow("wrong", Light, [Move.of("go", OrgStatus.active, Light.green)])


def test_transition_stamps_audits_and_signals(session):
    bureau = make_org(session, OrgKind.bureau, region="330000")
    admin = make_user(session, bureau, "org_admin")
    target = make_org(session, OrgKind.enterprise)
    actor = actor_for_user(session, admin)
    seen = []

    def receiver(sender, **kw):
        seen.append((sender, kw["action"], kw["source"], kw["target"], kw["obj"].id))

    status_changed.connect(receiver)
    try:
        org = services.set_organisation_status(session, actor, target.id, "suspend",
                                               expected_version=target.version,
                                               reason="credit rating")
    finally:
        status_changed.disconnect(receiver)
    assert org.status == OrgStatus.suspended
    assert org.status_changed_by == admin.id and org.status_changed_at is not None
    assert seen == [("organisation", "suspend", OrgStatus.active, OrgStatus.suspended, org.id)]
    rec = session.exec(select(AuditLog).where(AuditLog.action == "organisation.suspend")
                       .order_by(AuditLog.seq.desc())).first()
    assert rec.before == {"status": "active"}
    assert rec.after == {"status": "suspended", "reason": "credit rating"}


def test_illegal_move_is_409_and_changes_nothing(session):
    bureau = make_org(session, OrgKind.bureau, region="330000")
    actor = actor_for_user(session, make_user(session, bureau, "org_admin"))
    target = make_org(session, OrgKind.enterprise)
    with pytest.raises(IllegalTransition) as exc:
        services.set_organisation_status(session, actor, target.id, "activate")
    assert exc.value.status == 409
    assert exc.value.extra["current_status"] == "active"
    assert session.get(Organisation, target.id).status == OrgStatus.active


def test_stale_version_is_409(session):
    bureau = make_org(session, OrgKind.bureau, region="330000")
    actor = actor_for_user(session, make_user(session, bureau, "org_admin"))
    target = make_org(session, OrgKind.enterprise)
    with pytest.raises(StaleVersion):
        services.set_organisation_status(session, actor, target.id, "suspend",
                                         expected_version=target.version - 1)


def test_permission_on_move(session):
    bureau = make_org(session, OrgKind.bureau, region="330000")
    viewer = actor_for_user(session, make_user(session, bureau, "viewer"))
    target = make_org(session, OrgKind.enterprise)
    with pytest.raises(Forbidden):
        services.set_organisation_status(session, viewer, target.id, "suspend")


def test_allowed_actions():
    wf = Workflow("light", Light, [Move.of("go", Light.red, Light.green),
                                   Move.of("stop", [Light.green, Light.amber], Light.red)])

    class Obj:
        status = Light.amber

    assert wf.allowed_actions(Obj()) == ["stop"]


def test_illegal_transition_over_http_is_409_page_and_problem(client, session):
    bureau = make_org(session, OrgKind.bureau, region="330000")
    admin = make_user(session, bureau, "org_admin")
    target = make_org(session, OrgKind.enterprise)
    login(client, admin.username)
    resp = client.post(f"/admin/organisations/{target.id}/activate",
                       data={"csrf_token": csrf_token(client)})
    assert resp.status_code == 409
    assert "text/html" in resp.content_type
    # Stale version from a form: 409 too.
    resp = client.post(f"/admin/organisations/{target.id}/suspend",
                       data={"csrf_token": csrf_token(client), "version": target.version + 5})
    assert resp.status_code == 409
    ok = client.post(f"/admin/organisations/{target.id}/suspend",
                     data={"csrf_token": csrf_token(client), "version": target.version})
    assert ok.status_code == 302


def test_concurrent_update_from_stale_copy_is_conflict(app, session):
    """Optimistic locking: a flush from a stale in-memory copy raises, mapped to 409."""
    from sqlalchemy.orm.exc import StaleDataError
    org = make_org(session, OrgKind.enterprise)
    other = app.extensions["yaocai.db"].new_session()
    try:
        copy = other.get(Organisation, org.id)
        org.name = "first writer"
        session.flush()
        copy.name = "second writer"
        with pytest.raises(StaleDataError):
            other.flush()
    finally:
        other.rollback()
        other.close()
    assert issubclass(StaleVersion, Conflict)


def test_transition_all_moves_in_bulk_with_one_audit_record_per_chunk(session):
    bureau = make_org(session, OrgKind.bureau, region="330000")
    actor = actor_for_user(session, make_user(session, bureau, "org_admin"))
    orgs = [make_org(session, OrgKind.enterprise, region="330106") for _ in range(5)]
    already = orgs[4]
    services.ORG_WORKFLOW.transition(session, already, "suspend", actor)
    versions = {o.id: o.version for o in orgs}
    seen = []

    def receiver(sender, **kw):
        seen.append((sender, kw["action"], kw["ids"]))

    ids = [o.id for o in orgs]
    status_changed.connect(receiver)
    try:
        moved = services.ORG_WORKFLOW.transition_all(
            session, Organisation, [Organisation.id.in_(ids)], "suspend", actor,
            details={"reason": "bulk"}, chunk=3)
    finally:
        status_changed.disconnect(receiver)
    assert moved == sorted(ids[:4])  # the suspended one is left alone
    for o in orgs:
        row = session.get(Organisation, o.id)
        assert row.status == OrgStatus.suspended
        assert row.version == versions[o.id] + (0 if o is already else 1)
        if o is not already:
            assert row.status_changed_by == actor.user_id
    records = session.exec(select(AuditLog).where(AuditLog.action == "organisation.suspend",
                                                  AuditLog.object_id.is_(None))
                           .order_by(AuditLog.seq)).all()
    assert [r.after["ids"] for r in records] == [sorted(ids[:4])[:3], sorted(ids[:4])[3:]]
    assert {r.after["reason"] for r in records} == {"bulk"}
    assert seen == [("organisation", "suspend", sorted(ids[:4]))]
    # Nothing left to move; an unknown action and a caller without the permission are refused.
    assert services.ORG_WORKFLOW.transition_all(
        session, Organisation, [Organisation.id.in_(ids)], "suspend", actor) == []
    with pytest.raises(IllegalTransition):
        services.ORG_WORKFLOW.transition_all(session, Organisation, [], "explode", actor)
    viewer = actor_for_user(session, make_user(session, bureau, "viewer"))
    with pytest.raises(Forbidden):
        services.ORG_WORKFLOW.transition_all(
            session, Organisation, [Organisation.id.in_(ids)], "activate", viewer)
