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
