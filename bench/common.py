"""Shared helpers for benchmarks: timing loops, medians, JSON output."""
from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
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
    import os
    import tempfile

    from tests.support import scratch_database

    tmp = tempfile.mkdtemp(prefix="yaocai-bench-")
    if database_url and not database_url.startswith("sqlite"):
        os.environ["TEST_DATABASE_URL"] = database_url  # the scratch database goes beside it
    else:
        os.environ.pop("TEST_DATABASE_URL", None)
    return scratch_database(tmp, suffix)
