"""An independent floor for the allocation benchmark (约定采购量分配), sharing no code with
``procurement``: its own reader, LP builder, solver calls, writer and checker.

* :func:`read_instance` reads the three CSV files of the offline-solve format into integer
  arrays (codes become indices; no validation — the generator's files are valid);
* :func:`solve_floor` solves every product's lexicographic LP as written in DOMAIN.md §2 — one
  row per hospital (no grouping), capacity and share-floor rows, stage 1 the least rank
  penalty, stage 2 the least cost with the penalty held at its optimum — handed to highspy
  column-wise from numpy arrays, the products spread over worker processes; a product whose
  stage-2 vertex is not integral is re-solved with integer columns;
* :func:`mcf_stage1` is a second, solver-free reference for stage 1: the rank-penalty optimum
  as a min-cost flow (``networkx.network_simplex``, exact integer arithmetic);
* :func:`check` verifies any output file against the instance in integer arithmetic —
  demand met exactly, only allowed pairs, capacities and floors kept — and returns the rank
  penalty and the total cost in price units (1/10,000 yuan × units: Σ unit price × volume,
  exact, with no rounding to fen).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

PRICE_SCALE = 10_000


@dataclass
class Product:
    """One product: hospitals (global indices), winners, allowed pairs as columns."""

    code: str
    hospitals: np.ndarray   # int64 [n_h] global hospital index, sorted by code
    demand: np.ndarray      # int64 [n_h]
    enterprises: list[str]  # winners' codes
    price: np.ndarray       # int64 [n_w] price units (1/10,000 yuan)
    capacity: np.ndarray    # int64 [n_w], -1 = unlimited
    floor: np.ndarray       # int64 [n_w]
    col_h: np.ndarray       # int64 [n_c] local hospital index
    col_w: np.ndarray       # int64 [n_c]
    col_pen: np.ndarray     # int64 [n_c] rank − 1


@dataclass
class Instance:
    hospital_codes: list[str]
    products: list[Product]

    @property
    def variables(self) -> int:
        return sum(int(p.col_h.size) for p in self.products)


def _table(path: Path, names: tuple[str, ...]) -> list[list[str]]:
    """The columns ``names`` of a CSV file as lists of cell text. The generator writes no
    quoted cells, so one split of the whole text on commas and line ends does (every line
    has as many cells as the header)."""
    text = path.read_text(encoding="utf-8-sig")
    head, _, body = text.partition("\n")
    header = head.strip().split(",")
    width = len(header)
    cells = body.replace("\n", ",").split(",")
    if cells and cells[-1] == "":
        cells.pop()
    if len(cells) % width:
        raise ValueError(f"{path.name}: ragged lines")
    return [cells[header.index(n)::width] for n in names]


def _price_units(text: str) -> int:
    whole, _, frac = text.strip().partition(".")
    return int(whole or "0") * PRICE_SCALE + int((frac + "0000")[:4])


def read_instance(directory: Path) -> Instance:
    """The three files as per-product arrays, products and hospitals sorted by code."""
    w_p, w_e, w_price, w_cap, w_share = _table(
        directory / "winners.csv",
        ("product_code", "enterprise_code", "unit_price", "capacity", "min_share"))
    d_h, d_p, d_v = _table(directory / "demand.csv", ("hospital_code", "product_code", "volume"))
    choices_path = directory / "choices.csv"
    c_h: list[str] = []
    c_p: list[str] = []
    c_e: list[str] = []
    c_r: list[str] = []
    if choices_path.exists():
        c_h, c_p, c_e, c_r = _table(choices_path, ("hospital_code", "product_code",
                                                   "enterprise_code", "rank"))
    hospital_codes = sorted(set(d_h))
    h_index = {h: i for i, h in enumerate(hospital_codes)}
    product_codes = sorted(set(w_p) | set(d_p))
    p_index = {p: i for i, p in enumerate(product_codes)}
    # winners per product, sorted by enterprise code
    winners: dict[int, list[tuple[str, int, int, str]]] = {}
    for p, e, price, cap, share in zip(w_p, w_e, w_price, w_cap, w_share, strict=True):
        winners.setdefault(p_index[p], []).append(
            (e, _price_units(price), int(cap) if cap.strip() else -1, share.strip()))
    for ws in winners.values():
        ws.sort()
    e_local = {(pi, e): k for pi, ws in winners.items() for k, (e, *_rest) in enumerate(ws)}

    dh = np.array([h_index[h] for h in d_h], dtype=np.int64)
    dp = np.array([p_index[p] for p in d_p], dtype=np.int64)
    dv = np.array(d_v).astype(np.int64)
    keep = dv > 0
    dh, dp, dv = dh[keep], dp[keep], dv[keep]
    order = np.lexsort((dh, dp))
    dh, dp, dv = dh[order], dp[order], dv[order]
    d_bounds = np.searchsorted(dp, np.arange(len(product_codes) + 1))

    get_h = h_index.get
    ch = np.array([get_h(h, -1) for h in c_h], dtype=np.int64)
    cp = np.array([p_index[p] for p in c_p], dtype=np.int64)
    ce = np.array([e_local[pe] for pe in zip(cp.tolist(), c_e, strict=True)], dtype=np.int64)
    cr = np.array(c_r).astype(np.int64) if c_r else np.zeros(0, dtype=np.int64)
    del c_h, c_p, c_e, c_r
    order = np.lexsort((ce, ch, cp))
    ch, cp, ce, cr = ch[order], cp[order], ce[order], cr[order]
    c_bounds = np.searchsorted(cp, np.arange(len(product_codes) + 1))

    products = []
    for pi, code in enumerate(product_codes):
        ws = winners.get(pi, [])
        n_w = len(ws)
        hs = dh[d_bounds[pi]:d_bounds[pi + 1]]
        vol = dv[d_bounds[pi]:d_bounds[pi + 1]]
        total = int(vol.sum())
        # choices of hospitals with demand, as local hospital indices
        a, b = c_bounds[pi], c_bounds[pi + 1]
        loc = np.searchsorted(hs, ch[a:b])
        found = (loc < hs.size) & (hs[np.minimum(loc, max(hs.size - 1, 0))] == ch[a:b]) \
            if hs.size else np.zeros(b - a, dtype=bool)
        col_h, col_w, col_pen = loc[found], ce[a:b][found], cr[a:b][found] - 1
        # hospitals without choice rows may receive from every winner at no penalty
        free = np.setdiff1d(np.arange(hs.size), col_h)
        if free.size and n_w:
            col_h = np.concatenate((col_h, np.repeat(free, n_w)))
            col_w = np.concatenate((col_w, np.tile(np.arange(n_w), free.size)))
            col_pen = np.concatenate((col_pen, np.zeros(free.size * n_w, dtype=np.int64)))
        order = np.lexsort((col_w, col_h))
        floors = []
        for _e, _price, _cap, share in ws:
            f = Fraction(share) * total if share else Fraction(0)
            floors.append(math.ceil(f))
        products.append(Product(
            code=code, hospitals=hs, demand=vol, enterprises=[w[0] for w in ws],
            price=np.array([w[1] for w in ws], dtype=np.int64),
            capacity=np.array([w[2] for w in ws], dtype=np.int64),
            floor=np.array(floors, dtype=np.int64),
            col_h=col_h[order], col_w=col_w[order], col_pen=col_pen[order]))
    return Instance(hospital_codes, products)


# --- the floor: highspy from arrays -------------------------------------------------------------

def _highs(lp: dict[str, Any]) -> Any:
    import highspy

    h = highspy.Highs()
    for key, value in {"output_flag": False, "threads": 1, "random_seed": 0,
                       "solver": "ipm", "run_crossover": "on", "presolve": "off"}.items():
        h.setOptionValue(key, value)
    inf = highspy.kHighsInf
    n = lp["n"]
    h.passModel(n, lp["m"], int(lp["index"].size), int(highspy.MatrixFormat.kColwise),
                int(highspy.ObjSense.kMinimize), 0.0, lp["cost"], np.zeros(n),
                np.full(n, inf), lp["lower"], lp["upper"], lp["start"], lp["index"],
                lp["value"], np.zeros(n, dtype=np.int32))
    return h


@dataclass
class _Groups:
    """Hospitals of one product that may receive from the same winners at the same ranks are
    interchangeable in both objectives and every constraint: one LP row per such group."""

    of_h: np.ndarray     # int64 [n_h] group of each hospital
    demand: np.ndarray   # int64 [n_g]
    col_g: np.ndarray    # int64 [n_c] columns sorted by group, then winner
    col_w: np.ndarray
    col_pen: np.ndarray


def _groups(p: Product) -> _Groups:
    n_h, n_w = p.hospitals.size, len(p.enterprises)
    allowed = np.zeros((n_h, n_w), dtype=np.int32)         # rank − 1 + 1, 0 = not allowed
    allowed[p.col_h, p.col_w] = p.col_pen + 1
    rows, of_h = np.unique(allowed, axis=0, return_inverse=True)
    of_h = of_h.reshape(-1)
    col_g, col_w = np.nonzero(rows)
    return _Groups(of_h=of_h, demand=np.bincount(of_h, weights=p.demand,
                                                 minlength=rows.shape[0]).astype(np.int64),
                   col_g=col_g, col_w=col_w, col_pen=rows[col_g, col_w].astype(np.int64) - 1)


def _lp(p: Product, g: _Groups) -> dict[str, Any]:
    """Column-wise: each column's demand row, then its winner's capacity row and floor row."""
    import highspy

    inf = highspy.kHighsInf
    n_g, n_w, n = g.demand.size, len(p.enterprises), g.col_g.size
    cap_row = np.full(n_w, -1, dtype=np.int64)
    floor_row = np.full(n_w, -1, dtype=np.int64)
    lower, upper = [g.demand.astype(float)], [g.demand.astype(float)]
    m = n_g
    for w in range(n_w):
        if p.capacity[w] >= 0:
            cap_row[w] = m
            m += 1
            lower.append(np.array([-inf]))
            upper.append(np.array([float(p.capacity[w])]))
        if p.floor[w] > 0:
            floor_row[w] = m
            m += 1
            lower.append(np.array([float(p.floor[w])]))
            upper.append(np.array([inf]))
    rows = np.stack((g.col_g, cap_row[g.col_w], floor_row[g.col_w]), axis=1)  # [n, 3]
    counts = (rows >= 0).sum(axis=1)
    index = rows[rows >= 0].astype(np.int32)
    start = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    return {"n": n, "m": m, "start": start, "index": index, "value": np.ones(index.size),
            "lower": np.concatenate(lower), "upper": np.concatenate(upper),
            "cost": g.col_pen.astype(float)}


def _values(h: Any) -> np.ndarray:
    import highspy

    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS: {h.modelStatusToString(h.getModelStatus())}")
    return np.asarray(h.getSolution().col_value)


def _integral(x: np.ndarray) -> np.ndarray | None:
    y = np.rint(x)
    return y.astype(np.int64) if not x.size or np.abs(x - y).max() <= 1e-6 else None


def _split(g: _Groups, demand: np.ndarray, y: np.ndarray,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each group's column volumes onto its hospitals: lay the hospitals' demands and the
    columns' volumes, group by group, on one line each and cut both at every end point."""
    by_group = np.argsort(g.of_h, kind="stable")
    dem_end = np.cumsum(demand[by_group])
    used = np.flatnonzero(y)
    vol_end = np.cumsum(y[used])
    ends = np.union1d(dem_end, vol_end)
    starts = np.concatenate(([0], ends[:-1]))
    h = by_group[np.searchsorted(dem_end, starts, side="right")]
    c = used[np.searchsorted(vol_end, starts, side="right")]
    order = np.lexsort((g.col_w[c], h))
    return h[order], g.col_w[c][order], (ends - starts)[order]


