"""Fixtures of the browser tests: the app served over real HTTP from a demo-loaded scratch
database, and Debian's chromium driven by Playwright (sync API).

The database is separate from the one the rest of the suite rolls back test by test: a SQLite
file by default, ``<test database>_e2e`` on PostgreSQL when TEST_DATABASE_URL is set. The demo
data is loaded exactly as ``flask demo load`` does (kernel loader, then every module loader
in ``core.cli.DEMO_LOADERS``) in one committed unit of work.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots land here (git-ignored); created at run time.
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

SKIP_REASON = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)


@dataclass(frozen=True)
class DemoAccount:
    """What the database says about one demo login: shown in the header and the heading."""

    username: str
    display_name: str
    org_kind: str
    org_name: str
    org_short_name: str

    @property
    def header_org_name(self) -> str:
        # base.html shows ``current_org.short_name or current_org.name``.
        return self.org_short_name or self.org_name


@dataclass
class LiveServer:
    base_url: str
    app: Any

    def url(self, path: str) -> str:
        return self.base_url + path

    def account(self, username: str) -> DemoAccount:
        from sqlmodel import select

        from core.models import Organisation, User

        with self.app.app_context(), self.app.extensions["yaocai.db"].unit_of_work() as s:
            user = s.exec(select(User).where(User.username == username)).one()
            org = s.get(Organisation, user.org_id)
            assert org is not None
            return DemoAccount(username=username, display_name=user.display_name,
                               org_kind=org.kind.value, org_name=org.name,
                               org_short_name=org.short_name or "")

    def translate(self, msgid: str, **params: Any) -> str:
        """``msgid`` as the app renders it in the default locale (zh_CN)."""
        from flask_babel import force_locale, gettext

        with self.app.test_request_context("/"), force_locale("zh_CN"):
            return gettext(msgid, **params)

    def org_count(self, kind: str) -> int:
        import sqlalchemy as sa

        from core.models import Organisation, OrgKind

        with self.app.app_context(), self.app.extensions["yaocai.db"].unit_of_work() as s:
            return s.execute(sa.select(sa.func.count()).select_from(Organisation)
                             .where(Organisation.kind == OrgKind(kind))).scalar_one()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """The app, migrated and loaded with the demo data, on a free port of 127.0.0.1."""
    if not HAVE_CHROMIUM:
        pytest.skip(SKIP_REASON)
    from werkzeug.serving import make_server

    from core.cli import DEMO_LOADERS
    from core.demo import load_core_demo
    from core.migrate import upgrade
    from tests.conftest import make_test_app
    from tests.support import drop_scratch_database, scratch_database

    url = scratch_database(str(tmp_path_factory.mktemp("e2e-db")), "e2e")
    upgrade(url)
    app = make_test_app(url, tmp_path_factory)  # YAOCAI_ENV=testing: no background services
    db = app.extensions["yaocai.db"]
    try:
        with app.app_context(), db.unit_of_work() as s:
            load_core_demo(s)
            for _name, loader in DEMO_LOADERS:
                loader(s)

        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="e2e-http", daemon=True)
        thread.start()
        try:
            yield LiveServer(base_url=f"http://127.0.0.1:{server.server_port}", app=app)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
    finally:
        db.dispose()
        drop_scratch_database(url)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless chromium for the run; every test opens its own context (fresh cookies)."""
    if not HAVE_CHROMIUM:
        pytest.skip(SKIP_REASON)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def new_page(browser, live_server):
    """``new_page(**context_options)``: a page in a fresh browser context (closed after)."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("base_url", live_server.base_url)
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def confirm_action(page: Any, action: str, *, reason: str | None = None,
                   scope: str = "") -> None:
    """Press an irreversible action's button (``data-action``), and confirm it in the dialog
    it opens (core/static/js/confirm.js), giving ``reason`` where the dialog asks for one."""
    page.locator(f"{scope} button[data-action={action}]".strip()).click()
    dialog = page.locator("dialog.confirm-dialog[open]")
    dialog.wait_for(state="visible")
    if reason is not None:
        dialog.locator("textarea[name=reason]").fill(reason)
    dialog.locator(f"button[data-confirm-submit={action}]").click()


def log_in(page: Any, username: str) -> None:
    """Log in through the login form with the demo password; lands on /home."""
    import re

    from playwright.sync_api import expect

    from core.demo import DEMO_PASSWORD

    page.goto("/login")
    form = page.locator("form.login-card")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/home$"))
