"""Allocation of agreed volume (约定采购量分配), end to end: read CSVs, build, solve, write.

    python -m bench.allocation [--sizes small,provincial,national] [--runs 3] [--seed 11]
                               [--processes N] [--naive-max 250000] [--full-max 5000000]

For each size the seeded generator (:mod:`bench.allocation_data`) writes the instance to a
temporary directory; then every path is timed ``--runs`` times, each run in a fresh Python
process (so that peak memory is per run), and the medians are reported:

* ``fast`` — the path of ``flask procurement allocate`` (:func:`procurement.cli.run_allocate`):
  read, group, PuLP models built in bulk per product, :class:`~procurement.allocation.HighsBulk`,
  write;
* ``floor`` — the same reading and writing around :func:`~procurement.allocation.highspy_floor`:
  the same LPs handed to highspy straight from numpy arrays, per product, same process count;
* ``fast_full`` / ``floor_full`` — both again with one LP row per hospital instead of one per
  group of hospitals with identical choices (the formulation as written in DOMAIN.md §2, and
  the worst case when no two hospitals choose alike); skipped above ``--full-max`` variables;
* ``naive`` — the ordinary PuLP way (one model for everything, ``+=`` term by term, PuLP's
  stock HiGHS interface); skipped above ``--naive-max`` variables, and the JSON says so;
* ``cli`` — the real command ``flask --app wsgi procurement allocate`` in a subprocess, wall
  time including interpreter and application start-up.

Peak memory: the bench polls the process tree of each run (the run, the forkserver and the
workers) and reports the largest sum of RSS (every 0.1 s, from ``statm``: cheap) and of PSS
(proportional set size, which does not count pages the forked workers share twice; every 1 s,
because reading ``smaps_rollup`` stalls the measured process — polling it every 50 ms doubled
the run time of the per-hospital PuLP path), next to getrusage's maxrss of the main process
and of the largest worker.

Prints one JSON line. Ratios compare medians measured in the same bench run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import emit

PATHS = ("fast", "floor", "fast_full", "floor_full", "naive")
REPO = Path(__file__).resolve().parents[1]
TARGETS = {"provincial": 5.0, "national": 60.0}
PEAK_TARGET_MIB = 2048
FLOOR_RATIO_TARGET = 3.0


# --- one run, in a child process -------------------------------------------------------------

def _one(path: str, input_dir: Path, output: Path, processes: int | None) -> dict[str, Any]:
    import resource

    from procurement.allocation import highspy_floor, naive_build
    from procurement.cli import read_problem, run_allocate, write_allocation

    if path in ("fast", "fast_full"):
        res = run_allocate(input_dir, output, processes=processes,
                           aggregate=(path == "fast"))
        a, read_s, solve_s, write_s, total_s = (res.allocation, res.read_seconds,
                                                res.solve_seconds, res.write_seconds,
                                                res.seconds)
    else:
        t0 = time.perf_counter()
        problem = read_problem(input_dir)
        t1 = time.perf_counter()
        if path == "naive":
            a = naive_build(problem)
        else:
            a = highspy_floor(problem, processes=processes, aggregate=(path == "floor"))
        del problem
        t2 = time.perf_counter()
        if a.status == "optimal":
            write_allocation(output, a)
        t3 = time.perf_counter()
        read_s, solve_s, write_s, total_s = t1 - t0, t2 - t1, t3 - t2, t3 - t0
    methods: dict[str, int] = {}
    for s in a.per_product:
        methods[s.method] = methods.get(s.method, 0) + 1
    return {
        "status": a.status, "rank_penalty": a.rank_penalty, "total_cost_fen": a.total_cost_fen,
        "variables": a.variables, "columns": a.columns, "rows_out": len(a.rows),
        "processes": a.processes, "methods": methods,
        "read_s": read_s, "prepare_s": a.prepare_seconds,
        "model_build_cpu_s": a.build_seconds, "model_solve_cpu_s": a.solve_seconds,
        "solve_wall_s": solve_s, "write_s": write_s, "total_s": total_s,
        "maxrss_main_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "maxrss_worker_mib": a.worker_max_rss_kib / 1024,
    }


# --- measuring a child's process tree --------------------------------------------------------

def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _tree(root: int) -> list[int]:
    tree = _children()
    todo, out = [root], []
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, ()))
    return out


_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _rss_kib(pids: list[int]) -> int:
    """Sum of RSS from /proc/PID/statm: cheap, takes no lock on the process's memory map."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
                total += int(fh.read().split()[1]) * _PAGE_KIB
        except OSError:
            continue
    return total


