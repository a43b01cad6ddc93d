"""Every route declares a permission; other organisations' objects answer 404."""
from __future__ import annotations

from core.models import OrgKind
from core.permissions import declared_permissions
from core.web import PERMISSION_ATTR
from tests.support import csrf_token, login, make_org, make_user


def test_every_route_declares_a_permission(app):
    missing = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        perm = getattr(view, PERMISSION_ATTR, None)
        if perm is None or perm not in declared_permissions():
            missing.append(f"{rule.rule} -> {rule.endpoint}")
    assert not missing, "routes without a declared permission:\n" + "\n".join(missing)
    # The walk must actually cover the application, not an empty map.
    assert len(list(app.url_map.iter_rules())) > 30


def test_undeclared_route_is_caught(app):
    """The walk above really fails when a route forgets its permission."""
    from flask import Flask
    probe = Flask("probe")

    @probe.route("/naked")
    def naked():
        return "x"

    assert getattr(probe.view_functions["naked"], PERMISSION_ATTR, None) is None


def test_other_org_user_answers_404_not_403(client, session):
    a = make_org(session, OrgKind.enterprise)
    b = make_org(session, OrgKind.enterprise)
    admin_a = make_user(session, a, "org_admin")
    user_b = make_user(session, b, "operator")
    own = make_user(session, a, "viewer")
    login(client, admin_a.username)
    assert client.get(f"/admin/users/{own.id}").status_code == 200
    resp = client.get(f"/admin/users/{user_b.id}")
    assert resp.status_code == 404
    # Same on the API, as problem+json, and the body does not reveal the user.
    api = client.get(f"/api/v1/core/users/{user_b.id}")
    assert api.status_code == 404
    assert api.mimetype == "application/problem+json"
    assert user_b.username not in api.get_data(as_text=True)
    # A nonexistent id looks exactly the same as a foreign one.
    ghost = client.get("/api/v1/core/users/99999999")
    assert ghost.status_code == 404 and ghost.json["title"] == api.json["title"]


def test_other_org_cannot_act_on_foreign_user(client, session):
    a = make_org(session, OrgKind.hospital, region="330106")
    b = make_org(session, OrgKind.hospital, region="330106")
    admin_a = make_user(session, a, "org_admin")
    victim = make_user(session, b, "operator")
    login(client, admin_a.username)
    token = csrf_token(client)
    resp = client.post(f"/admin/users/{victim.id}/disable", data={"csrf_token": token})
    assert resp.status_code == 404
    session.refresh(victim)
    assert victim.disabled is False


def test_bureau_sees_all_organisations_others_only_their_own(client, session):
    bureau = make_org(session, OrgKind.bureau, region="330000")
    hosp = make_org(session, OrgKind.hospital, region="330102")
    bureau_admin = make_user(session, bureau, "org_admin")
    hosp_admin = make_user(session, hosp, "org_admin")
    login(client, bureau_admin.username)
    assert client.get(f"/api/v1/core/organisations/{hosp.id}").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, hosp_admin.username)
    # A hospital admin holds no organisation-read permission: 403 on the list …
    assert client.get("/api/v1/core/organisations").status_code == 403
    # … but its own users are visible and the bureau's are not.
    assert client.get(f"/api/v1/core/users/{hosp_admin.id}").status_code == 200
    assert client.get(f"/api/v1/core/users/{bureau_admin.id}").status_code == 404


def test_missing_permission_is_403_and_anonymous_is_redirected(client, session):
    org = make_org(session, OrgKind.enterprise)
    viewer = make_user(session, org, "viewer")
    resp = client.get("/admin/users")
    assert resp.status_code == 302 and "/login" in resp.location
    assert client.get("/api/v1/core/me").status_code == 401
    login(client, viewer.username)
    assert client.get("/admin/users").status_code == 403
    assert client.get("/home").status_code == 200


# --- least privilege: each bureau job role holds what its job needs ----------------------------

README = __import__("pathlib").Path(__file__).resolve().parents[2] / "README.md"


def test_readme_carries_the_role_permission_table_of_the_code(app):
    from core.permissions import permissions_table
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- permissions-table:start -->\n", "<!-- permissions-table:end -->"
    assert start in text and end in text
    in_readme = text[text.index(start) + len(start):text.index(end)]
    generated = permissions_table()
    assert in_readme == generated, (
        "the README's role table is stale: paste `flask --app wsgi users permissions-table`")
    cli = app.test_cli_runner().invoke(args=["users", "permissions-table"])
    assert cli.exit_code == 0 and cli.output == generated


def test_demo_roles_are_declared_for_their_organisation_kind(session):
    from core.demo import demo_organisations, demo_users
    from core.permissions import roles_granted
    kinds = {o.code: o.kind for o in demo_organisations()}
    for user in demo_users():
        assert set(user.roles) <= set(roles_granted(kinds[user.org_code])), user.username


def _bureau_pages(session):
    """The demo bureau, a draft batch and a catalogue import made by the staff whose job they
    are; the pages only those jobs need."""
    from datetime import UTC, datetime, timedelta

    from sqlmodel import select

    from bench.listing_data import generate_products, products_csv
    from core.auth import actor_for_user
    from core.demo import load_core_demo
    from core.models import User
    from listing import services_catalogue
    from procurement import services as procurement
    from tests.listing.factories import seed_rules

    load_core_demo(session)
    seed_rules(session)
    users = {u.username: u for u in session.exec(select(User).where(
        User.username.in_(["fund", "procurement", "catalogue", "viewer", "reviewer"])))}
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    batch = procurement.create_batch(
        session, actor_for_user(session, users["procurement"]), procurement.BatchIn(
            code="LP-2026-01", name="最小权限测试批次", report_deadline=t0 + timedelta(days=5),
            bid_opens_at=t0 + timedelta(days=10), bid_closes_at=t0 + timedelta(days=20)))
    imported = services_catalogue.import_products(
        session, actor_for_user(session, users["catalogue"]), "目录.csv",
        products_csv(generate_products(2, seed=5)))
    batch_pages = ["/procurement/batches/new", f"/procurement/batches/{batch.id}/edit",
                   f"/procurement/batches/{batch.id}/products/new"]
    import_pages = [f"/listing/imports/{imported.id}",
                    f"/listing/imports/{imported.id}/report.csv",
                    "/listing/imports/template/products.xlsx"]
    return batch_pages, import_pages


def test_fund_officer_cannot_open_batch_or_catalogue_work_their_owners_can(client, session):
    from core.demo import DEMO_PASSWORD
    batch_pages, import_pages = _bureau_pages(session)

    def status(username, pages):
        c = client.application.test_client()
        assert login(c, username, DEMO_PASSWORD).status_code == 302, username
        return {page: c.get(page).status_code for page in pages}

    everything = batch_pages + import_pages
    assert set(status("fund", everything).values()) == {403}
    assert set(status("viewer", everything).values()) == {403}
    assert set(status("reviewer", everything).values()) == {403}
    assert set(status("procurement", batch_pages).values()) == {200}
    assert set(status("procurement", import_pages).values()) == {403}
    assert set(status("catalogue", import_pages).values()) == {200}
    assert set(status("catalogue", batch_pages).values()) == {403}

    # The fund officer still does its job: reads the catalogue, batches and agreements.
    c = client.application.test_client()
    login(c, "fund", DEMO_PASSWORD)
    catalogue = c.get("/listing/catalogue")
    assert catalogue.status_code == 200
    assert "listing/imports" not in catalogue.get_data(as_text=True)  # no import form
    assert c.get("/procurement/").status_code == 200
    assert c.get("/direct_pay/").status_code == 200
