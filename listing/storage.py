"""The attachment store: where evidence files live.

Services talk to ``AttachmentStore`` only. The default keeps files under the instance folder;
a deployment with an object store implements the same three methods. Files are addressed by
an opaque key chosen here, never by a name the uploader gave.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol

from core.errors import Invalid

MAX_BYTES = 10 * 1024 * 1024  # 10 MiB per file

#: Accepted evidence types, recognised by their leading bytes (magic numbers).
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


def sniff(data: bytes, field: str = "file") -> tuple[str, str]:
    """The content type and extension of an evidence file, judged by its content.

    A file renamed to ``.pdf`` is still refused when its bytes are not a PDF.
    """
    if not data:
        raise Invalid.one(field, "The file is empty.")
    if len(data) > MAX_BYTES:
        raise Invalid.one(field, "The file is larger than 10 MB.")
    for magic, content_type, ext in _SIGNATURES:
        if data.startswith(magic):
            return content_type, ext
    raise Invalid.one(field, "Only PDF, JPEG and PNG files are accepted.")


class AttachmentStore(Protocol):
    def put(self, data: bytes, ext: str) -> str: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...


class LocalStore:
    """Files under ``root`` (by default ``instance/attachments``), two-level fan-out."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise ValueError("bad attachment key")
        return self.root / key[:2] / key

    def put(self, data: bytes, ext: str) -> str:
        key = secrets.token_hex(16) + ext
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers never see a half-written file
        return key

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def store_for(instance_path: str | os.PathLike[str], url: str | None = None) -> AttachmentStore:
    """The configured store: ``ATTACHMENT_DIR`` (a folder) or ``instance/attachments``."""
    return LocalStore(url or Path(instance_path) / "attachments")