def solve_product(p: Product,
                  ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], int, str, int]:
    """((hospital, winner, volume) cells, stage-1 optimum, "lp" | "mip", LP columns)."""
    import highspy

    empty = np.zeros(0, dtype=np.int64)
    if p.col_h.size == 0:
        return (empty, empty, empty), 0, "lp", 0
    g = _groups(p)
    n = g.col_g.size
    h = _highs(_lp(p, g))
    pstar = 0
    pen = np.flatnonzero(g.col_pen > 0).astype(np.int32)
    if pen.size:
        h.run()
        x = _values(h)
        pstar = int(round(float(g.col_pen @ x)))
        if pstar == 0:
            h.changeColsBounds(pen.size, pen, np.zeros(pen.size), np.zeros(pen.size))
        else:
            h.addRow(-highspy.kHighsInf, float(pstar), pen.size, pen,
                     g.col_pen[pen].astype(float))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), p.price[g.col_w].astype(float))
    h.run()
    y = _integral(_values(h))
    method = "lp"
    if y is None:
        h.setOptionValue("solver", "choose")
        h.setOptionValue("presolve", "choose")
        h.setOptionValue("mip_rel_gap", 0.0)
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                                np.full(n, highspy.HighsVarType.kInteger))
        h.run()
        y = np.rint(_values(h)).astype(np.int64)
        method = "mip"
    return _split(g, p.demand, y), pstar, method, n


