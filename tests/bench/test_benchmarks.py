"""Every benchmark runs on a tiny instance and prints one line of valid JSON, so none can rot
unnoticed (the full runs are not part of the test suite: they take minutes to hours)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import test_database_url

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: int = 240) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout[-2000:]
    return json.loads(lines[0])


def _databases() -> list[str]:
    return ["sqlite", "postgresql"] if test_database_url() else ["sqlite"]


def test_allocation_benchmark_agrees_on_a_tiny_instance():
    out = _run("bench.allocation", "--sizes", "tiny", "--runs", "1", "--no-cli")
    for key in ("realistic/tiny",):
        inst = out["instances"][key]
        assert set(inst["paths"]) == {"fast", "floor", "mcf", "naive"}
        agreement = inst["agreement"]
        assert agreement["all_outputs_feasible"], inst["checked"]
        assert agreement["rank_penalty_agrees"], agreement
        assert agreement["total_cost_agrees"], agreement
        assert inst["ratios"]["fast_total_over_floor_total"] > 0


@pytest.mark.parametrize("benchmark", ["bench.listing_search", "bench.core_requests"])
def test_http_benchmarks_answer_through_gunicorn(benchmark):
    extra = ["--products", "300"] if benchmark == "bench.listing_search" else []
    pg = ["--pg-url", test_database_url()] if test_database_url() else []
    out = _run(benchmark, "--runs", "1", "--requests", "3", "--databases",
               ",".join(_databases()), *pg, *extra)
    for kind in _databases():
        results = out["databases"][kind]["results"]
        assert results["health"]["ratio_to_health"] == 1.0
        assert all(r["p95_ms"] > 0 for r in results.values())
    if benchmark == "bench.listing_search":
        assert out.get("totals_agree", True)
        assert out["databases"]["sqlite"]["api_totals"]["api_code_exact"] == 1
