"""Allocation of agreed volume (约定采购量分配): the transportation LP of DOMAIN.md §2.

Pure: no database, no Flask. Input is a :class:`Problem` of demands (hospital × product ×
volume), winners (product × enterprise with unit price, capacity and share floor) and hospital
choices (ranked winners); output is an :class:`Allocation` of whole units per hospital ×
product × enterprise.

Per product, with ``x[h, w]`` the units hospital ``h`` gets from winner ``w`` (integer ≥ 0):

* ``Σ_w x[h, w] = demand[h]`` — every hospital's volume is placed, exactly;
* ``Σ_h x[h, w] ≤ capacity[w]`` — when the winner declared a capacity;
* ``x[h, w] = 0`` unless ``w`` is among the winners ``h`` listed for the product (a
  hospital-product without choice rows may receive from every winner of the product);
* ``Σ_h x[h, w] ≥ ceil(min_share[w] × Σ_h demand[h])`` — share floors, exact in Decimal;
* lexicographic objective: first the least rank penalty ``Σ (rank − 1) · x`` (unranked pairs
  count 0), then, with ``Σ penalty · x ≤`` that optimum as a constraint, the least cost
  ``Σ price · x``.

How it is solved
----------------
Products are independent, so each is its own pair of small LPs (the biggest lever), solved in
parallel across processes when there are many (:func:`solve`).

Within a product, hospitals that may receive from exactly the same winners with the same ranks
(in particular every hospital without choice rows) are interchangeable: both objectives and
every capacity and floor depend only on their total. They form one *group*, with one demand row
and one column per allowed winner; after solving, each group's volumes are split back onto its
hospitals by the north-west corner rule (hospitals in code order take the group's winners in
enterprise-code order), which is always integral and feasible. The national benchmark instance
shrinks from 2.8 million hospital × winner variables to about 62,000 columns this way; with no
two hospitals alike it is simply the per-hospital model (``aggregate=False`` forces that).

Stage 1 is a transportation problem, so its optimal vertex is integral. In exact arithmetic so
is stage 2's — the penalty row is a supporting hyperplane of the stage-1 polytope — but a
solver works with tolerances, so the stage-2 solution is checked (integral within 1e-6, then
demand, capacities, floors and the penalty re-checked in integer arithmetic) and the product is
re-solved with integer variables only when the check fails. When the stage-1 optimum is 0 the
penalty row is replaced by upper bounds of 0 on the penalised pairs, which keeps stage 2 a pure
transportation problem.

Cost coefficients are the prices scaled to integers (price × 10⁴, exact in a double); money
reported in the result (``total_cost_fen``) is computed afterwards from the integral volumes,
one line per output row, by the line-amount rule (:func:`core.money.line_amount_fen`) in its
integer form for many lines (:func:`core.money.line_amounts_total_fen`).

The model of each product is written in PuLP, in bulk: one ``LpAffineExpression`` per row from a
list of ``(variable, coefficient)`` pairs, the rows added with ``LpProblem.extend``. It is solved
by :class:`HighsBulk`, a small PuLP solver adapter that reads the PuLP problem and hands HiGHS
the whole row-wise matrix in one ``passModel`` call (PuLP's own HiGHS interface adds columns and
rows one call at a time): interior point with crossover, presolve off (HiGHS's presolve took
2 s of a 2.2 s solve on a 40,000-column product). CBC through PuLP (``solver="cbc"``) is the
fallback when ``highspy`` is not installed.

Determinism
-----------
Identical input gives identical output: everything is sorted (products, hospitals and
enterprises by code; columns by group, then enterprise), each product is solved on its own with
the same single-threaded HiGHS options whatever the process count, and the result is then made
canonical for the common kind of tie: when a group's volume is split between winners of the
same price and the same rank, volume is moved towards the enterprise whose code sorts first, as
far as capacities and floors allow (one greedy pass in group order; it changes neither penalty
nor cost), and within a group the split onto hospitals is the north-west corner rule. Other
alternative optima (two groups swapping winners) are left as the deterministic solver returns
them, so CBC may return a different allocation of the same penalty and cost. Row order of the
input does not matter.

Infeasibility is diagnosed in words per product: cheap checks first (no allowed winner, demand
above total capacity, floors above demand or capacity or above the demand that may reach the
winner), then, when the LP is still infeasible, an elastic LP (shortfall variables on demand
and floors) that names the hospitals that cannot be served, the winners they are limited to
and how many units are short.
"""
from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Context, Decimal
from operator import attrgetter
from typing import Any, Literal

import numpy as np
import pulp

from core.money import line_amount_fen, line_amounts_total_fen

try:  # HiGHS is optional at run time: CBC through PuLP is the fallback.
    import highspy
except ImportError:  # pragma: no cover - exercised only where highspy is missing
    highspy = None

__all__ = [
    "Allocation",
    "Choice",
    "Demand",
    "GroupedProblem",
    "HighsBulk",
    "Problem",
    "ProblemError",
    "ProductStats",
    "Winner",
    "highspy_available",
    "highspy_floor",
    "naive_build",
    "solve",
]

#: Prices are coefficients in units of 1/10,000 yuan (4 decimal places), exact integers.
PRICE_SCALE = 10_000
#: A solution value farther than this from an integer counts as fractional.
INTEGRALITY_TOL = 1e-6
#: Products are solved in worker processes (when ``processes`` is not given) only from this
#: many LP columns or this many hospital × winner pairs in total: below that, starting the
#: workers costs more than it saves (the provincial instance, 18,000 columns after grouping,
#: is faster in one process).
PARALLEL_MIN_COLUMNS = 50_000
PARALLEL_MIN_PAIRS = 500_000
#: At most this many lines of diagnosis per product and kind of problem.
MAX_LINES = 10

_DEC = Context(prec=60)


# --------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Demand:
    """A hospital's agreed volume of one product, in whole (smallest) units."""

    hospital: str
    product: str
    volume: int


@dataclass(frozen=True, slots=True)
class Winner:
    """A winning enterprise of a product: unit price in yuan (≤ 4 places), capacity in units
    (``None`` = unlimited) and share floor as a fraction 0–1 of the product's total demand;
    ``min_units`` is a floor in whole units (the platform's pool rule sets it), and the larger
    of the two floors applies."""

    product: str
    enterprise: str
    unit_price: Decimal
    capacity: int | None = None
    min_share: Decimal = Decimal(0)
    min_units: int = 0


@dataclass(frozen=True, slots=True)
class Choice:
    """A hospital's acceptance of a winner for a product, ``rank`` 1 = first choice."""

    hospital: str
    product: str
    enterprise: str
    rank: int


@dataclass(frozen=True)
class Problem:
    """The input of :func:`solve`; any iterables, kept as tuples."""

    demands: Sequence[Demand]
    winners: Sequence[Winner]
    choices: Sequence[Choice] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "demands", tuple(self.demands))
        object.__setattr__(self, "winners", tuple(self.winners))
        object.__setattr__(self, "choices", tuple(self.choices))


