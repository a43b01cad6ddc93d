"""Shared helpers for benchmarks: timing loops, medians, JSON output."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def time_calls(fn: Callable[[], Any], n: int) -> list[float]:
    """Seconds per call for ``n`` calls."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def summary_ms(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"median_ms": round(statistics.median(s) * 1000, 3),
            "p95_ms": round(s[min(len(s) - 1, int(len(s) * 0.95))] * 1000, 3),
            "n": len(s)}


def emit(result: dict[str, Any]) -> None:
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def scratch_url(database_url: str | None, suffix: str) -> str:
    """A new empty scratch database for one benchmark: beside ``database_url`` on PostgreSQL,
    else a SQLite file in a temporary folder. Drop it with
    ``tests.support.drop_scratch_database``."""
    import tempfile

    from tests.support import scratch_database

    tmp = tempfile.mkdtemp(prefix="yaocai-bench-")
    if database_url and not database_url.startswith("sqlite"):
        os.environ["TEST_DATABASE_URL"] = database_url  # the scratch database goes beside it
    else:
        os.environ.pop("TEST_DATABASE_URL", None)
    return scratch_database(tmp, suffix)


# --- HTTP against a real server ---------------------------------------------------------------

def free_port() -> int:
    """A TCP port nobody listens on now (the kernel's choice)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """``gunicorn wsgi:app`` in a subprocess on a free port, as production runs it (sync
    workers, ``YAOCAI_ENV=production``). Jobs go to ``broker_url`` (default: ``BROKER_URL``),
    so no in-process worker or scheduler shares the web processes; without one the embedded
    worker runs in each web process, as in a trial. Use as a context manager; it is stopped
    (by its own process id) on exit."""

    def __init__(self, database_url: str, instance: str, *, workers: int = 2,
                 broker_url: str | None = None) -> None:
        self.database_url = database_url
        self.instance = instance
        self.workers = workers
        self.broker_url = broker_url or os.environ.get("BROKER_URL")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        repo = Path(__file__).resolve().parents[1]
        env = {**os.environ, "DATABASE_URL": self.database_url, "YAOCAI_ENV": "production",
               "YAOCAI_INSTANCE": self.instance, "BROKER_URL": self.broker_url or "",
               "SECRET_KEY": "bench-secret-key-0123456789abcdef0123", "LOG_LEVEL": "WARNING",
               "PYTHONPATH": str(repo)}
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.log = open(Path(self.instance) / "gunicorn.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(gunicorn), "--workers", str(self.workers), "--bind",
             f"127.0.0.1:{self.port}", "--log-level", "warning", "wsgi:app"],
            cwd=repo, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.read_log()[-2000:]}")
            try:
                status, _, _ = self.get("/api/v1/health")
                if status == 200:
                    # both workers have imported the app only once each served a request
                    for _ in range(4 * self.workers):
                        self.get("/api/v1/health")
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def read_log(self) -> str:
        return (Path(self.instance) / "gunicorn.log").read_text(errors="replace")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def get(self, path: str, headers: dict[str, str] | None = None,
            ) -> tuple[int, dict[str, str], bytes]:
        return http_request("127.0.0.1", self.port, "GET", path, headers=headers)


def http_request(host: str, port: int, method: str, path: str, *, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection (gunicorn's sync workers close it after each
    response); (status, headers with lower-case names — Set-Cookie values joined by
    ``\\n`` —, body)."""
    import http.client

    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        out: dict[str, str] = {}
        for k, v in resp.getheaders():
            k = k.lower()
            out[k] = f"{out[k]}\n{v}" if k in out else v
        return resp.status, out, data
    finally:
        conn.close()
