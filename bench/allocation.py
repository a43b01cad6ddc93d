"""Allocation of agreed volume (约定采购量分配), end to end: read CSVs, build, solve, write.

    python -m bench.allocation [--kinds realistic,grouped] [--sizes small,provincial,national]
                               [--runs 3] [--seed 11] [--processes N] [--paths fast,floor,…]
                               [--naive-max 100000] [--mcf-max 250000] [--no-cli]

For each kind and size the seeded generator (:mod:`bench.allocation_data`) writes the
instance to a temporary directory. ``realistic`` (the default) gives every hospital 1–5 ranked
choices among the winners serving its city, as real hospitals answer, so grouping hospitals
with identical choices saves little; ``grouped`` is the original instance (1–3 choices among
all winners), on which 2.8 million national variables collapse to ~62,000 grouped columns.
Every path is timed ``--runs`` times, each run in a fresh Python process (so that peak memory is
per run), and the medians are reported:

* ``fast`` — the production path of ``flask procurement allocate``
  (:func:`procurement.cli.run_allocate`): read and validate, group, PuLP models built in bulk
  per product, :class:`~procurement.allocation.HighsBulk`, write;
* ``floor`` — an independent floor that shares no code with the path it judges
  (:mod:`bench.allocation_floor`): its own lean reader (no validation), the same lexicographic
  LPs as written in DOMAIN.md §2 (one row per hospital, nothing grouped) handed to highspy
  column-wise from numpy arrays, one worker per CPU, its own writer;
* ``mcf`` — a solver-free reference for stage 1: the least rank penalty of every product as a
  min-cost flow (``networkx.network_simplex``, integers); pure Python, so skipped above
  ``--mcf-max`` variables;
* ``naive`` — the ordinary PuLP way (one model for everything, ``+=`` term by term, PuLP's
  stock HiGHS interface); skipped above ``--naive-max`` variables;
* ``cli`` — the real command ``flask --app wsgi procurement allocate`` in a subprocess, wall
  time including interpreter and application start-up.

Every output file is then verified by an independent checker
(:func:`bench.allocation_floor.check`: demand met exactly, only allowed pairs, capacities and
floors kept) that also computes the rank penalty and the total cost in price units
(Σ volume × unit price, exact: 1/10,000 yuan, no rounding to fen); ``agreement`` says whether
every path, and the min-cost flow for stage 1, reached the same optimum. All times are
wall-clock seconds; ``*_summed_over_products`` adds up the products' wall-clock times in
whichever process solved them.

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

PATHS = ("fast", "floor", "mcf", "naive")
REPO = Path(__file__).resolve().parents[1]
TARGETS = {"provincial": 5.0, "national": 60.0}
PEAK_TARGET_MIB = 2048
FLOOR_RATIO_TARGET = 3.0


# --- one run, in a child process -------------------------------------------------------------

def _one(path: str, input_dir: Path, output: Path, processes: int | None) -> dict[str, Any]:
    import resource

    if path == "floor":
        from bench.allocation_floor import default_processes, run_floor

        out = run_floor(input_dir, output, processes or default_processes())
        out["maxrss_main_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["maxrss_worker_mib"] = resource.getrusage(
            resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return out
    if path == "mcf":
        from bench.allocation_floor import default_processes, run_mcf

        out = run_mcf(input_dir, processes or default_processes())
        out["maxrss_main_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["maxrss_worker_mib"] = resource.getrusage(
            resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return out

    from procurement.allocation import naive_build
    from procurement.cli import read_problem, run_allocate, write_allocation

    if path == "fast":
        res = run_allocate(input_dir, output, processes=processes)
        a, read_s, solve_s, write_s, total_s = (res.allocation, res.read_seconds,
                                                res.solve_seconds, res.write_seconds,
                                                res.seconds)
    else:
        t0 = time.perf_counter()
        problem = read_problem(input_dir)
        t1 = time.perf_counter()
        a = naive_build(problem)
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
        "build_wall_s_summed_over_products": a.build_seconds,
        "solve_wall_s_summed_over_products": a.solve_seconds,
        "solve_wall_s": solve_s, "write_s": write_s, "total_s": total_s,
        "maxrss_main_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "maxrss_worker_mib": a.worker_max_rss_kib / 1024,
    }


def _check(input_dir: Path, output: Path) -> dict[str, Any]:
    from bench.allocation_floor import check, read_instance

    return check(read_instance(input_dir), output)


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

_NUMBERS = ("read_s", "prepare_s", "build_wall_s_summed_over_products",
            "solve_wall_s_summed_over_products", "product_solve_wall_s_summed", "solve_wall_s",
            "write_s", "total_s", "process_wall_s", "maxrss_main_mib", "maxrss_worker_mib",
            "peak_tree_rss_mib", "peak_tree_pss_mib")


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = {k: v for k, v in runs[0].items() if k not in _NUMBERS}
    for key in _NUMBERS:
        values = [r[key] for r in runs if r.get(key) is not None]
        if key in runs[0]:
            out[key] = round(statistics.median(values), 3) if values else None
    out["total_s_runs"] = [round(r["total_s"], 3) for r in runs]
    for key in ("rank_penalty", "total_cost_fen", "status", "stage1_optimum"):
        values = {r[key] for r in runs if key in r}
        if len(values) > 1:
            out[f"{key}_differs_between_runs"] = sorted(map(str, values))
    return out


def _measure_check(input_dir: Path, output: Path) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.allocation", "--check", str(output), "--input",
            str(input_dir)]
    done = subprocess.run(args, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"check failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_size(kind: str, size: str, seed: int, runs: int, processes: int | None,
               limits: dict[str, int], workdir: Path, cli: bool) -> dict[str, Any]:
    # generated in a child process: this process stays small, and so does the maxrss its
    # measured children inherit (Linux keeps ru_maxrss across fork + exec)
    t0 = time.perf_counter()
    input_dir = workdir / f"{kind}-{size}"
    done = subprocess.run(
        [sys.executable, "-m", "bench.allocation_data", "--size", size, "--seed", str(seed),
         "--kind", kind, "--out", str(input_dir), "--json"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        check=True)
    instance = json.loads(done.stdout)
    variables = instance["variables"]
    instance["generate_s"] = round(time.perf_counter() - t0, 2)
    out: dict[str, Any] = {"instance": instance, "paths": {}, "skipped": {}, "checked": {}}
    for path in PATHS:
        if variables > limits.get(path, 1 << 62):
            out["skipped"][path] = (f"{variables:,} variables > --{path}-max "
                                    f"{limits[path]:,}")
            continue
        results = [_measure(path, input_dir, workdir, processes) for _ in range(runs)]
        out["paths"][path] = _median(results)
        if path != "mcf":
            out["checked"][path] = _measure_check(input_dir, workdir / f"{path}.csv")
        print(f"  {kind}/{size} {path}: {out['paths'][path]['total_s_runs']}", file=sys.stderr,
              flush=True)
    if cli:
        results = [_measure_cli(input_dir, workdir, processes) for _ in range(runs)]
        cli_out: dict[str, Any] = {"status": results[0]["status"]}
        for key in ("wall_s", "command_seconds", "peak_tree_rss_mib", "peak_tree_pss_mib"):
            values = [r[key] for r in results if r[key] is not None]
            cli_out[key] = round(statistics.median(values), 3) if values else None
        out["paths"]["cli"] = cli_out
    p, checked = out["paths"], out["checked"]
    ratios: dict[str, float] = {}
    if "fast" in p and "floor" in p:
        ratios["fast_total_over_floor_total"] = round(p["fast"]["total_s"]
                                                      / p["floor"]["total_s"], 2)
        ratios["fast_solve_over_floor_solve"] = round(p["fast"]["solve_wall_s"]
                                                      / p["floor"]["solve_wall_s"], 2)
    if "naive" in p and "fast" in p:
        ratios["naive_total_over_fast_total"] = round(p["naive"]["total_s"]
                                                      / p["fast"]["total_s"], 1)
    if "mcf" in p and "floor" in p:
        ratios["mcf_solve_over_floor_solve"] = round(p["mcf"]["solve_wall_s"]
                                                     / p["floor"]["solve_wall_s"], 1)
    out["ratios"] = ratios
    # the lexicographic optimum is unique in value: every path must reach it, exactly
    penalties = {k: v["rank_penalty"] for k, v in checked.items()}
    if "mcf" in p:
        penalties["mcf_stage1"] = p["mcf"]["stage1_optimum"]
    if "floor" in p:
        penalties["floor_stage1"] = p["floor"]["stage1_optimum"]
    costs = {k: v["total_cost_price_units"] for k, v in checked.items()}
    out["agreement"] = {
        "all_outputs_feasible": all(v["feasible"] for v in checked.values()),
        "rank_penalty": penalties, "rank_penalty_agrees": len(set(penalties.values())) == 1,
        "total_cost_price_units": costs,
        "total_cost_agrees": len(set(costs.values())) == 1,
        "total_cost_yuan": {k: v["total_cost_yuan"] for k, v in checked.items()},
    }
    if size in TARGETS and "fast" in p:
        f = p["fast"]
        out["targets"] = {
            "total_s_max": TARGETS[size], "total_s": f["total_s"],
            "total_ok": f["total_s"] <= TARGETS[size],
            "peak_mib_max": PEAK_TARGET_MIB, "peak_tree_rss_mib": f["peak_tree_rss_mib"],
            "peak_tree_pss_mib": f["peak_tree_pss_mib"],
            "peak_ok": f["peak_tree_rss_mib"] <= PEAK_TARGET_MIB,
            "floor_ratio_max": FLOOR_RATIO_TARGET,
            "floor_ratio": ratios.get("fast_total_over_floor_total"),
            "floor_ratio_ok": ratios.get("fast_total_over_floor_total", 99) <= FLOOR_RATIO_TARGET,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="small,provincial,national")
    ap.add_argument("--kinds", default="realistic",
                    help="instance kinds: realistic (choice diversity as real hospitals "
                         "answer), grouped (the original 1–3 choices), or both")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--processes", type=int, default=None,
                    help="worker processes (default: the solver's own choice; the floor and "
                         "the min-cost flow use one per CPU)")
    ap.add_argument("--naive-max", type=int, default=100_000,
                    help="skip the naive PuLP build above this many variables (the realistic "
                         "provincial instance, 214,000, takes over 10 minutes a run)")
    ap.add_argument("--mcf-max", type=int, default=250_000,
                    help="skip the networkx min-cost flow above this many variables")
    ap.add_argument("--paths", default=",".join(PATHS), help="paths to time")
    ap.add_argument("--no-cli", action="store_true", help="skip the real flask command")
    ap.add_argument("--one", choices=PATHS, help=argparse.SUPPRESS)
    ap.add_argument("--check", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        emit(_one(args.one, args.input, args.output, args.processes))
        return
    if args.check:
        emit(_check(args.input, args.check))
        return
    if args.runs < 3:
        print("note: fewer than 3 runs; medians of 3 or more are the convention",
              file=sys.stderr)
    limits = {"naive": args.naive_max, "mcf": args.mcf_max}
    limits.update({p: -1 for p in PATHS if p not in args.paths.split(",")})
    with tempfile.TemporaryDirectory(prefix="yaocai-alloc-") as tmp:
        result: dict[str, Any] = {
            "benchmark": "allocation", "runs": args.runs, "seed": args.seed,
            "cpus": os.cpu_count(), "processes": args.processes or "auto",
            "load_average_at_start": os.getloadavg()[0],
            "note": "every *_s is wall-clock seconds; *_summed_over_products adds up the "
                    "products' wall-clock times in whichever process solved them (it may "
                    "exceed the elapsed time when workers run in parallel)",
            "instances": {}}
        for kind in args.kinds.split(","):
            for size in args.sizes.split(","):
                result["instances"][f"{kind}/{size}"] = bench_size(
                    kind, size, args.seed, args.runs, args.processes, limits, Path(tmp),
                    not args.no_cli)
                print(f"{kind}/{size} done", file=sys.stderr, flush=True)
        result["load_average_at_end"] = os.getloadavg()[0]
        emit(result)


if __name__ == "__main__":
    main()