@dataclass(frozen=True)
class ProductStats:
    """What happened to one product."""

    product: str
    status: Literal["optimal", "infeasible"]
    hospitals: int
    winners: int
    #: allowed hospital × winner pairs (the x[h, w] of the formulation)
    variables: int
    #: LP columns after merging hospitals with identical choices
    columns: int
    rank_penalty: int | None
    total_cost_fen: int | None
    #: ``"lp"`` (stage-2 LP was integral), ``"mip"`` (re-solved with integer variables),
    #: ``"none"`` (nothing to solve or infeasible before solving)
    method: str
    solver: str
    build_seconds: float
    solve_seconds: float


@dataclass(frozen=True)
class Allocation:
    """The result of :func:`solve`.

    ``rows`` are ``(hospital, product, enterprise, volume)`` with volume > 0, sorted by product,
    then hospital, then enterprise. When any product is infeasible ``status`` is
    ``"infeasible"``, ``rows`` is empty, the totals are ``None`` and ``diagnosis`` says why.
    """

    rows: list[tuple[str, str, str, int]]
    status: Literal["optimal", "infeasible"]
    rank_penalty: int | None
    total_cost_fen: int | None
    products: int
    #: allowed hospital × winner pairs over all products (the x[h, w] of the formulation)
    variables: int
    seconds: float
    diagnosis: list[str] = field(default_factory=list)
    #: LP columns actually solved (after merging hospitals with identical choices)
    columns: int = 0
    per_product: tuple[ProductStats, ...] = ()
    #: seconds spent preparing the arrays in this process (grouping, sorting)
    prepare_seconds: float = 0.0
    #: seconds summed over products (in whichever process solved them)
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    processes: int = 1
    #: the largest peak resident set of a worker process (KiB; 0 when none was used)
    worker_max_rss_kib: int = 0


class ProblemError(ValueError):
    """The problem itself is malformed (a programming or input error, not infeasibility)."""


def highspy_available() -> bool:
    return highspy is not None


# --------------------------------------------------------------------------------------------
# Preparation: group by product, sort, merge hospitals with identical choices, index arrays
# --------------------------------------------------------------------------------------------

@dataclass
class _ProductData:
    """One product as arrays (picklable, compact).

    Hospitals are sorted by code, winners by enterprise code. Hospitals that may receive from
    exactly the same winners with the same ranks are one *group*: the LP has one row and one
    column per (group, allowed winner), because such hospitals are interchangeable — both
    objectives and every capacity and floor depend only on the group's totals, and any group
    total splits back onto its hospitals integrally (:func:`_disaggregate`). LP columns are
    sorted by group, then winner; groups are numbered in the order of their first hospital.
    """

    product: str
    hospitals: list[str]
    demand: np.ndarray        # int64 [n_h], all > 0
    group_of_h: np.ndarray    # int32 [n_h]
    g_demand: np.ndarray      # int64 [n_g]
    g_restricted: np.ndarray  # bool [n_g]: the group's hospitals listed choices
    enterprises: list[str]
    prices: list[Decimal]
    price_units: np.ndarray   # int64 [n_w], price × 10^4
    capacity: np.ndarray      # int64 [n_w], -1 = unlimited
    floor: np.ndarray         # int64 [n_w]
    var_g: np.ndarray         # int32 [n_v]
    var_w: np.ndarray         # int32 [n_v]
    var_pen: np.ndarray       # int64 [n_v]
    total_demand: int
    #: hospital × winner pairs allowed (the x[h, w] of the formulation)
    n_pairs: int

    @property
    def n_vars(self) -> int:
        return int(self.var_g.size)

    @property
    def n_groups(self) -> int:
        return int(self.g_demand.size)

    def members(self, g: int) -> list[str]:
        return [self.hospitals[h] for h in np.flatnonzero(self.group_of_h == g).tolist()]


