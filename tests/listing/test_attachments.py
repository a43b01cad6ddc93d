"""Evidence files (证明材料): the local store, content sniffing, size limit, round trip."""
from __future__ import annotations

import hashlib

import pytest

from core.errors import Conflict, Forbidden, Invalid, NotFound
from listing import services, storage
from listing.models import ApplicationStatus, Attachment
from listing.storage import MAX_BYTES, LocalStore, sniff, store_for
from tests.listing.factories import (
    JPEG,
    PDF,
    PNG,
    TEXT,
    actor,
    audits,
    count,
    draft,
    drive,
    world,
)

S = ApplicationStatus


def _files(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- the store --------------------------------------------------------------------------------

def test_local_store_round_trip_and_opaque_keys(tmp_path):
    store = LocalStore(tmp_path)
    key = store.put(PDF, ".pdf")
    assert key.endswith(".pdf") and len(key) == 32 + 4
    assert store.get(key) == PDF
    (path,) = _files(tmp_path)
    assert path == tmp_path / key[:2] / key  # two-level fan-out, no temporary file left
    other = store.put(PDF, ".pdf")
    assert other != key  # identical content still gets its own key
    store.delete(key)
    assert not path.exists()
    store.delete(key)  # deleting twice is harmless
    with pytest.raises(FileNotFoundError):
        store.get(key)


@pytest.mark.parametrize("key", ["", "../etc/passwd", "a/b.pdf", "a\\b.pdf", ".hidden"])
def test_local_store_refuses_keys_that_escape(tmp_path, key):
    store = LocalStore(tmp_path / "att")
    with pytest.raises(ValueError):
        store.get(key)
    with pytest.raises(ValueError):
        store.delete(key)


def test_store_for_defaults_to_the_instance_folder(tmp_path):
    assert store_for(tmp_path).root == tmp_path / "attachments"
    assert store_for(tmp_path, str(tmp_path / "elsewhere")).root == tmp_path / "elsewhere"


@pytest.mark.parametrize(("data", "content_type", "ext"), [
    (PDF, "application/pdf", ".pdf"),
    (PNG, "image/png", ".png"),
    (JPEG, "image/jpeg", ".jpg"),
])
def test_sniff_accepts_pdf_png_jpeg_by_content(data, content_type, ext):
    assert sniff(data) == (content_type, ext)


@pytest.mark.parametrize("data", [
    b"", TEXT, b"GIF89a" + b"\x00" * 10, b"PK\x03\x04docx", b" %PDF-1.4", b"\x89PNG",
    b"<html><body>%PDF-</body></html>",
])
def test_sniff_refuses_everything_else(data):
    with pytest.raises(Invalid) as exc:
        sniff(data, field="files")
    assert [e.field for e in exc.value.errors] == ["files"]


def test_sniff_size_limit():
    assert MAX_BYTES == 10 * 1024 * 1024
    assert sniff(PDF + b"\x00" * (MAX_BYTES - len(PDF))) == ("application/pdf", ".pdf")
    with pytest.raises(Invalid) as exc:
        sniff(PDF + b"\x00" * (MAX_BYTES - len(PDF) + 1))
    assert "10 MB" in exc.value.errors[0].message


# --- attachments of an application ------------------------------------------------------------

def test_attachment_round_trip_with_sha256(session, tmp_path):
    w = world(session)
    store = LocalStore(tmp_path / "attachments")
    app = draft(session, w.op)
    data = PNG + b"payload" * 100
    att = services.add_application_attachment(session, w.op, store, app.id, "外省公告.pdf", data)
    # The type comes from the content, not from the name the uploader gave.
    assert att.content_type == "image/png" and att.storage_key.endswith(".png")
    assert att.filename == "外省公告.pdf" and att.size == len(data)
    assert att.sha256 == hashlib.sha256(data).hexdigest()
    assert att.org_id == w.company.id and att.application_id == app.id
    assert att.created_by == w.op.user_id
    stored = session.get(Attachment, att.id)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    got, raw = services.read_attachment(session, w.op, store, att.id)
    assert raw == data and hashlib.sha256(raw).hexdigest() == got.sha256
    assert _files(tmp_path / "attachments") == [tmp_path / "attachments" / att.storage_key[:2]
                                               / att.storage_key]
    (rec,) = audits(session, "attachment.add", att.id)
    assert rec.after == {"application_id": app.id, "filename": "外省公告.pdf",
                         "sha256": att.sha256}


def test_long_filename_is_cut_to_the_column(session, tmp_path):
    w = world(session)
    app = draft(session, w.op)
    name = "很" * 300 + ".pdf"
    att = services.add_application_attachment(session, w.op, LocalStore(tmp_path), app.id,
                                              name, PDF)
    assert len(att.filename) == 255 and att.filename.endswith(".pdf")


@pytest.mark.parametrize(("data", "why"), [
    (TEXT, "Only PDF, JPEG and PNG"),
    (b"", "empty"),
    (PDF + b"\x00" * MAX_BYTES, "10 MB"),
])
def test_bad_files_are_refused_and_nothing_is_stored(session, tmp_path, data, why):
    w = world(session)
    store = LocalStore(tmp_path / "attachments")
    app = draft(session, w.op)
    with pytest.raises(Invalid) as exc:
        services.add_application_attachment(session, w.op, store, app.id, "renamed.pdf", data)
    assert exc.value.errors[0].field == "file" and why in exc.value.errors[0].message
    assert count(session, Attachment) == 0
    assert _files(tmp_path / "attachments") == []


def test_files_only_on_editable_applications_of_ones_own(session, tmp_path):
    w = world(session)
    store = LocalStore(tmp_path)
    app = draft(session, w.op)
    drive(session, app, S.submitted, w.op, w.reviewer)
    with pytest.raises(Conflict):
        services.add_application_attachment(session, w.op, store, app.id, "a.pdf", PDF)
    with pytest.raises(Forbidden):  # the bureau does not upload into a company's application
        services.add_application_attachment(session, w.reviewer, store, app.id, "a.pdf", PDF)
    viewer = actor(session, w.company, "viewer")
    with pytest.raises(Forbidden):
        services.add_application_attachment(session, viewer, store, app.id, "a.pdf", PDF)
    with pytest.raises(NotFound):
        services.add_application_attachment(session, w.op, store, 999999, "a.pdf", PDF)
    assert count(session, Attachment) == 0 and _files(tmp_path) == []


def test_max_bytes_is_the_one_limit(monkeypatch):
    monkeypatch.setattr(storage, "MAX_BYTES", 10)
    with pytest.raises(Invalid):
        sniff(PDF)
