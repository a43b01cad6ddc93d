"""Translations: the zh_CN catalog covers every UI string, and the locale follows the cookie.

The completeness test extracts the messages the way ``make translations-extract`` does (same
mapping, ``babel.cfg``, and keywords) into a temporary .pot and fails, listing them, on every
msgid that ``translations/zh_CN`` lacks, leaves empty or marks fuzzy. Fix a failure with
``make translations-update``, then translate and ``pybabel compile -d translations``.
"""
from __future__ import annotations

import enum
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from core.app import INSTALLED_MODULES
from core.extensions import LANGUAGES

ROOT = Path(__file__).resolve().parents[2]
ZH_PO = ROOT / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po"
MODULE_DIRS = ("core", *INSTALLED_MODULES)
KEYWORDS = {**DEFAULT_KEYWORDS, "_": None, "gettext": None, "ngettext": (1, 2),
            "lazy_gettext": None, "_l": None, "N_": None}
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[sdif%]")


def _key(message_id: str | tuple[str, ...]) -> str:
    return message_id[0] if isinstance(message_id, (tuple, list)) else message_id


def extract_template(tmp_path: Path) -> Catalog:
    """Extract every message of the code and templates into a .pot file and read it back."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, filename=str(ROOT / "babel.cfg"))
    template = Catalog()
    for module in MODULE_DIRS:
        for filename, lineno, message, comments, context in extract_from_dir(
                ROOT / module, method_map, options_map, keywords=KEYWORDS):
            template.add(message, None, [(f"{module}/{filename}", lineno)],
                         auto_comments=comments, context=context)
    pot = tmp_path / "messages.pot"
    with open(pot, "wb") as f:
        write_po(f, template, sort_output=True)
    with open(pot, "rb") as f:
        return read_po(f)


def read_zh() -> Catalog:
    with open(ZH_PO, "rb") as f:
        return read_po(f, locale="zh_CN")


def _translated(message: Message | None) -> bool:
    if message is None or message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, (tuple, list)) else [message.string]
    return bool(strings) and all(s and s.strip() for s in strings)


def test_zh_cn_catalog_translates_every_extracted_message(tmp_path):
    template = extract_template(tmp_path)
    assert len(template) > 50, "extraction found almost nothing: is babel.cfg still right?"
    zh = read_zh()
    problems = []
    for message in template:
        if not message.id:
            continue
        found = zh.get(message.id, context=message.context)
        where = ", ".join(f"{f}:{n}" for f, n in message.locations[:3])
        if found is None:
            problems.append(f"missing: {_key(message.id)!r} ({where})")
        elif found.fuzzy:
            problems.append(f"fuzzy:   {_key(message.id)!r} ({where})")
        elif not _translated(found):
            problems.append(f"empty:   {_key(message.id)!r} ({where})")
    assert not problems, (
        f"{len(problems)} message(s) not translated in {ZH_PO.relative_to(ROOT)} "
        "(run `make translations-update`, translate, then `pybabel compile -d translations`):\n"
        + "\n".join(problems))


def test_zh_cn_translations_keep_their_placeholders():
    bad = []
    for message in read_zh():
        if not message.id or not _translated(message):
            continue
        ids = message.id if isinstance(message.id, (tuple, list)) else [message.id]
        strings = message.string if isinstance(message.string, (tuple, list)) \
            else [message.string]
        wanted = sorted(set(PLACEHOLDER.findall(ids[-1])))
        for s in strings:
            if sorted(set(PLACEHOLDER.findall(s))) != wanted:
                bad.append(f"{_key(message.id)!r} -> {s!r}")
    assert not bad, "placeholders differ from the msgid:\n" + "\n".join(bad)


def test_dynamic_terms_are_in_the_catalog(app):
    """Values translated at render time (``_(x.value)``, ``_(item.label)``, ``_(error.title)``)
    must be marked with ``N_`` in ``core/i18n.py``; extraction cannot see them otherwise."""
    from core.errors import DomainError
    from core.models import JobStatus, OrgKind, OrgStatus
    from core.nav import items_for
    from core.permissions import Actor, declared_permissions, role_labels

    def subclasses(cls: type) -> list[type]:
        out = []
        for sub in cls.__subclasses__():
            out += [sub, *subclasses(sub)]
        return out

    terms: dict[str, str] = {}
    for enum_cls in (OrgKind, OrgStatus, JobStatus):
        member: enum.Enum
        for member in enum_cls:
            terms[member.value] = f"{enum_cls.__name__}.{member.name}"
    for role, label in role_labels().items():
        terms[label] = f"role {role}"
    for name, description in declared_permissions().items():
        terms[description] = f"permission {name}"
    everyone = Actor.system_actor()
    for section in ("main", "admin"):
        for item in items_for(everyone, section):
            terms[item.label] = f"nav item {item.key}"
    for cls in [DomainError, *subclasses(DomainError)]:
        terms[cls.title] = f"title of {cls.__module__}.{cls.__name__}"

    zh = read_zh()
    missing = sorted(f"{msgid!r} ({what})" for msgid, what in terms.items()
                     if not _translated(zh.get(msgid)))
    assert not missing, ("add these to core/i18n.py TERMS with N_() and translate them:\n"
                         + "\n".join(missing))


# --- locale selection ------------------------------------------------------------------------

def test_login_page_is_chinese_by_default(client):
    resp = client.get("/login")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'lang="zh-CN"' in html
    assert "登录" in html
    assert "Log in" not in html


def test_login_page_is_english_with_the_lang_cookie(client):
    client.set_cookie("lang", "en")
    resp = client.get("/login")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'lang="en"' in html
    assert "Log in" in html
    assert "登录" not in html


def test_unknown_lang_cookie_falls_back_to_chinese(client):
    client.set_cookie("lang", "fr")
    html = client.get("/login").get_data(as_text=True)
    assert 'lang="zh-CN"' in html and "登录" in html


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_language_switch_sets_the_cookie_and_redirects(client, code):
    resp = client.get(f"/lang/{code}?next=/login")
    assert resp.status_code == 302
    assert urlsplit(resp.headers["Location"]).path == "/login"
    cookie = client.get_cookie("lang")
    assert cookie is not None and cookie.value == code
    follow = client.get("/login").get_data(as_text=True)
    assert ('lang="zh-CN"' if code == "zh_CN" else 'lang="en"') in follow


def test_language_switch_then_english_page(client):
    client.get("/lang/en?next=/login")
    html = client.get("/login").get_data(as_text=True)
    assert "Log in" in html


def test_language_switch_rejects_unknown_languages_and_foreign_next(client):
    assert client.get("/lang/fr?next=/login").status_code == 404
    resp = client.get("/lang/en?next=//evil.example/x")
    assert resp.status_code == 302
    assert not urlsplit(resp.headers["Location"]).netloc.endswith("evil.example")