def _check_int(value: Any, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProblemError(f"{what} must be an int ≥ {minimum}, got {value!r}")
    return value


@dataclass
class GroupedProblem:
    """A problem grouped by product, the form :func:`solve` works from.

    ``winners[product][enterprise]``, ``demand[product][hospital] = volume`` and
    ``choices[product][hospital][enterprise] = rank``. Build it with
    :meth:`from_problem` (which validates), or directly when the input was validated already —
    the offline-solve reader does that as it reads, to avoid a Python object per row.
    """

    winners: dict[str, dict[str, Winner]]
    demand: dict[str, dict[str, int]]
    choices: dict[str, dict[str, dict[str, int]]]

    @classmethod
    def from_problem(cls, problem: Problem) -> GroupedProblem:
        """Group and validate; raises :class:`ProblemError`."""
        winners: dict[str, dict[str, Winner]] = {}
        places = Decimal("0.0001")
        for w in problem.winners:
            by_ent = winners.setdefault(w.product, {})
            if w.enterprise in by_ent:
                raise ProblemError(f"duplicate winner {w.enterprise} of product {w.product}")
            price = w.unit_price
            if not isinstance(price, Decimal) or not price.is_finite() or price < 0 \
                    or price != price.quantize(places):
                raise ProblemError(f"unit price of {w.enterprise} for {w.product} must be a "
                                   f"Decimal ≥ 0 with at most 4 places, got {price!r}")
            if w.capacity is not None:
                _check_int(w.capacity, f"capacity of {w.enterprise} for {w.product}")
            _check_int(w.min_units, f"min_units of {w.enterprise} for {w.product}")
            if not isinstance(w.min_share, Decimal) or not (0 <= w.min_share <= 1):
                raise ProblemError(f"min_share of {w.enterprise} for {w.product} must be a "
                                   f"Decimal from 0 to 1, got {w.min_share!r}")
            by_ent[w.enterprise] = w

        demand: dict[str, dict[str, int]] = {}
        for d in problem.demands:
            by_h = demand.get(d.product)
            if by_h is None:
                by_h = demand[d.product] = {}
            _check_int(d.volume, f"volume of {d.hospital} for {d.product}")
            n = len(by_h)
            by_h[d.hospital] = d.volume
            if len(by_h) == n:
                raise ProblemError(f"duplicate demand of {d.hospital} for {d.product}")

        choices: dict[str, dict[str, dict[str, int]]] = {}
        for c in problem.choices:
            _check_int(c.rank, f"rank of {c.enterprise} by {c.hospital} for {c.product}", 1)
            if c.enterprise not in winners.get(c.product, ()):
                raise ProblemError(f"{c.hospital} chose {c.enterprise} for {c.product}, "
                                   f"which is not a winner of that product")
            listed = choices.setdefault(c.product, {}).setdefault(c.hospital, {})
            if c.enterprise in listed:
                raise ProblemError(f"duplicate choice of {c.enterprise} by {c.hospital} "
                                   f"for {c.product}")
            listed[c.enterprise] = c.rank
        return cls(winners, demand, choices)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small acyclic containers are
    built: otherwise its full collections walk every one of them again and again (it halves
    :func:`_prepare` on the national instance). Nothing built here forms cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _prepare(problem: Problem | GroupedProblem, aggregate: bool = True) -> list[_ProductData]:
    """Turn the problem into per-product arrays, products sorted by code."""
    with _gc_paused():
        grouped = (problem if isinstance(problem, GroupedProblem)
                   else GroupedProblem.from_problem(problem))
        winners, demand, choices = grouped.winners, grouped.demand, grouped.choices
        return [_product_arrays(product, winners.get(product, {}), demand.get(product, {}),
                                choices.get(product, {}), aggregate)
                for product in sorted(set(winners) | set(demand))]


def _product_arrays(product: str, winners: dict[str, Winner], demand: dict[str, int],
                    choices: dict[str, dict[str, int]], aggregate: bool) -> _ProductData:
    ents = sorted(winners)
    w_index = {e: i for i, e in enumerate(ents)}
    n_w = len(ents)
    items = sorted(demand.items())
    hosp = [h for h, v in items if v > 0]
    dem = np.array([v for _, v in items if v > 0], dtype=np.int64)
    total = int(dem.sum())
    prices = [winners[e].unit_price for e in ents]
    price_units = np.array([int(p.scaleb(4)) for p in prices], dtype=np.int64)
    capacity = np.array([-1 if winners[e].capacity is None else winners[e].capacity
                         for e in ents], dtype=np.int64)
    floor = np.array([max(winners[e].min_units,
                          int(_DEC.multiply(winners[e].min_share, Decimal(total))
                              .to_integral_value(rounding=ROUND_CEILING))) for e in ents],
                     dtype=np.int64)
    # A hospital's key: the set of its (enterprise, rank) choices, None = every winner; as a
    # row of a matrix: rank per winner (0 = not listed) and a last cell 1 for "None".
    # Hospitals with equal rows form one group; groups are numbered by first hospital.
    listed = [choices.get(h) for h in hosp]
    lengths = np.array([0 if c is None else len(c) for c in listed], dtype=np.int64)
    keys = np.zeros((len(hosp), n_w + 1), dtype=np.int64)
    keys[[c is None for c in listed], n_w] = 1
    if lengths.any():
        rows = np.repeat(np.arange(len(hosp)), lengths)
        cols = np.array([w_index[e] for c in listed if c for e in c], dtype=np.int64)
        keys[rows, cols] = [r for c in listed if c for r in c.values()]
    del listed
    if aggregate and len(hosp):
        base = int(keys.max()) + 1
        if base ** (n_w + 1) < 2**62:  # each row as one number: a 1-D unique is much faster
            flat = keys @ (base ** np.arange(n_w, -1, -1, dtype=np.int64))
            _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
        else:
            _, first, inverse = np.unique(keys, axis=0, return_index=True,
                                          return_inverse=True)
        by_first = np.argsort(first, kind="stable")
        renumber = np.empty_like(by_first)
        renumber[by_first] = np.arange(by_first.size)
        group_of_h = renumber[inverse.reshape(-1)].astype(np.int32)
        g_keys = keys[first[by_first]]
    else:
        group_of_h = np.arange(len(hosp), dtype=np.int32)
        g_keys = keys
    del keys
    unrestricted = g_keys[:, n_w] == 1
    allowed = g_keys[:, :n_w] > 0
    allowed[unrestricted] = True
    g_idx, w_idx = np.nonzero(allowed)  # by group, then winner: the column order
    sizes = np.bincount(group_of_h, minlength=len(g_keys))
    n_pairs = int(sizes @ allowed.sum(axis=1))
    var_pen = np.where(unrestricted[g_idx], 0, g_keys[g_idx, w_idx] - 1)
    g_demand = (np.bincount(group_of_h, weights=dem, minlength=len(g_keys)).astype(np.int64)
                if len(hosp) else np.zeros(0, dtype=np.int64))
    return _ProductData(
        product=product, hospitals=hosp, demand=dem, group_of_h=group_of_h, g_demand=g_demand,
        g_restricted=~unrestricted, enterprises=ents,
        prices=prices, price_units=price_units, capacity=capacity, floor=floor,
        var_g=g_idx.astype(np.int32), var_w=w_idx.astype(np.int32),
        var_pen=var_pen.astype(np.int64), total_demand=total, n_pairs=n_pairs)


def _disaggregate(pd: _ProductData, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split each group's volumes onto its hospitals (north-west corner rule, integral):
    hospitals in code order take the group's winners in enterprise-code order. Returns
    (hospital index, winner index, volume) of the nonzero cells, sorted by hospital, winner."""
    order_h = np.argsort(pd.group_of_h, kind="stable")
    dem_end = np.cumsum(pd.demand[order_h])
    nz = np.flatnonzero(y)
    sup_end = np.cumsum(y[nz])
    # both partitions cover each group's block [start, start + group demand) of one line
    ends = np.union1d(dem_end, sup_end)
    starts = np.concatenate(([0], ends[:-1]))
    h = order_h[np.searchsorted(dem_end, starts, side="right")]
    w = pd.var_w[nz[np.searchsorted(sup_end, starts, side="right")]]
    vol = ends - starts
    order = np.lexsort((w, h))
    return h[order].astype(np.int32), w[order].astype(np.int32), vol[order].astype(np.int64)


# --------------------------------------------------------------------------------------------
# The LP of one product as arrays (row-wise), shared by every engine
# --------------------------------------------------------------------------------------------

@dataclass
class _Rows:
    """Rows in CSR form with bounds and names."""

    start: np.ndarray   # int32 [m + 1]
    index: np.ndarray   # int32 [nnz]
    value: np.ndarray   # float64 [nnz]
    lower: np.ndarray   # float64 [m]
    upper: np.ndarray   # float64 [m]
    names: list[str]


def _group_bounds(pd: _ProductData) -> np.ndarray:
    counts = np.bincount(pd.var_g, minlength=pd.n_groups)
    return np.concatenate(([0], np.cumsum(counts))).astype(np.int64)


def _base_rows(pd: _ProductData, elastic: bool = False) -> _Rows:
    """Demand rows (= demand), capacity rows (≤ capacity) and floor rows (≥ floor).

    With ``elastic``, a shortfall column follows the x columns for every group and then for
    every floor (column indices ``n_v + g`` and ``n_v + n_g + k``).
    """
    n_v, n_g = pd.n_vars, pd.n_groups
    inf = math.inf
    gb = _group_bounds(pd)
    if elastic:
        # each demand row gets its own shortfall column at its end
        ends = gb[1:] + np.arange(1, n_g + 1)
        idx = np.empty(n_v + n_g, dtype=np.int32)
        is_x = np.ones(n_v + n_g, dtype=bool)
        is_x[ends - 1] = False
        idx[is_x] = np.arange(n_v, dtype=np.int32)
        idx[ends - 1] = n_v + np.arange(n_g, dtype=np.int32)
        starts = [np.concatenate(([0], ends))]
        indexes = [idx]
    else:
        starts = [gb]
        indexes = [np.arange(n_v, dtype=np.int32)]
    lower = [pd.g_demand.astype(float)]
    upper = [pd.g_demand.astype(float)]
    names = [f"demand_{g}" for g in range(n_g)]
    nnz = int(starts[0][-1])
    order = np.argsort(pd.var_w, kind="stable").astype(np.int32)
    wb = np.concatenate(([0], np.cumsum(np.bincount(pd.var_w, minlength=len(pd.enterprises)))))
    n_floor = 0
    for w in range(len(pd.enterprises)):
        cols = order[wb[w]:wb[w + 1]]
        if pd.capacity[w] >= 0:
            indexes.append(cols)
            nnz += cols.size
            starts.append(np.array([nnz]))
            lower.append(np.array([-inf]))
            upper.append(np.array([float(pd.capacity[w])]))
            names.append(f"capacity_{w}")
        if pd.floor[w] > 0:
            if elastic:
                cols = np.concatenate((cols, [n_v + n_g + n_floor])).astype(np.int32)
                n_floor += 1
            indexes.append(cols)
            nnz += cols.size
            starts.append(np.array([nnz]))
            lower.append(np.array([float(pd.floor[w])]))
            upper.append(np.array([inf]))
            names.append(f"floor_{w}")
    index = np.concatenate(indexes).astype(np.int32)
    return _Rows(start=np.concatenate(starts).astype(np.int32), index=index,
                 value=np.ones(index.size), lower=np.concatenate(lower),
                 upper=np.concatenate(upper), names=names)


# --------------------------------------------------------------------------------------------
# HiGHS options shared by every engine
# --------------------------------------------------------------------------------------------

def _highs_options(mip: bool) -> dict[str, Any]:
    opts: dict[str, Any] = {"output_flag": False, "threads": 1, "random_seed": 0}
    if mip:
        opts.update(solver="choose", presolve="choose", mip_rel_gap=0.0, mip_abs_gap=1e-9)
    else:
        # Interior point with crossover: faster than simplex on these LPs, and the crossover
        # returns a vertex (without it the solutions come back half-integer). Presolve off:
        # on a per-hospital model of 40,000 columns HiGHS spends ~2 s in presolve (97% of the
        # run) against ~0.25 s for the whole IPM solve without it.
        opts.update(solver="ipm", run_crossover="on", presolve="off")
    return opts


def _new_highs(mip: bool) -> Any:
    h = highspy.Highs()
    for key, value in _highs_options(mip).items():
        h.setOptionValue(key, value)
    return h


# --------------------------------------------------------------------------------------------
# PuLP solver adapter: the whole matrix to HiGHS at once
# --------------------------------------------------------------------------------------------

_get_lb = attrgetter("lowBound")
_get_ub = attrgetter("upBound")
_get_col = attrgetter("_hb_col")
_get_value = attrgetter("varValue")


class HighsBulk(pulp.LpSolver):
    """A PuLP solver that passes HiGHS the whole model in one call.

    PuLP's stock ``HiGHS`` adds every column and row with its own ``addCol``/``addRow`` call;
    this adapter reads the PuLP problem (objective, variables with bounds and categories,
    constraints) into row-wise arrays and calls ``Highs.passModel`` once, then writes the
    solution back into the variables (``varValue``) and the problem status, as any PuLP solver
    does. ``columns`` fixes the column order (and saves PuLP's sort of variables by name) and
    must hold every variable the problem uses; without it ``lp.variables()`` is used.
    """

    name = "HighsBulk"

    def __init__(self, columns: Sequence[pulp.LpVariable] | None = None, mip: bool = True,
                 msg: bool = False, **options: Any) -> None:
        super().__init__(mip=mip, msg=msg)
        self.columns = columns
        self.highs_options = options
        self.highs = None

    def available(self) -> bool:
        return highspy is not None

    def actualSolve(self, lp: pulp.LpProblem, **kwargs: Any) -> int:  # noqa: N802 (PuLP API)
        if highspy is None:
            raise pulp.PulpSolverError("HighsBulk: highspy is not installed")
        cols = list(self.columns) if self.columns is not None else lp.variables()
        n = len(cols)
        for i, v in enumerate(cols):
            v._hb_col = i
        inf = highspy.kHighsInf
        lower = np.array([-inf if b is None else b for b in map(_get_lb, cols)], dtype=float)
        upper = np.array([inf if b is None else b for b in map(_get_ub, cols)], dtype=float)
        cost = np.zeros(n)
        offset = 0.0
        if lp.objective is not None:
            obj = lp.objective
            cost[list(map(_get_col, obj.keys()))] = list(obj.values())
            offset = float(obj.constant)
        if lp.sense == pulp.LpMaximize:
            cost = -cost
            offset = -offset
        index: list[int] = []
        value: list[float] = []
        start = [0]
        row_lo: list[float] = []
        row_up: list[float] = []
        for c in lp.constraints():
            index.extend(map(_get_col, c.keys()))
            value.extend(c.values())
            start.append(len(index))
            lb, ub = c.getLb(), c.getUb()
            row_lo.append(-inf if lb is None else lb)
            row_up.append(inf if ub is None else ub)
        integrality = np.zeros(n, dtype=np.int32)
        if self.mip:
            integrality[[i for i, v in enumerate(cols) if v.cat == pulp.LpInteger]] = \
                int(highspy.HighsVarType.kInteger)
        mip = bool(integrality.any())
        h = _new_highs(mip=mip)
        for key, val in self.highs_options.items():
            h.setOptionValue(key, val)
        if self.msg:
            h.setOptionValue("output_flag", True)
        passed = h.passModel(n, len(row_lo), len(index), int(highspy.MatrixFormat.kRowwise),
                             int(highspy.ObjSense.kMinimize), offset, cost, lower, upper,
                             np.array(row_lo, dtype=float), np.array(row_up, dtype=float),
                             np.array(start, dtype=np.int32), np.array(index, dtype=np.int32),
                             np.array(value, dtype=float), integrality)
        if passed == highspy.HighsStatus.kError:
            raise pulp.PulpSolverError("HighsBulk: HiGHS rejected the model")
        h.run()
        status = h.getModelStatus()
        self.highs = h
        if status == highspy.HighsModelStatus.kOptimal:
            values = h.getSolution().col_value
            for v, x in zip(cols, values, strict=True):
                v.varValue = x
            lp.assignStatus(pulp.LpStatusOptimal, pulp.LpSolutionOptimal)
            return pulp.LpStatusOptimal
        if status in (highspy.HighsModelStatus.kInfeasible,
                      highspy.HighsModelStatus.kUnboundedOrInfeasible):
            lp.assignStatus(pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible)
            return pulp.LpStatusInfeasible
        if status == highspy.HighsModelStatus.kUnbounded:
            lp.assignStatus(pulp.LpStatusUnbounded, pulp.LpSolutionUnbounded)
            return pulp.LpStatusUnbounded
        lp.assignStatus(pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound)
        return pulp.LpStatusNotSolved


def _cbc_solver(mip: bool) -> pulp.LpSolver:
    # COIN_CMD pointed at the CBC binary PuLP ships (PULP_CBC_CMD is deprecated for PuLP 4).
    from pulp.apis.coin_api import PULP_CBC_CMD
    return pulp.COIN_CMD(path=PULP_CBC_CMD.pulp_cbc_path, mip=mip, msg=False, threads=1)


# --------------------------------------------------------------------------------------------
# Engines: one product's model, solved for stage 1, stage 2 and (if needed) with integers
# --------------------------------------------------------------------------------------------

class _Infeasible(Exception):
    pass


class _PulpEngine:
    """The product's model in PuLP, built in bulk from the arrays."""

    def __init__(self, pd: _ProductData, solver: str, elastic: bool = False) -> None:
        self.pd = pd
        self.solver = solver
        self.mip = False
        n_v, n_g = pd.n_vars, pd.n_groups
        self.prob = pulp.LpProblem(f"allocation_{'elastic' if elastic else 'x'}",
                                   pulp.LpMinimize)
        add = self.prob.add_variable
        xs = [add(f"x{j}", 0) for j in range(n_v)]
        if elastic:
            xs += [add(f"short_demand_{g}", 0) for g in range(n_g)]
            xs += [add(f"short_floor_{w}", 0) for w in np.flatnonzero(pd.floor > 0)]
        self.xs = xs
        self.rows = rows = _base_rows(pd, elastic=elastic)
        self.prob.extend(self._constraints(rows))
        if elastic:
            shortfalls = xs[n_v:]
            self.prob.setObjective(pulp.LpAffineExpression(
                zip(shortfalls, [1] * len(shortfalls), strict=True)))

    def _constraints(self, rows: _Rows) -> dict[str, pulp.LpConstraint]:
        xs = self.xs
        out = {}
        start = rows.start.tolist()
        index = rows.index.tolist()
        value = rows.value.tolist()
        for r, name in enumerate(rows.names):
            a, b = start[r], start[r + 1]
            expr = pulp.LpAffineExpression(
                zip([xs[j] for j in index[a:b]], value[a:b], strict=True))
            lo, up = rows.lower[r], rows.upper[r]
            if lo == up:
                sense, rhs = pulp.LpConstraintEQ, lo
            elif math.isinf(lo):
                sense, rhs = pulp.LpConstraintLE, up
            else:
                sense, rhs = pulp.LpConstraintGE, lo
            out[name] = pulp.LpConstraint(expr, sense, name, rhs)
        return out

    def _run(self) -> np.ndarray:
        if self.solver == "cbc":
            status = self.prob.solve(_cbc_solver(self.mip))
        else:
            status = self.prob.solve(HighsBulk(columns=self.xs, mip=self.mip))
        if status == pulp.LpStatusInfeasible:
            raise _Infeasible
        if status != pulp.LpStatusOptimal:
            raise RuntimeError(f"product {self.pd.product}: the solver ended with status "
                               f"{pulp.LpStatus.get(status, status)}")
        return np.fromiter(map(_get_value, self.xs), dtype=float, count=len(self.xs))

    def stage1(self) -> np.ndarray:
        pd = self.pd
        self.prob.setObjective(pulp.LpAffineExpression(
            zip(self.xs, pd.var_pen.astype(float).tolist(), strict=True)))
        return self._run()

    def stage2(self, pstar: int | None) -> np.ndarray:
        pd = self.pd
        xs = self.xs
        if pstar is not None:
            pen = np.flatnonzero(pd.var_pen > 0)
            if pstar == 0:
                for j in pen.tolist():
                    xs[j].upBound = 0
            else:
                expr = pulp.LpAffineExpression(
                    zip([xs[j] for j in pen.tolist()],
                        pd.var_pen[pen].astype(float).tolist(), strict=True))
                self.prob.addConstraint(
                    pulp.LpConstraint(expr, pulp.LpConstraintLE, "penalty", float(pstar)))
        cost = pd.price_units[pd.var_w].astype(float)
        self.prob.setObjective(pulp.LpAffineExpression(zip(xs, cost.tolist(), strict=True)))
        return self._run()

    def integer(self) -> np.ndarray:
        for v in self.xs:
            v.cat = pulp.LpInteger
        self.mip = True
        return self._run()

    def elastic(self) -> np.ndarray:
        return self._run()


class _ArrayEngine:
    """The same model handed to highspy straight from numpy arrays (the floor)."""

    def __init__(self, pd: _ProductData, solver: str = "highs", elastic: bool = False) -> None:
        self.pd = pd
        n_v, n_g = pd.n_vars, pd.n_groups
        self.rows = rows = _base_rows(pd, elastic=elastic)
        n_cols = n_v + (n_g + int((pd.floor > 0).sum()) if elastic else 0)
        self.n_cols = n_cols
        self.h = h = _new_highs(mip=False)
        cost = np.zeros(n_cols)
        if elastic:
            cost[n_v:] = 1.0
        passed = h.passModel(n_cols, len(rows.lower), int(rows.index.size),
                             int(highspy.MatrixFormat.kRowwise), int(highspy.ObjSense.kMinimize),
                             0.0, cost, np.zeros(n_cols), np.full(n_cols, highspy.kHighsInf),
                             rows.lower, rows.upper, rows.start, rows.index, rows.value,
                             np.zeros(n_cols, dtype=np.int32))
        if passed == highspy.HighsStatus.kError:
            raise RuntimeError(f"product {pd.product}: HiGHS rejected the model")

    def _run(self) -> np.ndarray:
        self.h.run()
        status = self.h.getModelStatus()
        if status in (highspy.HighsModelStatus.kInfeasible,
                      highspy.HighsModelStatus.kUnboundedOrInfeasible):
            raise _Infeasible
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"product {self.pd.product}: HiGHS ended with status "
                               f"{self.h.modelStatusToString(status)}")
        return np.asarray(self.h.getSolution().col_value, dtype=float)

    def stage1(self) -> np.ndarray:
        pd = self.pd
        self.h.changeColsCost(pd.n_vars, np.arange(pd.n_vars, dtype=np.int32),
                              pd.var_pen.astype(float))
        return self._run()

    def stage2(self, pstar: int | None) -> np.ndarray:
        pd, h = self.pd, self.h
        if pstar is not None:
            pen = np.flatnonzero(pd.var_pen > 0).astype(np.int32)
            if pstar == 0:
                h.changeColsBounds(pen.size, pen, np.zeros(pen.size), np.zeros(pen.size))
            else:
                h.addRow(-highspy.kHighsInf, float(pstar), pen.size, pen,
                         pd.var_pen[pen].astype(float))
        h.changeColsCost(pd.n_vars, np.arange(pd.n_vars, dtype=np.int32),
                         pd.price_units[pd.var_w].astype(float))
        return self._run()

    def integer(self) -> np.ndarray:
        n = self.pd.n_vars
        for key, val in _highs_options(mip=True).items():
            self.h.setOptionValue(key, val)
        self.h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                                     np.full(n, highspy.HighsVarType.kInteger))
        return self._run()

    def elastic(self) -> np.ndarray:
        return self._run()


# --------------------------------------------------------------------------------------------
# One product, end to end
# --------------------------------------------------------------------------------------------

@dataclass
class _ProductResult:
    product: str
    status: Literal["optimal", "infeasible"]
    #: the nonzero cells when optimal: hospital index, winner index, volume (sorted)
    cells: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    rank_penalty: int | None
    total_cost_fen: int | None
    diagnosis: list[str]
    method: str
    solver: str
    build_seconds: float
    solve_seconds: float
    max_rss_kib: int = 0


def _fmt(n: int) -> str:
    return f"{n:,}"


def _names(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _winner_text(pd: _ProductData, w: int) -> str:
    cap = pd.capacity[w]
    return f"{pd.enterprises[w]} (capacity {'unlimited' if cap < 0 else _fmt(int(cap))})"


def _cheap_diagnosis(pd: _ProductData) -> list[str]:
    """Reasons the product cannot be allocated that need no solver."""
    p = pd.product
    out: list[str] = []
    if not pd.enterprises:
        if pd.total_demand:
            out.append(f"product {p}: no winner, but {len(pd.hospitals)} hospital(s) demand "
                       f"{_fmt(pd.total_demand)} units ({_names(pd.hospitals)})")
        return out
    gb = _group_bounds(pd)
    cap = pd.capacity
    # groups whose every allowed winner has capacity 0
    usable = (cap[pd.var_w] != 0).astype(np.int64)
    per_g = np.add.reduceat(usable, gb[:-1]) if pd.n_vars else np.zeros(0, dtype=np.int64)
    lines = 0
    stuck_hospitals = 0
    for g in np.flatnonzero(per_g == 0).tolist():
        ws = pd.var_w[gb[g]:gb[g + 1]].tolist()
        named = "choices name" if pd.g_restricted[g] else "winners are"
        listed = ", ".join(_winner_text(pd, w) for w in ws)
        for h in np.flatnonzero(pd.group_of_h == g).tolist():
            stuck_hospitals += 1
            if lines < MAX_LINES:
                lines += 1
                out.append(f"hospital {pd.hospitals[h]} product {p}: no allowed winner with "
                           f"capacity for its {_fmt(int(pd.demand[h]))} units ({named} "
                           f"{listed})")
    if stuck_hospitals > lines:
        out.append(f"product {p}: … and {stuck_hospitals - lines} more hospital(s) with no "
                   f"allowed winner with capacity")
    total = pd.total_demand
    if (cap >= 0).all() and int(cap.sum()) < total:
        out.append(f"product {p}: demand {_fmt(total)} units, capacity {_fmt(int(cap.sum()))} "
                   f"— {_fmt(total - int(cap.sum()))} units short")
    floors = int(pd.floor.sum())
    if floors > total:
        out.append(f"product {p}: share floors sum to {_fmt(floors)} units, above the total "
                   f"demand of {_fmt(total)} — {_fmt(floors - total)} units too many")
    reach = np.zeros(len(pd.enterprises), dtype=np.int64)
    np.add.at(reach, pd.var_w, pd.g_demand[pd.var_g])
    for w in np.flatnonzero(pd.floor > 0).tolist():
        f = int(pd.floor[w])
        if 0 <= cap[w] < f:
            out.append(f"product {p}, winner {pd.enterprises[w]}: share floor {_fmt(f)} units "
                       f"above its capacity {_fmt(int(cap[w]))} — {_fmt(f - int(cap[w]))} "
                       f"units short")
        elif reach[w] < f:
            out.append(f"product {p}, winner {pd.enterprises[w]}: share floor {_fmt(f)} units, "
                       f"but the hospitals allowed to receive from it demand only "
                       f"{_fmt(int(reach[w]))} — {_fmt(f - int(reach[w]))} units short")
    return out


def _elastic_diagnosis(pd: _ProductData, engine_cls: type, solver: str) -> list[str]:
    """Minimise the shortfall on demand and floors; name who is short and by how much."""
    p = pd.product
    generic = [f"product {p}: no allocation satisfies demand, capacities, choices and "
               f"floors together"]
    try:
        values = engine_cls(pd, solver, elastic=True).elastic()
    except _Infeasible:  # pragma: no cover - the elastic LP is always feasible
        return generic
    n_v, n_g = pd.n_vars, pd.n_groups
    y = np.rint(values[:n_v]).astype(np.int64)
    short_g = np.rint(values[n_v:n_v + n_g]).astype(np.int64)
    short_f = np.rint(values[n_v + n_g:]).astype(np.int64)
    total_short = int(short_g.sum() + short_f.sum())
    if total_short == 0:  # pragma: no cover - infeasible only within tolerances
        return generic
    out = [f"product {p}: {_fmt(total_short)} units short in total"]
    load = np.zeros(len(pd.enterprises), dtype=np.int64)
    np.add.at(load, pd.var_w, y)
    gb = _group_bounds(pd)
    short = np.flatnonzero(short_g > 0)
    for g in short[np.argsort(-short_g[short], kind="stable")][:MAX_LINES].tolist():
        ws = pd.var_w[gb[g]:gb[g + 1]].tolist()
        caps = [int(pd.capacity[w]) for w in ws]
        cap_text = ("" if any(c < 0 for c in caps)
                    else f", whose capacity totals {_fmt(sum(caps))} units")
        full = [pd.enterprises[w] for w in ws
                if pd.capacity[w] >= 0 and load[w] >= pd.capacity[w]]
        full_text = f" ({_names(full)} at capacity)" if full else ""
        members = pd.members(g)
        scope = "may receive only from" if pd.g_restricted[g] else "may receive from"
        if len(members) == 1:
            who = f"hospital {members[0]} product {p}: demand"
        else:
            who = f"product {p}: {len(members)} hospitals ({_names(members)}) demand"
        out.append(f"{who} {_fmt(int(pd.g_demand[g]))} units, {scope} "
                   f"{', '.join(pd.enterprises[w] for w in ws)}{cap_text}{full_text} "
                   f"— {_fmt(int(short_g[g]))} units short")
    if short.size > MAX_LINES:
        out.append(f"product {p}: … and {short.size - MAX_LINES} more group(s) of hospitals "
                   f"short")
    for k, w in enumerate(np.flatnonzero(pd.floor > 0).tolist()):
        if short_f[k] > 0:
            out.append(f"product {p}, winner {pd.enterprises[w]}: share floor "
                       f"{_fmt(int(pd.floor[w]))} units cannot be met together with the "
                       f"other constraints — {_fmt(int(short_f[k]))} units short")
    return out


def _integral(values: np.ndarray) -> np.ndarray | None:
    y = np.rint(values)
    if values.size and float(np.abs(values - y).max()) > INTEGRALITY_TOL:
        return None
    return y.astype(np.int64)


def _check(pd: _ProductData, y: np.ndarray, pstar: int | None) -> bool:
    """Exact re-check of an integral solution in integer arithmetic."""
    if y.size and int(y.min()) < 0:
        return False
    gb = _group_bounds(pd)
    if y.size and not np.array_equal(np.add.reduceat(y, gb[:-1]), pd.g_demand):
        return False
    load = np.zeros(len(pd.enterprises), dtype=np.int64)
    np.add.at(load, pd.var_w, y)
    capped = pd.capacity >= 0
    if (load[capped] > pd.capacity[capped]).any() or (load < pd.floor).any():
        return False
    return pstar is None or int(pd.var_pen @ y) <= pstar


def _canonical_ties(pd: _ProductData, y: np.ndarray) -> np.ndarray:
    """Move volume between winners a group of hospitals is indifferent between (same rank
    penalty, same price) towards the enterprise whose code sorts first, within capacities and
    floors; one pass in group order. Neither penalty nor cost changes."""
    if not y.size:
        return y
    price = pd.price_units[pd.var_w]
    order = np.lexsort((pd.var_w, price, pd.var_pen, pd.var_g))
    key_g, key_p, key_c = pd.var_g[order], pd.var_pen[order], price[order]
    new = np.ones(order.size, dtype=bool)
    new[1:] = (key_g[1:] != key_g[:-1]) | (key_p[1:] != key_p[:-1]) | (key_c[1:] != key_c[:-1])
    gid = np.cumsum(new) - 1
    size = np.bincount(gid)
    # tie classes of ≥ 2 winners with volume on a member other than the first
    cand = np.unique(gid[~new & (y[order] > 0)])
    if not cand.size:
        return y
    y = y.copy()
    load = np.zeros(len(pd.enterprises), dtype=np.int64)
    np.add.at(load, pd.var_w, y)
    loads = load.tolist()
    caps = pd.capacity.tolist()
    floors = pd.floor.tolist()
    var_w = pd.var_w.tolist()
    starts = np.flatnonzero(new)
    for c in cand.tolist():
        members = order[starts[c]:starts[c] + size[c]].tolist()
        for i, r in enumerate(members):
            wr = var_w[r]
            room = math.inf if caps[wr] < 0 else caps[wr] - loads[wr]
            for d in reversed(members[i + 1:]):
                if room <= 0:
                    break
                wd = var_w[d]
                give = min(int(y[d]), loads[wd] - floors[wd], room)
                if give > 0:
                    y[d] -= give
                    y[r] += give
                    loads[wd] -= give
                    loads[wr] += give
                    room -= give
    return y


def _max_rss_kib() -> int:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _solve_product(pd: _ProductData, engine: str, solver: str) -> _ProductResult:
    """Stage 1 (rank penalty), stage 2 (cost under the penalty optimum), integer re-solve only
    when stage 2 is not integral, canonical ties, split onto hospitals, money in fen."""
    p = pd.product
    used = "highs" if engine == "arrays" else solver
    if engine == "pulp" and solver == "highs" and highspy is None:  # pragma: no cover
        used = "cbc"

    def result(status: Any, cells: Any, pen: Any, cost: Any, diag: list[str], method: str,
               b: float = 0.0, s: float = 0.0) -> _ProductResult:
        return _ProductResult(p, status, cells, pen, cost, diag, method, used, b, s)

    diag = _cheap_diagnosis(pd)
    if diag:
        return result("infeasible", None, None, None, diag, "none")
    if pd.n_vars == 0:
        empty = np.zeros(0, dtype=np.int32)
        return result("optimal", (empty, empty, np.zeros(0, dtype=np.int64)), 0, 0, [], "none")
    engine_cls = _ArrayEngine if engine == "arrays" else _PulpEngine
    t0 = time.perf_counter()
    model = engine_cls(pd, used)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    method = "lp"
    try:
        pstar: int | None = None
        if (pd.var_pen > 0).any():
            y1 = _integral(model.stage1())
            if y1 is None or not _check(pd, y1, None):
                # not expected (stage 1 is a transportation LP), but be exact: the same
                # model with integer variables (they stay integer for stage 2)
                y1 = _integral(model.integer())
                method = "mip"
                if y1 is None or not _check(pd, y1, None):
                    raise RuntimeError(f"product {p}: the integer stage-1 solution fails the "
                                       f"exact check")
            pstar = int(pd.var_pen @ y1)
        y = _integral(model.stage2(pstar))
        if y is None or not _check(pd, y, pstar):
            method = "mip"
            y = _integral(model.integer())
            if y is None or not _check(pd, y, pstar):
                raise RuntimeError(f"product {p}: the integer re-solve returned a solution "
                                   f"that fails the exact check")
    except _Infeasible:
        solve_s = time.perf_counter() - t0
        diag = _elastic_diagnosis(pd, engine_cls, used)
        return result("infeasible", None, None, None, diag, "none", build, solve_s)
    solve_s = time.perf_counter() - t0
    y = _canonical_ties(pd, y)
    h, w, vol = _disaggregate(pd, y)
    cost = line_amounts_total_fen(vol.tolist(), pd.price_units[w].tolist())
    return result("optimal", (h, w, vol), int(pd.var_pen @ y), cost, [], method, build,
                  solve_s)


def _worker(task: tuple[_ProductData, str, str]) -> _ProductResult:
    res = _solve_product(*task)
    res.max_rss_kib = _max_rss_kib()
    return res


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------

def _run_all(prepared: list[_ProductData], engine: str, solver: str,
             processes: int | None) -> tuple[list[_ProductResult], int]:
    if processes is None:
        processes = os.cpu_count() or 1
        if (sum(pd.n_vars for pd in prepared) < PARALLEL_MIN_COLUMNS
                and sum(pd.n_pairs for pd in prepared) < PARALLEL_MIN_PAIRS):
            processes = 1
    processes = max(1, min(processes, len(prepared)))
    if processes == 1:
        return [_solve_product(pd, engine, solver) for pd in prepared], 1
    import multiprocessing

    # forkserver: workers fork from a clean server process, never from this one (which may
    # hold HiGHS threads or a web server's state); the server preloads this module once.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    by_size = sorted(range(len(prepared)), key=lambda i: -prepared[i].n_pairs)
    results: list[_ProductResult | None] = [None] * len(prepared)
    with ProcessPoolExecutor(max_workers=processes, mp_context=ctx) as pool:
        futures = {i: pool.submit(_worker, (prepared[i], engine, solver)) for i in by_size}
        for i, fut in futures.items():
            results[i] = fut.result()
    return [r for r in results if r is not None], processes


def _assemble(prepared: list[_ProductData], results: list[_ProductResult], t0: float,
              prepare_s: float, processes: int) -> Allocation:
    stats = tuple(
        ProductStats(product=pd.product, status=r.status, hospitals=len(pd.hospitals),
                     winners=len(pd.enterprises), variables=pd.n_pairs, columns=pd.n_vars,
                     rank_penalty=r.rank_penalty, total_cost_fen=r.total_cost_fen,
                     method=r.method, solver=r.solver, build_seconds=r.build_seconds,
                     solve_seconds=r.solve_seconds)
        for pd, r in zip(prepared, results, strict=True))
    common: dict[str, Any] = dict(
        products=len(prepared), variables=sum(pd.n_pairs for pd in prepared),
        columns=sum(pd.n_vars for pd in prepared), per_product=stats,
        prepare_seconds=prepare_s, build_seconds=sum(s.build_seconds for s in stats),
        solve_seconds=sum(s.solve_seconds for s in stats), processes=processes,
        worker_max_rss_kib=max((r.max_rss_kib for r in results), default=0))
    if any(r.status != "optimal" for r in results):
        return Allocation(rows=[], status="infeasible", rank_penalty=None, total_cost_fen=None,
                          seconds=time.perf_counter() - t0,
                          diagnosis=[line for r in results for line in r.diagnosis], **common)
    rows: list[tuple[str, str, str, int]] = []
    with _gc_paused():
        for pd, r in zip(prepared, results, strict=True):
            assert r.cells is not None
            h, w, vol = r.cells
            hs, ents, prod = pd.hospitals, pd.enterprises, pd.product
            rows.extend((hs[a], prod, ents[b], v)
                        for a, b, v in zip(h.tolist(), w.tolist(), vol.tolist(), strict=True))
    return Allocation(
        rows=rows, status="optimal",
        rank_penalty=sum(r.rank_penalty or 0 for r in results),
        total_cost_fen=sum(r.total_cost_fen or 0 for r in results),
        seconds=time.perf_counter() - t0, diagnosis=[], **common)


def solve(problem: Problem | GroupedProblem, *, processes: int | None = None,
          solver: Literal["highs", "cbc"] = "highs", aggregate: bool = True) -> Allocation:
    """Allocate the agreed volume (约定采购量分配) of every product optimally.

    ``processes``: ``None`` = one per CPU when the instance is big enough to pay for the
    process start-up (else this process only); ``1`` = this process. Workers come from a
    ``forkserver`` pool, so a script calling this with several processes needs the usual
    ``if __name__ == "__main__":`` guard (Flask's CLI, pytest and Dramatiq have it).
    ``solver``: ``"highs"`` (PuLP model → :class:`HighsBulk`; CBC if highspy is missing) or
    ``"cbc"`` (PuLP's CBC).
    ``aggregate=False`` keeps one LP row per hospital instead of one per group of hospitals
    with identical choices (same optimum; for comparison and tests).
    Raises :class:`ProblemError` for a malformed problem (duplicates, a choice naming a
    non-winner, negative volumes …); an infeasible one is a result with a diagnosis.
    """
    if solver not in ("highs", "cbc"):
        raise ValueError(f"unknown solver {solver!r}")
    t0 = time.perf_counter()
    prepared = _prepare(problem, aggregate)
    prepare_s = time.perf_counter() - t0
    results, used = _run_all(prepared, "pulp", solver, processes)
    return _assemble(prepared, results, t0, prepare_s, used)


def highspy_floor(problem: Problem | GroupedProblem, *, processes: int | None = None,
                  aggregate: bool = True) -> Allocation:
    """The same allocation with no PuLP at all: highspy on numpy arrays per product, same
    stages and checks, same process count — the floor the benchmark compares against."""
    if highspy is None:  # pragma: no cover
        raise RuntimeError("highspy is not installed")
    t0 = time.perf_counter()
    prepared = _prepare(problem, aggregate)
    prepare_s = time.perf_counter() - t0
    results, used = _run_all(prepared, "arrays", "highs", processes)
    return _assemble(prepared, results, t0, prepare_s, used)


def naive_build(problem: Problem | GroupedProblem, *,
                solver: Literal["highs", "cbc"] = "highs") -> Allocation:
    """The ordinary PuLP way, for the benchmark: one model for all products with one variable
    per allowed hospital × winner, every constraint and the objectives built term by term with
    ``+=``, solved in two stages with PuLP's stock ``HiGHS`` interface (or CBC). No diagnosis,
    no canonical ties; ``per_product`` is empty."""
    t0 = time.perf_counter()
    prepared = _prepare(problem, aggregate=False)  # one group per hospital
    prepare_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    prob = pulp.LpProblem("allocation", pulp.LpMinimize)
    xs: list[tuple[_ProductData, list[pulp.LpVariable]]] = []
    penalty = pulp.LpAffineExpression()
    cost = pulp.LpAffineExpression()
    for k, pd in enumerate(prepared):
        pairs = list(zip(pd.var_g.tolist(), pd.var_w.tolist(), strict=True))
        x = [prob.add_variable(f"x_{k}_{h}_{w}", 0) for h, w in pairs]
        xs.append((pd, x))
        by_h: dict[int, pulp.LpAffineExpression] = {}
        by_w: dict[int, pulp.LpAffineExpression] = {}
        for j, (h, w) in enumerate(pairs):
            by_h.setdefault(h, pulp.LpAffineExpression())
            by_h[h] += x[j]
            by_w.setdefault(w, pulp.LpAffineExpression())
            by_w[w] += x[j]
            penalty += int(pd.var_pen[j]) * x[j]
            cost += int(pd.price_units[w]) * x[j]
        for h, expr in by_h.items():
            prob += expr == int(pd.g_demand[h]), f"demand_{k}_{h}"
        for w, expr in by_w.items():
            if pd.capacity[w] >= 0:
                prob += expr <= int(pd.capacity[w]), f"capacity_{k}_{w}"
            if pd.floor[w] > 0:
                prob += expr >= int(pd.floor[w]), f"floor_{k}_{w}"
    build_s = time.perf_counter() - t1

    def make() -> pulp.LpSolver:
        return (_cbc_solver(mip=False) if solver == "cbc"
                else pulp.HiGHS(msg=False, threads=1))

    t1 = time.perf_counter()
    status: Literal["optimal", "infeasible"] = "optimal"
    prob.setObjective(penalty)
    if prob.solve(make()) != pulp.LpStatusOptimal:
        status = "infeasible"
    else:
        pstar = round(pulp.value(penalty))
        prob += penalty <= pstar, "penalty"
        prob.setObjective(cost)
        if prob.solve(make()) != pulp.LpStatusOptimal:
            status = "infeasible"
    solve_s = time.perf_counter() - t1
    rows: list[tuple[str, str, str, int]] = []
    total_pen = 0
    total_fen = 0
    if status == "optimal":
        for pd, x in xs:
            for j, v in enumerate(x):
                vol = round(v.varValue or 0)
                if vol:
                    h, w = int(pd.var_g[j]), int(pd.var_w[j])
                    rows.append((pd.hospitals[h], pd.product, pd.enterprises[w], vol))
                    total_pen += int(pd.var_pen[j]) * vol
                    total_fen += line_amount_fen(vol, pd.prices[w])
    return Allocation(
        rows=rows, status=status, rank_penalty=total_pen if status == "optimal" else None,
        total_cost_fen=total_fen if status == "optimal" else None, products=len(prepared),
        variables=sum(pd.n_pairs for pd in prepared),
        columns=sum(pd.n_vars for pd in prepared), seconds=time.perf_counter() - t0,
        prepare_seconds=prepare_s, build_seconds=build_s, solve_seconds=solve_s)


def problem_from_rows(demands: Iterable[tuple[str, str, int]],
                      winners: Iterable[tuple[str, str, Decimal, int | None, Decimal]],
                      choices: Iterable[tuple[str, str, str, int]] = ()) -> Problem:
    """Convenience: a :class:`Problem` from plain tuples (tests, scenarios)."""
    return Problem([Demand(*d) for d in demands], [Winner(*w) for w in winners],
                   [Choice(*c) for c in choices])