def _solve_one(p: Product) -> tuple[Any, int, str, float, int]:
    t0 = time.perf_counter()
    cells, pstar, method, columns = solve_product(p)
    return cells, pstar, method, time.perf_counter() - t0, columns


def solve_floor(inst: Instance, processes: int) -> tuple[list[Any], dict[str, Any]]:
    """Every product, biggest first, over ``processes`` forked workers."""
    by_size = sorted(range(len(inst.products)), key=lambda i: -inst.products[i].col_h.size)
    if processes <= 1:
        out = {i: _solve_one(inst.products[i]) for i in by_size}
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(processes) as pool:
            done = pool.map(_solve_one, [inst.products[i] for i in by_size], chunksize=1)
        out = dict(zip(by_size, done, strict=True))
    methods: dict[str, int] = {}
    for r in out.values():
        methods[r[2]] = methods.get(r[2], 0) + 1
    return [out[i][0] for i in range(len(inst.products))], {
        "stage1_optimum": sum(out[i][1] for i in out), "methods": methods,
        "columns": sum(out[i][4] for i in out),
        "product_solve_wall_s_summed": round(sum(out[i][3] for i in out), 3)}


def write_output(path: Path, inst: Instance, cells: list[Any]) -> int:
    """``hospital_code,product_code,enterprise_code,volume`` rows with volume > 0, sorted by
    product, hospital, enterprise; returns the row count."""
    codes = inst.hospital_codes
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("hospital_code,product_code,enterprise_code,volume\n")
        for p, (h, w, v) in zip(inst.products, cells, strict=True):
            hs = p.hospitals[h].tolist()
            ents = p.enterprises
            fh.writelines(f"{codes[a]},{p.code},{ents[b]},{c}\n"
                          for a, b, c in zip(hs, w.tolist(), v.tolist(), strict=True))
            n += len(hs)
    return n


