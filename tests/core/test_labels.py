"""Internal names in words (``core.labels``): every workflow, status, action, audited action
and object kind has a Chinese label (and an English one where the msgid is an identifier), so
no page shows ``listing_application``, ``under_review`` or ``auth.login``."""
from __future__ import annotations

import ast
import enum
import importlib
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from babel.messages.pofile import read_po
from sqlmodel import SQLModel

from core import labels
from core.app import INSTALLED_MODULES
from core.states import Workflow

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("core", *INSTALLED_MODULES)
IDENTIFIER = re.compile(r"^[a-z0-9]+([._:][a-z0-9]+)+$")


def _catalog(lang: str):
    with open(ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=lang)


def _workflows() -> list[Workflow]:
    found: dict[str, Workflow] = {}
    for module in MODULES:
        for path in sorted((ROOT / module).glob("services*.py")):
            mod = importlib.import_module(f"{module}.{path.stem}")
            for value in vars(mod).values():
                if isinstance(value, Workflow):
                    found[value.name] = value
    return list(found.values())


def _audit_calls() -> list[tuple[str, int, str | None, str | None]]:
    """(file, line, action, object type) of every ``audit.record`` call with literal texts."""
    out = []
    for module in MODULES:
        for path in (ROOT / module).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "record"
                        and getattr(node.func.value, "id", None) == "audit"):
                    texts = []
                    for arg in node.args[2:4]:
                        if isinstance(arg, ast.Constant):
                            texts.append(arg.value)
                        elif isinstance(arg, ast.IfExp):  # "user.disable" if … else "user.enable"
                            texts.append(arg.body.value)
                            out.append((str(path), node.lineno, arg.orelse.value, None))
                        else:
                            texts.append(None)
                    out.append((str(path), node.lineno, *texts))
    return out


def _unlabelled() -> list[str]:
    """Workflows, audited object kinds and tables that ``core.labels`` does not name."""
    out = [f"workflow {flow.name}" for flow in _workflows() if flow.name not in labels.kinds()]
    out += [f"{object_type} ({Path(path).relative_to(ROOT)}:{line})"
            for path, line, _action, object_type in _audit_calls()
            if object_type is not None and object_type not in labels.kinds()]
    out += [f"table {table}" for table in SQLModel.metadata.tables
            if table not in labels.kinds()]
    return out


def test_every_workflow_audited_kind_and_table_has_a_label(app):
    missing = _unlabelled()
    assert not missing, "register a core.labels.ObjectKind for:\n" + "\n".join(missing)


def _needed(app) -> dict[str, str]:
    """Every msgid a page shows for an internal name, with where it comes from."""
    need: dict[str, str] = {}
    for flow in _workflows():
        need[labels.kind_label(flow.name)] = f"workflow {flow.name}"
        for status in flow.status_enum:
            need[labels.status_label(flow.name, status)] = f"status of {flow.name}"
        for action in flow.actions:
            need[labels.action_label(action)] = f"action of {flow.name}"
            need[f"{flow.name}.{action}"] = f"audit action of {flow.name}"
    for path, line, action, _object_type in _audit_calls():
        where = f"{Path(path).relative_to(ROOT)}:{line}"
        if action is not None:
            need[action] = f"audit action ({where})"
    for kind in labels.kinds().values():
        need[kind.label] = f"kind {kind.key}"
    for name, msgid in labels.SYSTEM_ACTORS.items():
        need[msgid] = f"system actor {name}"
    return need


def test_every_internal_name_has_a_chinese_label(app):
    zh = _catalog("zh_CN")
    missing = sorted(f"{msgid!r} ({why})" for msgid, why in _needed(app).items()
                     if not (zh.get(msgid) and zh.get(msgid).string))
    assert not missing, "translate in zh_CN:\n" + "\n".join(missing)


def test_identifier_msgids_have_an_english_label(app):
    en = _catalog("en")
    missing = sorted(f"{msgid!r} ({why})" for msgid, why in _needed(app).items()
                     if IDENTIFIER.match(msgid) and not (en.get(msgid) and en.get(msgid).string))
    assert not missing, "give these identifiers English words in translations/en:\n" + \
        "\n".join(missing)


