"""The login journey in a real browser: every kind of organisation logs in through the form,
lands on its own home page, and logs out; a wrong password is refused on the login page.

Runs Debian's chromium headless through Playwright against the app served over HTTP from a
demo-loaded database (see ``conftest.py``). Screenshots go to ``tests/e2e/artifacts/``.
"""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import HAVE_CHROMIUM, SKIP_REASON

if not HAVE_CHROMIUM:
    pytest.skip(SKIP_REASON, allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Page, expect  # noqa: E402

from core.demo import DEMO_PASSWORD  # noqa: E402

pytestmark = pytest.mark.e2e

#: (organisation kind, demo username): the main login of each kind.
KINDS = [
    ("bureau", "admin"),
    ("hospital", "hospital"),
    ("enterprise", "pharma"),
    ("bank", "bank"),
]

LOGIN_SUBMIT = "form.login-card button[type=submit]"
LOGOUT_BUTTON = "header.topbar form[action$='/logout'] button[type=submit]"


def _fill_login(page: Page, username: str, password: str) -> None:
    form = page.locator("form.login-card")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)


def _log_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    _fill_login(page, username, password)
    page.locator(LOGIN_SUBMIT).click()
    expect(page).to_have_url(re.compile(r"/home$"))


def test_login_page_is_chinese_by_default(new_page, artifacts) -> None:
    page = new_page()
    response = page.goto("/")  # anonymous: redirected to the login page
    assert response is not None and response.ok
    expect(page).to_have_url(re.compile(r"/login$"))

    # No language cookie: the platform speaks Chinese (needs the compiled zh_CN catalog).
    expect(page).to_have_title(re.compile("登录"))
    expect(page.locator("form.login-card h2")).to_have_text("登录")
    expect(page.locator(LOGIN_SUBMIT)).to_have_text("登录")
    expect(page.locator("form.login-card input[name=username]")).to_be_visible()
    expect(page.locator("form.login-card input[name=password]")).to_have_attribute(
        "type", "password")
    expect(page.locator("nav.lang a")).to_have_text(["中文", "English"])
    # Nobody is logged in: no user in the header, no navigation.
    expect(page.locator("header .who")).to_have_count(0)
    expect(page.locator("nav.sidenav")).to_have_count(0)
    page.screenshot(path=str(artifacts / "login.png"), full_page=True)


def test_pages_declare_the_chinese_locale(new_page) -> None:
    """``<html lang>`` names the language actually served (screen readers, and the browser's
    choice of Simplified-Chinese glyphs), and the language switch marks it active."""
    page = new_page()
    page.goto("/login")
    expect(page.locator("form.login-card h2")).to_have_text("登录")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("nav.lang a.active")).to_have_text("中文")


@pytest.mark.parametrize(("kind", "username"), KINDS, ids=[k for k, _ in KINDS])
def test_each_kind_of_user_reaches_its_home(new_page, live_server, artifacts, kind: str,
                                            username: str) -> None:
    account = live_server.account(username)
    assert account.org_kind == kind

    page = new_page()
    _log_in(page, username)

    # The heading greets the user by the display name from the database.
    expect(page.locator("main h1")).to_contain_text(account.display_name)
    expect(page.locator("main h1")).to_have_text(
        live_server.translate("Welcome, %(name)s", name=account.display_name))
    expect(page.locator(".page-head")).to_contain_text(account.org_name)
    # The header names the organisation (and its kind) and the user.
    who = page.locator("header.topbar .who")
    expect(who.locator(".org-name")).to_have_text(account.header_org_name)
    expect(who.locator(".user-name")).to_have_text(account.display_name)
    expect(who.locator(".org-kind")).to_have_class(re.compile(rf"\bkind-{kind}\b"))
    expect(page.locator(LOGOUT_BUTTON)).to_be_visible()
    expect(page.locator("nav.sidenav a.active")).to_have_count(1)

    if kind == "bureau":
        # The bureau sees the organisation statistics of the whole platform.
        stats = page.locator(".stats")
        expect(stats).to_be_visible()
        expect(page.locator(".notice")).to_have_count(0)
        for org_kind in ("hospital", "enterprise", "bank", "bureau"):
            stat = stats.locator(f"a.stat[href*='kind={org_kind}'] .stat-n")
            expect(stat).to_have_text(str(live_server.org_count(org_kind)))
    else:
        expect(page.locator(".notice")).to_be_visible()
        expect(page.locator(".notice")).not_to_be_empty()
        expect(page.locator(".stats")).to_have_count(0)

    page.screenshot(path=str(artifacts / f"home_{kind}.png"), full_page=True)


def test_bureau_home_fits_a_phone(new_page, live_server, artifacts) -> None:
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    _log_in(page, "admin")
    expect(page.locator(".stats")).to_be_visible()
    expect(page.locator("main h1")).to_contain_text(live_server.account("admin").display_name)
    page.screenshot(path=str(artifacts / "home_bureau_mobile.png"), full_page=True)
    # Nothing forces the page wider than the phone (no sideways scrolling).
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 390, f"page is {scroll_width}px wide on a 390px screen"
    # The side navigation folds away behind the menu button.
    sidenav = page.locator("nav.sidenav")
    expect(sidenav).to_be_hidden()
    page.locator("label.nav-toggle-label").click()
    expect(sidenav).to_be_visible()
    expect(sidenav.locator("a.active")).to_be_visible()


def test_wrong_password_stays_on_the_login_page(new_page, live_server) -> None:
    page = new_page()
    page.goto("/login")
    _fill_login(page, "reviewer", DEMO_PASSWORD + "-wrong")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/login")) as posted:
        page.locator(LOGIN_SUBMIT).click()
    assert posted.value.status == 401
    expect(page).to_have_url(re.compile(r"/login$"))
    error = page.locator("form.login-card .flash-error[role=alert]")
    expect(error).to_be_visible()
    expect(error).to_have_text(live_server.translate("Wrong username or password."))
    # The username is kept, the password is not; still nobody is logged in.
    expect(page.locator("input[name=username]")).to_have_value("reviewer")
    expect(page.locator("input[name=password]")).to_have_value("")
    expect(page.locator("header .who")).to_have_count(0)
    page.goto("/home")
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))


def test_log_out_from_the_header(new_page) -> None:
    page = new_page()
    _log_in(page, "hospital")
    page.locator(LOGOUT_BUTTON).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".flashes .flash[role=status]")).to_be_visible()
    expect(page.locator("form.login-card")).to_be_visible()
    expect(page.locator("header .who")).to_have_count(0)
    # The session is gone: the home page sends us back to the login form.
    page.goto("/home")
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))
    expect(page.locator("form.login-card")).to_be_visible()