def run_floor(input_dir: Path, output: Path, processes: int) -> dict[str, Any]:
    """Read, solve, write: the floor end to end, timed by phase (wall-clock)."""
    t0 = time.perf_counter()
    inst = read_instance(input_dir)
    t1 = time.perf_counter()
    cells, info = solve_floor(inst, processes)
    t2 = time.perf_counter()
    rows = write_output(output, inst, cells)
    t3 = time.perf_counter()
    return {"variables": inst.variables, "rows_out": rows, "processes": processes, **info,
            "read_s": t1 - t0, "solve_wall_s": t2 - t1, "write_s": t3 - t2, "total_s": t3 - t0}


# --- the min-cost-flow reference for stage 1 ------------------------------------------------------

def mcf_product(p: Product) -> int:
    """The least rank penalty of one product as a min-cost flow: hospital → winner arcs
    (cost rank − 1), winner → sink arcs (capacity; a floor is a lower bound, moved into the
    node demands), solved by networkx's network simplex in integers."""
    import networkx as nx

    if p.col_h.size == 0:
        return 0
    g = nx.DiGraph()
    total = int(p.demand.sum())
    for i, d in enumerate(p.demand.tolist()):
        g.add_node(("h", i), demand=-d)
    sink_demand = total
    for w in range(len(p.enterprises)):
        f = int(p.floor[w])
        g.add_node(("w", w), demand=f)
        sink_demand -= f
        attrs: dict[str, int] = {"weight": 0}
        if p.capacity[w] >= 0:
            attrs["capacity"] = int(p.capacity[w]) - f
        g.add_edge(("w", w), "sink", **attrs)
    g.add_node("sink", demand=sink_demand)
    g.add_edges_from((("h", h), ("w", w), {"weight": c}) for h, w, c in zip(
        p.col_h.tolist(), p.col_w.tolist(), p.col_pen.tolist(), strict=True))
    cost, _flow = nx.network_simplex(g)
    return int(cost)


