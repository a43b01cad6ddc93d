"""Kernel request latency with the demo data: pages and API calls of a logged-in bureau
admin, against the health check (no work but the framework) as the in-process baseline.

    python -m bench.core_requests [--runs 3] [--requests 200]

Uses DATABASE_URL if set (e.g. PostgreSQL), else a temporary SQLite file. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile

from bench.common import emit, summary_ms, time_calls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="yaocai-bench-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    from core.app import create_app
    from core.demo import DEMO_PASSWORD, load_core_demo
    from core.migrate import upgrade

    upgrade(url)
    app = create_app({"DATABASE_URL": url, "YAOCAI_ENV": "testing", "YAOCAI_INSTANCE": tmp,
                      "SECRET_KEY": "bench-secret-key-0123456789abcdef0123"})
    with app.extensions["yaocai.db"].unit_of_work() as s:
        load_core_demo(s)
    client = app.test_client()
    page = client.get("/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD,
                                "csrf_token": token})

    targets = {
        "baseline_health": "/api/v1/health",
        "home_bureau": "/home",
        "organisations_page": "/admin/organisations",
        "api_organisations": "/api/v1/core/organisations?per_page=50",
        "api_me": "/api/v1/core/me",
    }
    runs: dict[str, list[dict]] = {k: [] for k in targets}
    for _ in range(args.runs):
        for name, path in targets.items():
            client.get(path)  # warm
            samples = time_calls(lambda p=path: client.get(p), args.requests)
            runs[name].append(summary_ms(samples))
    result = {"benchmark": "core_requests", "database": url.split(":", 1)[0],
              "runs": args.runs, "requests_per_run": args.requests, "results": {}}
    base = statistics.median(r["median_ms"] for r in runs["baseline_health"])
    for name, rs in runs.items():
        med = statistics.median(r["median_ms"] for r in rs)
        p95 = statistics.median(r["p95_ms"] for r in rs)
        result["results"][name] = {"median_ms": med, "p95_ms": p95,
                                   "ratio_to_baseline": round(med / base, 2)}
    emit(result)
    app.extensions["yaocai.db"].dispose()


if __name__ == "__main__":
    main()
