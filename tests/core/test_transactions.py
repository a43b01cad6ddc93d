"""One commit per request: a request that fails after its service flushed keeps nothing."""
from __future__ import annotations

import pytest
from sqlmodel import select

from core import services
from core.errors import Conflict
from core.models import Organisation, OrgKind
from core.permissions import PUBLIC, Actor
from core.web import requires
from tests.conftest import make_test_app


@pytest.fixture
def probe_app(database_url, tmp_path_factory, db):
    app = make_test_app(database_url, tmp_path_factory)

    def _create(name: str) -> Organisation:
        from core.db import get_session
        return services.create_organisation(get_session(), Actor.system_actor("probe"),
                                            services.OrgIn(kind=OrgKind.hospital, name=name,
                                                           code="H33010600777",
                                                           region_code="330106"))

    @app.route("/probe/ok", methods=["POST"])
    @requires(PUBLIC)
    def probe_ok():
        return {"id": _create("提交成功医院").id}

    @app.route("/probe/fail", methods=["POST"])
    @requires(PUBLIC)
    def probe_fail():
        _create("提交失败医院")
        raise Conflict("something clashed after the write")

    from core.extensions import csrf
    csrf.exempt(probe_ok)
    csrf.exempt(probe_fail)
    app.extensions["yaocai.db"].bind_override = db
    yield app
    app.extensions["yaocai.db"].bind_override = None
    app.extensions["yaocai.db"].dispose()


def test_failed_request_rolls_back_its_writes(probe_app, session):
    client = probe_app.test_client()
    resp = client.post("/probe/fail", headers={"Accept": "application/json"})
    assert resp.status_code == 409
    assert session.exec(select(Organisation).where(Organisation.code == "H33010600777")
                        ).first() is None
    ok = client.post("/probe/ok")
    assert ok.status_code == 200
    org = session.exec(select(Organisation).where(Organisation.code == "H33010600777")).one()
    assert org.name == "提交成功医院"


def test_after_commit_callbacks_of_a_rolled_back_savepoint_are_dropped(app):
    from core.db import after_commit
    ran = []
    with app.extensions["yaocai.db"].unit_of_work() as s:
        after_commit(s, lambda: ran.append("outer"))
        try:
            with s.begin_nested():
                after_commit(s, lambda: ran.append("inner"))
                raise RuntimeError("undo the savepoint")
        except RuntimeError:
            pass
        with s.begin_nested():
            after_commit(s, lambda: ran.append("kept"))
        assert ran == []  # nothing runs before the commit
    assert ran == ["outer", "kept"]


def test_after_commit_callbacks_dropped_on_rollback(app):
    from core.db import after_commit
    ran = []
    try:
        with app.extensions["yaocai.db"].unit_of_work() as s:
            after_commit(s, lambda: ran.append("x"))
            raise RuntimeError("fail")
    except RuntimeError:
        pass
    assert ran == []