def _mcf_one(p: Product) -> tuple[int, float]:
    t0 = time.perf_counter()
    return mcf_product(p), time.perf_counter() - t0


def run_mcf(input_dir: Path, processes: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    inst = read_instance(input_dir)
    t1 = time.perf_counter()
    if processes <= 1:
        done = [_mcf_one(p) for p in inst.products]
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(processes) as pool:
            done = pool.map(_mcf_one, inst.products, chunksize=1)
    t2 = time.perf_counter()
    return {"stage1_optimum": sum(c for c, _ in done), "read_s": t1 - t0,
            "solve_wall_s": t2 - t1, "total_s": t2 - t0, "processes": processes,
            "product_solve_wall_s_summed": round(sum(s for _, s in done), 3)}


# --- checking an output file ----------------------------------------------------------------------

def check(inst: Instance, output: Path) -> dict[str, Any]:
    """Verify ``output`` against the instance; the rank penalty and the total cost in price
    units (Σ volume × unit price × 10⁴, exact), and the cost as yuan text."""
    h_index = {h: i for i, h in enumerate(inst.hospital_codes)}
    p_index = {p.code: i for i, p in enumerate(inst.products)}
    o_h, o_p, o_e, o_v = _table(output, ("hospital_code", "product_code", "enterprise_code",
                                         "volume"))
    by_product: dict[int, list[int]] = {}
    for k, p in enumerate(o_p):
        by_product.setdefault(p_index[p], []).append(k)
    problems: list[str] = []
    penalty = 0
    cost = 0
    for pi, p in enumerate(inst.products):
        ks = by_product.get(pi, [])
        e_index = {e: i for i, e in enumerate(p.enterprises)}
        loc_of = {int(h): i for i, h in enumerate(p.hospitals.tolist())}
        hh = np.array([loc_of.get(h_index[o_h[k]], -1) for k in ks], dtype=np.int64)
        ww = np.array([e_index.get(o_e[k], -1) for k in ks], dtype=np.int64)
        vv = np.array([int(o_v[k]) for k in ks], dtype=np.int64)
        if (hh < 0).any() or (ww < 0).any() or (vv <= 0).any():
            problems.append(f"{p.code}: unknown hospital or winner, or volume ≤ 0")
            continue
        n_w = max(len(p.enterprises), 1)
        col_key = p.col_h * n_w + p.col_w
        out_key = hh * n_w + ww
        pos = np.searchsorted(col_key, out_key)
        ok = (pos < col_key.size) & (col_key[np.minimum(pos, col_key.size - 1)] == out_key)
        if not ok.all():
            problems.append(f"{p.code}: {int((~ok).sum())} rows on pairs not allowed")
            continue
        got = np.bincount(hh, weights=vv, minlength=p.hospitals.size).astype(np.int64)
        if not np.array_equal(got, p.demand):
            problems.append(f"{p.code}: demand not met exactly")
        load = np.bincount(ww, weights=vv, minlength=len(p.enterprises)).astype(np.int64)
        capped = p.capacity >= 0
        if (load[capped] > p.capacity[capped]).any():
            problems.append(f"{p.code}: over capacity")
        if (load < p.floor).any():
            problems.append(f"{p.code}: below a share floor")
        penalty += int(p.col_pen[pos] @ vv)
        cost += sum(int(v) * int(c) for v, c in zip(vv.tolist(), p.price[ww].tolist(),
                                                     strict=True))
    yuan = f"{cost // PRICE_SCALE}.{cost % PRICE_SCALE:04d}"
    return {"feasible": not problems, "problems": problems[:10], "rank_penalty": penalty,
            "total_cost_price_units": cost, "total_cost_yuan": yuan}


def default_processes() -> int:
    return os.cpu_count() or 1
