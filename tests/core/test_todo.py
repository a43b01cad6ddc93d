"""The to-do registry (core.todo): providers asked only for actors holding their permission,
nothing-waiting items dropped, overdue items first; the home page lists them or says calmly
that nothing waits."""
from __future__ import annotations

import pytest

from core import todo
from core.models import OrgKind
from core.permissions import AUDIT_READ, Actor
from core.todo import Todo
from tests.support import login, make_org, make_user


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(todo, "_PROVIDERS", {})
    return todo


def test_providers_run_only_for_their_permission_and_empty_items_go(registry, session):
    asked: list[str] = []

    def provider(s, actor):
        asked.append(actor.name)
        return [Todo("Plain", 2, "core.home"), Todo("Nothing", 0, "core.home"),
                Todo("Late", 1, "core.home", overdue=True)]

    registry.register("t", provider, permission=AUDIT_READ)
    reader = Actor(org_id=1, org_kind=OrgKind.bureau, name="reader",
                   permissions=frozenset({AUDIT_READ}))
    other = Actor(org_id=1, org_kind=OrgKind.bureau, name="other", permissions=frozenset())
    assert [t.label for t in registry.todos_for(session, reader)] == ["Late", "Plain"]
    assert registry.todos_for(session, other) == []
    assert asked == ["reader"]


def test_the_home_page_says_calmly_that_nothing_waits(client, session):
    org = make_org(session, OrgKind.bank)
    login(client, make_user(session, org, "org_admin").username)
    html = client.get("/home").get_data(as_text=True)
    assert "待办事项" in html and "暂无待办事项" in html