def test_kinds_with_a_page_name_a_real_endpoint(app):
    for kind in labels.kinds().values():
        if kind.endpoint:
            assert kind.endpoint in app.view_functions, kind
        if kind.via:
            assert hasattr(kind.model, kind.via) and kind.arg, kind


def test_status_labels_of_agreements_are_their_own():
    from procurement.models import AgreementStatus
    assert labels.status_label("vbp_agreement", AgreementStatus.proposed) == "agreement:proposed"
    assert labels.status_label("listing_application", "under_review") == "under_review"
    assert isinstance(AgreementStatus.proposed, enum.Enum)


# --- the words on pages and in problem+json ----------------------------------------------------

def _username(session, actor) -> str:
    from core.models import User
    return session.get(User, actor.user_id).username


def _page_text(resp) -> str:
    import html
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True))))


def test_a_refused_move_names_the_status_and_action_in_chinese(client, session):
    from listing.models import ApplicationStatus
    from tests.listing.factories import draft, drive, world
    from tests.support import csrf_token, login

    w = world(session)
    app = drive(session, draft(session, w.op), ApplicationStatus.under_review, w.op, w.reviewer)
    login(client, _username(session, w.reviewer2))
    resp = client.post(f"/listing/applications/{app.id}/actions/start_review",
                       data={"csrf_token": csrf_token(client)}, follow_redirects=True)
    text = _page_text(resp)
    assert "挂网申请当前状态为“审核中”，不能执行“受理审核”" in text
    assert "listing_application" not in text and "under_review" not in text
    assert "start_review" not in text.replace('data-action="start_review"', "")


def test_a_stale_version_names_the_object_in_chinese(client, session):
    from listing.models import ApplicationStatus
    from tests.listing.factories import draft, drive, world
    from tests.support import csrf_token, login

    w = world(session)
    app = drive(session, draft(session, w.op), ApplicationStatus.submitted, w.op, w.reviewer)
    login(client, _username(session, w.reviewer2))
    resp = client.post(f"/listing/applications/{app.id}/actions/start_review",
                       data={"csrf_token": csrf_token(client), "version": app.version + 5},
                       follow_redirects=True)
    assert f"挂网申请 {app.id} 已被他人修改" in _page_text(resp)


def test_problem_detail_is_in_words_and_machine_fields_stay_raw(app, session):
    from core.states import IllegalTransition
    from listing import services
    from listing.models import ApplicationStatus
    from tests.listing.factories import draft, drive, world

    w = world(session)
    a = drive(session, draft(session, w.op), ApplicationStatus.under_review, w.op, w.reviewer)
    try:
        services.start_review(session, w.reviewer, a.id)
    except IllegalTransition as exc:
        error = exc
    else:
        raise AssertionError("start_review from under_review must be refused")
    assert error.detail == "listing_application cannot start_review from under_review"
    with app.test_request_context("/api/v1/listing/applications"):
        body = error.problem()
    assert body["detail"] == "挂网申请当前状态为“审核中”，不能执行“受理审核”"
    assert body["current_status"] == "under_review" and body["action"] == "start_review"
    with app.test_request_context("/api/v1/listing/applications",
                                  headers={"Cookie": "lang=en"}):
        assert error.problem()["detail"] == (
            "This listing application is “under review”: “Start review” is not possible now.")


def test_agreement_statuses_in_messages_are_the_agreements_own(app):
    from core.errors import Conflict
    from core.labels import status_term
    from procurement.models import AgreementStatus

    exc = Conflict("%(name)s is %(status)s",
                   params={"name": "x", "status": status_term("vbp_agreement",
                                                              AgreementStatus.proposed)})
    with app.test_request_context("/"):
        assert exc.message() == "x is 待确认"


def test_not_found_names_the_object_in_chinese(client, session):
    from tests.listing.factories import bureau
    from tests.support import login, make_user

    user = make_user(session, bureau(session), "operator")
    login(client, user.username)
    resp = client.get("/procurement/batches/987654")
    assert resp.status_code == 404
    text = _page_text(resp)
    assert "未找到集采批次 987654" in text and "Batch" not in text
    api = client.get("/api/v1/procurement/batches/987654")
    assert api.status_code == 404 and api.get_json()["detail"] == "未找到集采批次 987654"


