"""Organisation and user administration through the services and the pages."""
from __future__ import annotations

import pytest
from sqlmodel import func, select

from core import services
from core.auth import actor_for_user
from core.errors import Forbidden, Invalid
from core.models import Organisation, OrgKind, User
from tests.support import csrf_token, login, make_org, make_user


@pytest.fixture
def bureau_admin(session):
    bureau = make_org(session, OrgKind.bureau, region="330000")
    return make_user(session, bureau, "org_admin")


def test_create_org_validates_code_per_kind_and_writes_nothing_on_error(session, bureau_admin):
    actor = actor_for_user(session, bureau_admin)
    before = session.exec(select(func.count()).select_from(Organisation)).one()
    with pytest.raises(Invalid) as exc:
        services.create_organisation(session, actor, services.OrgIn(
            kind=OrgKind.enterprise, name="坏代码药业", code="91350100M000100Y44",
            region_code="350100"))
    assert [e.field for e in exc.value.errors] == ["code"]
    with pytest.raises(Invalid) as exc:
        services.create_organisation(session, actor, services.OrgIn(
            kind=OrgKind.hospital, name="某医院", code="H33010200001", region_code="330106"))
    assert [e.field for e in exc.value.errors] == ["region_code"]
    assert session.exec(select(func.count()).select_from(Organisation)).one() == before
    org = services.create_organisation(session, actor, services.OrgIn(
        kind=OrgKind.hospital, name="杭州市上城区测试医院", code="h33010200001",
        region_code="330102"))
    assert org.code == "H33010200001"
    with pytest.raises(Invalid) as exc:
        services.create_organisation(session, actor, services.OrgIn(
            kind=OrgKind.hospital, name="重复", code="H33010200001", region_code="330102"))
    assert exc.value.errors[0].field == "code"


def test_org_admin_manages_only_own_users(session):
    org = make_org(session, OrgKind.enterprise)
    admin = actor_for_user(session, make_user(session, org, "org_admin"))
    user = services.create_user(session, admin, org.id, services.UserIn(
        username="new.operator", display_name="新经办", roles=["operator"],
        password="Strong-pass-2026"))
    assert user.org_id == org.id
    other = make_org(session, OrgKind.enterprise)
    from core.errors import NotFound
    with pytest.raises(NotFound):
        services.create_user(session, admin, other.id, services.UserIn(
            username="intruder", display_name="x", roles=["operator"],
            password="Strong-pass-2026"))
    with pytest.raises(Invalid) as exc:
        services.create_user(session, admin, org.id, services.UserIn(
            username="x.y", display_name="x", roles=["fund_officer_not_a_role"],
            password="Strong-pass-2026"))
    assert exc.value.errors[0].field == "roles"
    with pytest.raises(Invalid) as exc:
        services.create_user(session, admin, org.id, services.UserIn(
            username="weak.pw", display_name="x", roles=["viewer"], password="password"))
    assert exc.value.errors[0].field == "password"


def test_operator_cannot_manage_users(session):
    org = make_org(session, OrgKind.enterprise)
    op = actor_for_user(session, make_user(session, org, "operator"))
    with pytest.raises(Forbidden):
        services.create_user(session, op, org.id, services.UserIn(
            username="abc", display_name="x", roles=["viewer"], password="Strong-pass-2026"))


def test_bureau_admin_creates_org_and_user_through_pages(client, session, bureau_admin):
    login(client, bureau_admin.username)
    bad = client.post("/admin/organisations/new", data={
        "csrf_token": csrf_token(client), "kind": "enterprise", "name": "测试药业有限公司",
        "code": "91350100M000100Y40", "region_code": "350100"})
    assert bad.status_code == 422
    assert "code" in bad.get_data(as_text=True)
    ok = client.post("/admin/organisations/new", data={
        "csrf_token": csrf_token(client), "kind": "enterprise", "name": "测试药业有限公司",
        "code": "91350100M000100Y43", "region_code": "350100"})
    assert ok.status_code == 302
    org = session.exec(select(Organisation).where(Organisation.code == "91350100M000100Y43")
                       ).one()
    resp = client.post(f"/admin/organisations/{org.id}/users/new", data={
        "csrf_token": csrf_token(client), "username": "ceshi.admin", "display_name": "测试管理员",
        "roles": ["org_admin", "operator"], "password": "Strong-pass-2026"})
    assert resp.status_code == 302
    user = session.exec(select(User).where(User.username == "ceshi.admin")).one()
    assert user.org_id == org.id


def test_every_admin_page_renders_for_the_bureau_admin(client, session, bureau_admin):
    org = make_org(session, OrgKind.hospital, region="330106")
    user = make_user(session, org, "operator")
    login(client, bureau_admin.username)
    for path in ("/home", "/admin/organisations", "/admin/organisations?kind=hospital&q=x",
                 f"/admin/organisations/{org.id}", f"/admin/organisations/{org.id}/edit",
                 "/admin/organisations/new", "/admin/users", f"/admin/users/{user.id}",
                 f"/admin/organisations/{org.id}/users/new", "/admin/tokens", "/admin/jobs",
                 "/admin/audit", "/account", "/listing/", "/procurement/", "/direct_pay/",
                 "/supply_finance/", "/governance/", "/api/docs"):
        resp = client.get(path)
        assert resp.status_code in (200, 302), (path, resp.status_code)


@pytest.mark.parametrize("kind,region", [("hospital", "330102"), ("enterprise", "330106"),
                                         ("bank", "330106")])
def test_home_page_per_kind(client, session, kind, region):
    org = make_org(session, OrgKind(kind), region=region)
    user = make_user(session, org, "org_admin")
    login(client, user.username)
    resp = client.get("/home")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert org.name in html
    assert 'class="notice"' in html
    # Governance is the bureau's: not in anyone else's navigation.
    assert "/governance/" not in html
