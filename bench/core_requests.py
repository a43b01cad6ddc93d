"""Kernel request latency with the demo data, through HTTP against gunicorn: pages and API calls
of a logged-in bureau admin, against the health check (no work but the framework and one
``SELECT 1``) measured in the same run as the base of the ratios.

    python -m bench.core_requests [--runs 3] [--requests 200] [--databases sqlite,postgresql]
                                  [--pg-url URL] [--workers 2]

For each database (a temporary SQLite file; a scratch PostgreSQL database beside ``--pg-url``,
default ``DATABASE_URL``) the demo's core data is loaded, ``gunicorn wsgi:app`` is started with
``--workers`` sync workers on a free port, the admin logs in through the login form, and every
target is timed over HTTP, one request after another on a new connection each. Prints one JSON
line: per target the median over runs of each run's median and p95, and the ratio of that
median to the health check's.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from typing import Any
from urllib.parse import urlencode

from bench.common import Gunicorn, emit, summary_ms

TARGETS = {
    "health": "/api/v1/health",
    "home_bureau": "/home",
    "organisations_page": "/admin/organisations",
    "api_organisations": "/api/v1/core/organisations?per_page=50",
    "api_me": "/api/v1/core/me",
}


def _cookies(headers: dict[str, str], jar: dict[str, str]) -> None:
    for line in headers.get("set-cookie", "").split("\n"):
        if "=" in line:
            name, value = line.split(";", 1)[0].split("=", 1)
            jar[name.strip()] = value.strip()


def _cookie_header(jar: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}


def login(server: Gunicorn, username: str, password: str) -> dict[str, str]:
    """Log in through the form; the session cookie's headers for later requests."""
    from bench.common import http_request

    jar: dict[str, str] = {}
    status, headers, body = server.get("/login")
    _cookies(headers, jar)
    token = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1).decode()
    status, headers, body = http_request(
        "127.0.0.1", server.port, "POST", "/login",
        body=urlencode({"username": username, "password": password,
                        "csrf_token": token}).encode(),
        headers={**_cookie_header(jar), "Content-Type": "application/x-www-form-urlencoded"})
    if status not in (302, 303):
        raise RuntimeError(f"login failed: HTTP {status}")
    _cookies(headers, jar)
    return _cookie_header(jar)


def bench_database(kind: str, pg_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    from core.app import create_app
    from core.demo import DEMO_PASSWORD, load_core_demo
    from core.migrate import upgrade
    from tests.support import drop_scratch_database, scratch_database

    instance = tempfile.mkdtemp(prefix="yaocai-bench-core-")
    if kind == "postgresql":
        if not pg_url:
            raise SystemExit("PostgreSQL needs --pg-url or DATABASE_URL")
        os.environ["TEST_DATABASE_URL"] = pg_url  # the scratch database goes beside it
        url = scratch_database(instance, "core")
    else:
        url = f"sqlite:///{instance}/bench.db"
    try:
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "YAOCAI_ENV": "testing",
                          "YAOCAI_INSTANCE": instance,
                          "SECRET_KEY": "bench-secret-key-0123456789abcdef0123"})
        with app.extensions["yaocai.db"].unit_of_work() as s:
            load_core_demo(s)
        app.extensions["yaocai.db"].dispose()
        with Gunicorn(url, instance, workers=args.workers) as server:
            auth = login(server, "admin", DEMO_PASSWORD)
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in TARGETS}
            for _ in range(args.runs):
                for name, path in TARGETS.items():
                    status, _, _ = server.get(path, auth)  # warm
                    if status != 200:
                        raise RuntimeError(f"{path}: HTTP {status}")
                    samples = []
                    for _ in range(args.requests):
                        t0 = time.perf_counter()
                        server.get(path, auth)
                        samples.append(time.perf_counter() - t0)
                    runs[name].append(summary_ms(samples))
        base = statistics.median(r["median_ms"] for r in runs["health"])
        results = {}
        for name, rs in runs.items():
            med = statistics.median(r["median_ms"] for r in rs)
            results[name] = {"median_ms": med,
                             "p95_ms": statistics.median(r["p95_ms"] for r in rs),
                             "ratio_to_health": round(med / base, 2)}
        return {"database": kind, "results": results}
    finally:
        if kind == "postgresql":
            drop_scratch_database(url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--databases", default=None,
                    help="sqlite,postgresql (default: both when a PostgreSQL URL is given)")
    ap.add_argument("--pg-url", default=os.environ.get("DATABASE_URL"))
    args = ap.parse_args()
    args.databases = args.databases or ("sqlite,postgresql" if args.pg_url else "sqlite")
    result: dict[str, Any] = {
        "benchmark": "core_requests", "runs": args.runs, "requests_per_run": args.requests,
        "gunicorn_workers": args.workers, "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0], "databases": {}}
    for kind in args.databases.split(","):
        result["databases"][kind] = bench_database(kind, args.pg_url, args)
    result["load_average_at_end"] = os.getloadavg()[0]
    emit(result)


if __name__ == "__main__":
    main()
