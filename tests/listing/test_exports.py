"""Listing lists as .xlsx downloads (?format=xlsx): the public search, a company's
applications, the review queue, the catalogue, and the audit log; Chinese headers and
statuses, and a company's download holds only its own rows."""
from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest

from core.models import User
from listing.models import ApplicationStatus
from tests.listing.factories import (
    actor,
    company,
    draft,
    drive,
    evidence,
    freeze,
    list_product,
    product,
    world,
)
from tests.support import login


@pytest.fixture
def clock(monkeypatch):
    return freeze(monkeypatch, date(2026, 9, 30))


def sheet(resp) -> list[tuple]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert "spreadsheetml" in resp.headers["Content-Type"]
    ws = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    assert ws.freeze_panes == "A2"
    return list(ws.iter_rows(values_only=True))


def as_(client, session, who) -> None:
    login(client, session.get(User, who.user_id).username)


def test_applications_review_queue_search_and_catalogue(client, session, clock):
    w = world(session)
    mine = draft(session, w.op, product(session, w.company, generic_name="阿托伐他汀钙片"))
    listed = list_product(session, w, product(session, w.company, generic_name="氨氯地平片"),
                          "5.00", lines=[evidence("6.00")])
    other_co = company(session)
    other_op = actor(session, other_co, "operator")
    theirs = draft(session, other_op, product(session, other_co, generic_name="二甲双胍片"))
    drive(session, theirs, ApplicationStatus.submitted, other_op, w.reviewer)

    as_(client, session, w.op)
    page = client.get("/listing/applications?status=draft&page=1").get_data(as_text=True)
    assert 'data-export="xlsx" href="/listing/applications?status=draft&amp;format=xlsx"' in page
    rows = sheet(client.get("/listing/applications?format=xlsx"))
    assert rows[0][:3] == ("编号", "类型", "通用名")
    numbers = {r[0] for r in rows[1:]}
    assert mine.number in numbers and theirs.number not in numbers
    status = rows[0].index("状态")
    assert {r[status] for r in rows[1:]} <= {"草稿", "已挂网"}
    # The page's filters apply to the download too.
    rows = sheet(client.get("/listing/applications?format=xlsx&status=draft"))
    assert {r[0] for r in rows[1:]} == {mine.number}

    as_(client, session, w.reviewer)
    queue = sheet(client.get("/listing/review?format=xlsx"))
    assert [r[0] for r in queue[1:]] == [theirs.number]
    assert queue[1][queue[0].index("状态")] == "已提交"

    # The public search, logged out.
    client.post("/logout")
    client.delete_cookie("session")
    found = sheet(client.get("/listing/search?format=xlsx&q=氨氯地平"))
    assert found[0][0] == "通用名" and [r[0] for r in found[1:]] == ["氨氯地平片"]
    price = found[0].index("挂网价")
    assert found[1][price] == float(listed.price)

    as_(client, session, w.reviewer)
    catalogue = sheet(client.get("/listing/catalogue?format=xlsx&q=二甲双胍"))
    assert catalogue[0][0] == "医保代码" and [r[2] for r in catalogue[1:]] == ["二甲双胍片"]


def test_audit_log_download(client, session, clock):
    w = world(session)
    draft(session, w.op, product(session, w.company))
    as_(client, session, w.admin)
    rows = sheet(client.get("/admin/audit?format=xlsx"))
    assert rows[0][1:4] == ("时间", "操作人", "操作")
    assert len(rows) > 1
