"""Structured logs: one JSON object per line on stderr, with request context when present."""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        try:
            from flask import g, has_request_context, request
            if has_request_context():
                out["method"] = request.method
                out["path"] = request.path
                out["request_id"] = g.get("request_id")
                actor = g.get("actor")
                if actor is not None:
                    out["user_id"] = actor.user_id
                    out["org_id"] = actor.org_id
        except Exception:  # pragma: no cover - logging must never fail
            pass
        for key, value in vars(record).items():
            if key not in _STD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_yaocai", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._yaocai = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Library chatter at INFO is noise in production logs.
    for noisy in ("dramatiq", "apscheduler", "werkzeug", "pika"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