def _pss_kib(pids: list[int]) -> int:
    """Sum of PSS from /proc/PID/smaps_rollup (walks the memory map under its lock: costly
    for the measured process, so sampled rarely)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def _run_child(args: list[str], env: dict[str, str] | None = None,
               ) -> tuple[subprocess.CompletedProcess[str], float, float, float | None]:
    """Run a command, polling its process tree's memory (RSS every 0.1 s, PSS every 1 s);
    (done, wall s, peak RSS MiB, peak PSS MiB). PSS, sampled less often, may miss a short
    peak; RSS counts pages shared by the forked workers once per process (an upper bound)."""
    peak = [0, 0, 0]  # RSS, PSS, PSS samples
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stop = threading.Event()

    def poll() -> None:
        tick = 0
        while not stop.is_set():
            pids = _tree(proc.pid)
            peak[0] = max(peak[0], _rss_kib(pids))
            if tick % 10 == 5:
                peak[1] = max(peak[1], _pss_kib(pids))
                peak[2] += 1
            tick += 1
            stop.wait(0.1)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    done = subprocess.CompletedProcess(args, proc.returncode, out, err)
    # fewer than 3 PSS samples (a run under ~2.5 s): no meaningful peak
    return done, wall, peak[0] / 1024, (peak[1] / 1024 if peak[2] >= 3 else None)


def _measure(path: str, input_dir: Path, workdir: Path, processes: int | None,
             ) -> dict[str, Any]:
    output = workdir / f"{path}.csv"
    args = [sys.executable, "-m", "bench.allocation", "--one", path, "--input", str(input_dir),
            "--output", str(output)]
    if processes:
        args += ["--processes", str(processes)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done, wall, rss, pss = _run_child(args, env)
    if done.returncode != 0:
        raise RuntimeError(f"{path} failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(process_wall_s=wall, peak_tree_rss_mib=rss, peak_tree_pss_mib=pss)
    return result


def _measure_cli(input_dir: Path, workdir: Path, processes: int | None) -> dict[str, Any]:
    output = workdir / "cli.csv"
    flask = Path(sys.executable).with_name("flask")
    args = [str(flask), "--app", "wsgi", "procurement", "allocate", "--input", str(input_dir),
            "--output", str(output)]
    if processes:
        args += ["--processes", str(processes)]
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "DATABASE_URL": f"sqlite:///{workdir / 'cli.db'}",
           "YAOCAI_INSTANCE": str(workdir / "instance")}
    done, wall, rss, pss = _run_child(args, env)
    if done.returncode != 0:
        raise RuntimeError(f"cli failed: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "command_seconds": summary["seconds"], "status": summary["status"],
            "peak_tree_rss_mib": rss, "peak_tree_pss_mib": pss}


# --- the benchmark ---------------------------------------------------------------------------

_NUMBERS = ("read_s", "prepare_s", "model_build_cpu_s", "model_solve_cpu_s", "solve_wall_s",
            "write_s", "total_s", "process_wall_s", "maxrss_main_mib", "maxrss_worker_mib",
            "peak_tree_rss_mib", "peak_tree_pss_mib")


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = {k: v for k, v in runs[0].items() if k not in _NUMBERS}
    for key in _NUMBERS:
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    for key in ("rank_penalty", "total_cost_fen", "status"):
        values = {r[key] for r in runs}
        if len(values) != 1:
            out[f"{key}_differs_between_runs"] = sorted(map(str, values))
    return out


def bench_size(size: str, seed: int, runs: int, processes: int | None, naive_max: int,
               full_max: int, workdir: Path, cli: bool) -> dict[str, Any]:
    # generated in a child process: this process stays small, and so does the maxrss its
    # measured children inherit (Linux keeps ru_maxrss across fork + exec)
    t0 = time.perf_counter()
    input_dir = workdir / size
    done = subprocess.run(
        [sys.executable, "-m", "bench.allocation_data", "--size", size, "--seed", str(seed),
         "--out", str(input_dir), "--json"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        check=True)
    instance = json.loads(done.stdout)
    variables = instance["variables"]
    instance["generate_s"] = round(time.perf_counter() - t0, 2)
    out: dict[str, Any] = {"instance": instance, "paths": {}, "skipped": {}}
    for path in PATHS:
        if path == "naive" and variables > naive_max:
            out["skipped"][path] = (f"{variables:,} variables > --naive-max "
                                    f"{naive_max:,} (the ordinary PuLP build is too slow)")
            continue
        if path.endswith("_full") and variables > full_max:
            out["skipped"][path] = f"{variables:,} variables > --full-max {full_max:,}"
            continue
        results = [_measure(path, input_dir, workdir, processes) for _ in range(runs)]
        out["paths"][path] = _median(results)
    if cli:
        results = [_measure_cli(input_dir, workdir, processes) for _ in range(runs)]
        cli_out: dict[str, Any] = {"status": results[0]["status"]}
        for key in ("wall_s", "command_seconds", "peak_tree_rss_mib", "peak_tree_pss_mib"):
            values = [r[key] for r in results if r[key] is not None]
            cli_out[key] = round(statistics.median(values), 3) if values else None
        out["paths"]["cli"] = cli_out
    p = out["paths"]
    ratios: dict[str, float] = {}
    if "fast" in p and "floor" in p:
        ratios["fast_total_over_floor_total"] = round(p["fast"]["total_s"]
                                                      / p["floor"]["total_s"], 2)
        ratios["fast_solve_over_floor_solve"] = round(p["fast"]["solve_wall_s"]
                                                      / p["floor"]["solve_wall_s"], 2)
    if "fast_full" in p and "floor_full" in p:
        ratios["fast_full_total_over_floor_full_total"] = round(
            p["fast_full"]["total_s"] / p["floor_full"]["total_s"], 2)
        ratios["fast_full_solve_over_floor_full_solve"] = round(
            p["fast_full"]["solve_wall_s"] / p["floor_full"]["solve_wall_s"], 2)
    if "naive" in p and "fast" in p:
        ratios["naive_total_over_fast_total"] = round(p["naive"]["total_s"]
                                                      / p["fast"]["total_s"], 1)
    agree = {(v["rank_penalty"], v["status"]) for k, v in p.items() if k in PATHS}
    out["ratios"] = ratios
    out["all_paths_agree_on_rank_penalty"] = len(agree) == 1
    if size in TARGETS and "fast" in p:
        f = p["fast"]
        out["targets"] = {
            "total_s_max": TARGETS[size], "total_s": f["total_s"],
            "total_ok": f["total_s"] <= TARGETS[size],
            "peak_mib_max": PEAK_TARGET_MIB, "peak_tree_pss_mib": f["peak_tree_pss_mib"],
            "peak_ok": f["peak_tree_rss_mib"] <= PEAK_TARGET_MIB,
            "floor_ratio_max": FLOOR_RATIO_TARGET,
            "floor_ratio_ok": ratios.get("fast_total_over_floor_total", 99) <= FLOOR_RATIO_TARGET,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="small,provincial,national")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--processes", type=int, default=None,
                    help="worker processes (default: the solver's own choice)")
    ap.add_argument("--naive-max", type=int, default=250_000,
                    help="skip the naive PuLP build above this many variables")
    ap.add_argument("--full-max", type=int, default=5_000_000,
                    help="skip the per-hospital (ungrouped) paths above this many variables")
    ap.add_argument("--no-cli", action="store_true", help="skip the real flask command")
    ap.add_argument("--one", choices=PATHS, help=argparse.SUPPRESS)
    ap.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        emit(_one(args.one, args.input, args.output, args.processes))
        return
    if args.runs < 3:
        print("note: fewer than 3 runs; medians of 3 or more are the convention",
              file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="yaocai-alloc-") as tmp:
        result: dict[str, Any] = {
            "benchmark": "allocation", "runs": args.runs, "seed": args.seed,
            "cpus": os.cpu_count(), "processes": args.processes or "auto", "sizes": {}}
        for size in args.sizes.split(","):
            result["sizes"][size] = bench_size(size, args.seed, args.runs, args.processes,
                                               args.naive_max, args.full_max, Path(tmp),
                                               not args.no_cli)
            print(f"{size} done", file=sys.stderr, flush=True)
        emit(result)


if __name__ == "__main__":
    main()