def test_upload_errors_are_in_chinese(client, session):
    from tests.listing.factories import TEXT, draft, world
    from tests.support import csrf_token, login

    w = world(session)
    a = draft(session, w.op)
    login(client, _username(session, w.op))
    resp = client.post(f"/listing/applications/{a.id}/attachments",
                       data={"csrf_token": csrf_token(client),
                             "files": (io.BytesIO(TEXT), "price.pdf")},
                       content_type="multipart/form-data", follow_redirects=True)
    text = _page_text(resp)
    assert "只接受 PDF、JPEG 和 PNG 文件。" in text
    assert "Only PDF" not in text


def test_audit_log_shows_actions_and_objects_in_words_with_links(client, session):
    from core import audit
    from core.models import OrgKind
    from listing.models import ApplicationStatus
    from procurement import services as vbp
    from tests.listing.factories import actor, draft, drive, world
    from tests.support import login, make_org, make_user

    w = world(session)
    a = drive(session, draft(session, w.op), ApplicationStatus.under_review, w.op, w.reviewer)
    admin = make_user(session, session.get(type(w.bureau), w.bureau.id), "org_admin")
    day = datetime(2030, 1, 1, tzinfo=UTC)
    batch = vbp.create_batch(session, w.admin, vbp.BatchIn(
        code="ZJ-T-01", name="测试批次", report_deadline=day,
        bid_opens_at=day + timedelta(days=1), bid_closes_at=day + timedelta(days=2)))
    hosp = make_org(session, OrgKind.hospital)
    audit.record(session, actor(session, hosp, "operator"), "vbp_report.save",
                 "vbp_volume_report", None)
    login(client, admin.username)
    page = client.get("/admin/audit").get_data(as_text=True)
    text = _page_text(client.get("/admin/audit"))
    assert "登录" in text and "auth.login" not in text
    assert f'href="/listing/applications/{a.id}"' in page and f"挂网申请 {a.id}" in text
    assert f'href="/procurement/batches/{batch.id}"' in page and f"集采批次 {batch.id}" in text
    assert "新建批次" in text or "创建批次" in text
    assert "vbp_batch" not in text and "listing_application" not in text
    assert "受理审核" in text and "状态 已提交" in text and "状态 审核中" in text
    assert "under_review" not in text
    home = _page_text(client.get("/home"))
    assert "登录" in home and "auth.login" not in home and "user " not in home


def test_regions_are_shown_by_name(client, session):
    from core.models import OrgKind
    from tests.support import login, make_org, make_user

    org = make_org(session, OrgKind.hospital, region="330106")
    login(client, make_user(session, org, "org_admin").username)
    text = _page_text(client.get("/home"))
    assert "地区 西湖区" in text and "地区 330106" not in text


def test_price_check_api_messages_are_filled_in(client, session):
    from tests.listing.factories import draft, world
    from tests.support import login

    w = world(session)
    a = draft(session, w.op)
    login(client, _username(session, w.op))
    body = client.get(f"/api/v1/listing/applications/{a.id}/price-check").get_json()
    messages = [r["message"] for r in body["results"]]
    assert messages and not any("%(" in m for m in messages), messages
    assert any("价格" in m or "价" in m for m in messages), messages


def test_report_upload_errors_name_the_column_in_chinese(client, session):
    from tests.procurement.test_views import Cast, move, new_batch
    from tests.support import csrf_token, login

    c = Cast(session)
    batch = move(c, new_batch(c, products=1), "open_reporting")
    login(client, c.hosp_op.username)
    resp = client.post(f"/procurement/batches/{batch.id}/report/upload",
                       data={"csrf_token": csrf_token(client),
                             "file": (io.BytesIO("品种编号,上年用量\nP01,10\n".encode()),
                                      "reports.csv")},
                       content_type="multipart/form-data")
    text = _page_text(resp)
    assert resp.status_code == 422
    assert "缺少必需的列“需求量”（demand）。" in text
    assert "is missing" not in text
