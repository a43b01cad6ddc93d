"""Allocation of agreed volume (约定采购量分配): hand-computed cases, infeasibility diagnosis,
hypothesis properties against a brute force, determinism."""
from __future__ import annotations

import itertools
import math
import random
from decimal import Decimal

import pulp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.money import line_amount_fen
from procurement import allocation
from procurement.allocation import (
    Allocation,
    Choice,
    Demand,
    GroupedProblem,
    HighsBulk,
    Problem,
    ProblemError,
    Winner,
    highspy_floor,
    naive_build,
    solve,
)

D = Decimal
P = "P1"


def win(enterprise: str, price: str, capacity: int | None = None, share: str = "0",
      product: str = P) -> Winner:
    return Winner(product, enterprise, D(price), capacity, D(share))


def rows(result: Allocation) -> list[tuple[str, str, str, int]]:
    assert result.status == "optimal", result.diagnosis
    return result.rows


# --- hand-computed cases ---------------------------------------------------------------------

def test_cheapest_winner_takes_all_without_limits():
    result = solve(Problem([Demand("H1", P, 100), Demand("H2", P, 50)],
                           [win("E2", "2.0000"), win("E1", "1.0000")]))
    assert rows(result) == [("H1", P, "E1", 100), ("H2", P, "E1", 50)]
    assert result.rank_penalty == 0
    assert result.total_cost_fen == 15_000
    assert (result.products, result.variables) == (1, 4)


def test_capacity_binds_and_the_group_splits_north_west():
    # H1 and H2 have no choices: one group; E1 gets its capacity, E2 the rest. The group's
    # volumes go to hospitals in code order, winners in code order.
    result = solve(Problem([Demand("H2", P, 50), Demand("H1", P, 100)],
                           [win("E1", "1.0000", 120), win("E2", "2.0000")]))
    assert rows(result) == [("H1", P, "E1", 100), ("H2", P, "E1", 20), ("H2", P, "E2", 30)]
    assert result.total_cost_fen == 100 * 100 + 20 * 100 + 30 * 200


def test_choices_are_respected():
    result = solve(Problem(
        [Demand("H1", P, 100), Demand("H2", P, 50)],
        [win("E1", "1.0000"), win("E2", "2.0000")],
        [Choice("H1", P, "E2", 1)]))
    assert rows(result) == [("H1", P, "E2", 100), ("H2", P, "E1", 50)]


def test_rank_penalty_comes_before_cost():
    # H1 prefers the dearer E2; it gets all of E2's capacity before anyone saves money,
    # and only the rest from its second choice.
    result = solve(Problem(
        [Demand("H1", P, 100), Demand("H2", P, 50)],
        [win("E1", "1.0000"), win("E2", "3.0000", 60)],
        [Choice("H1", P, "E2", 1), Choice("H1", P, "E1", 2)]))
    assert rows(result) == [("H1", P, "E1", 40), ("H1", P, "E2", 60), ("H2", P, "E1", 50)]
    assert result.rank_penalty == 40


def test_penalty_optimum_then_cheapest_among_equal_penalties():
    # Stage 1: H1 and H2 both want E2 first, which has 50 of the 80 units: 30 units go to
    # second choices whoever gives them up, so the least penalty is 30. Stage 2 then picks the
    # cheaper second choice for the overflow: H1's E1 (¥1.00) rather than H2's E3 (¥2.00).
    result = solve(Problem(
        [Demand("H1", P, 40), Demand("H2", P, 40)],
        [win("E1", "1.0000"), win("E2", "5.0000", 50), win("E3", "2.0000")],
        [Choice("H1", P, "E2", 1), Choice("H1", P, "E1", 2),
         Choice("H2", P, "E2", 1), Choice("H2", P, "E3", 2)]))
    assert result.rank_penalty == 30
    assert rows(result) == [("H1", P, "E1", 30), ("H1", P, "E2", 10), ("H2", P, "E2", 40)]


def test_share_floor_is_an_exact_decimal_ceiling():
    # 0.1 × 30 = 3 exactly (in binary floating point 0.1 * 30 > 3 and its ceiling is 4)
    result = solve(Problem([Demand("H1", P, 30)],
                           [win("E1", "1.0000"), win("E2", "2.0000", share="0.1")]))
    assert rows(result) == [("H1", P, "E1", 27), ("H1", P, "E2", 3)]
    # 0.15 × 30 = 4.5 → 5
    result = solve(Problem([Demand("H1", P, 30)],
                           [win("E1", "1.0000"), win("E2", "2.0000", share="0.15")]))
    assert rows(result) == [("H1", P, "E1", 25), ("H1", P, "E2", 5)]


def test_cost_ties_go_to_the_enterprise_code_sorting_first():
    demands = [Demand("H1", P, 100), Demand("H2", P, 50)]
    result = solve(Problem(demands, [win("E2", "1.5000"), win("E1", "1.5000")]))
    assert rows(result) == [("H1", P, "E1", 100), ("H2", P, "E1", 50)]
    # …as far as the capacity allows
    result = solve(Problem(demands, [win("E2", "1.5000"), win("E1", "1.5000", 70)]))
    assert rows(result) == [("H1", P, "E1", 70), ("H1", P, "E2", 30), ("H2", P, "E2", 50)]
    # two first choices at the same price: the same rule
    result = solve(Problem(demands, [win("E3", "1.0000"), win("E2", "1.5000"), win("E1", "1.5000")],
                           [Choice("H2", P, "E2", 1), Choice("H2", P, "E1", 1)]))
    assert rows(result) == [("H1", P, "E3", 100), ("H2", P, "E1", 50)]


def test_canonical_ties_respect_the_floor_of_the_later_enterprise():
    result = solve(Problem([Demand("H1", P, 100)],
                           [win("E1", "1.5000"), win("E2", "1.5000", share="0.25")]))
    assert rows(result) == [("H1", P, "E1", 75), ("H1", P, "E2", 25)]


def test_money_is_rounded_per_row_half_up():
    # 1 unit at ¥0.0050 is 0.5 fen → 1 fen on each of the two rows (0 + 1 would be wrong)
    result = solve(Problem([Demand("H1", P, 1), Demand("H2", P, 1)],
                           [win("E1", "0.0050")], [Choice("H2", P, "E1", 1)]))
    assert result.total_cost_fen == 2
    # 3 × ¥0.1235 = 37.05 fen → 37
    result = solve(Problem([Demand("H1", P, 3)], [win("E1", "0.1235")]))
    assert result.total_cost_fen == 37 == line_amount_fen(3, D("0.1235"))


def test_zero_demand_and_products_without_demand():
    # a choice of a hospital without demand for the product is harmless
    result = solve(Problem([Demand("H1", P, 0), Demand("H2", "P2", 5)],
                           [win("E1", "1.0000"), win("E1", "1.0000", product="P2"),
                            win("E1", "1.0000", product="P3")],
                           [Choice("H9", "P3", "E1", 1), Choice("H1", P, "E1", 2)]))
    assert rows(result) == [("H2", "P2", "E1", 5)]
    assert result.products == 3


def test_several_products_are_independent_and_sorted():
    result = solve(Problem(
        [Demand("H1", "P2", 5), Demand("H1", "P1", 7)],
        [win("E9", "1.0000", product="P2"), win("E1", "2.0000", product="P1")]))
    assert rows(result) == [("H1", "P1", "E1", 7), ("H1", "P2", "E9", 5)]
    assert [s.product for s in result.per_product] == ["P1", "P2"]
    assert result.total_cost_fen == 1400 + 500


def test_cbc_gives_the_same_optimum():
    problem = Problem(
        [Demand("H1", P, 40), Demand("H2", P, 40), Demand("H3", P, 25)],
        [win("E1", "1.0000", 30), win("E2", "5.0000", 50), win("E3", "2.0000", share="0.2")],
        [Choice("H1", P, "E2", 1), Choice("H1", P, "E1", 2), Choice("H2", P, "E2", 1),
         Choice("H2", P, "E3", 2)])
    a = solve(problem)
    b = solve(problem, solver="cbc")
    assert (a.rank_penalty, _scaled_cost(problem, a)) == (b.rank_penalty, _scaled_cost(problem, b))
    assert {s.solver for s in b.per_product} == {"cbc"}


def test_the_floor_and_the_naive_build_agree():
    problem = _random_problem(random.Random(5), products=3, hospitals=30, winners=5)
    a = solve(problem)
    f = highspy_floor(problem)
    n = naive_build(problem)
    assert a.status == f.status == n.status == "optimal"
    assert a.rows == f.rows
    assert (a.rank_penalty, _scaled_cost(problem, a)) == (n.rank_penalty, _scaled_cost(problem, n))


# --- integer re-solve ------------------------------------------------------------------------

def test_a_fractional_stage_two_is_re_solved_with_integer_variables(monkeypatch):
    problem = Problem(
        [Demand("H1", P, 40), Demand("H2", P, 40)],
        [win("E1", "1.0000"), win("E2", "5.0000", 50), win("E3", "2.0000")],
        [Choice("H1", P, "E2", 1), Choice("H1", P, "E1", 2),
         Choice("H2", P, "E2", 1), Choice("H2", P, "E3", 2)])
    expected = solve(problem)
    real = allocation._PulpEngine.stage2

    def fractional(self, pstar):
        values = real(self, pstar)
        return values + 0.5  # as if the LP had answered half-integers

    monkeypatch.setattr(allocation._PulpEngine, "stage2", fractional)
    result = solve(problem)
    assert [s.method for s in result.per_product] == ["mip"]
    assert (result.rows, result.rank_penalty, result.total_cost_fen) == (
        expected.rows, expected.rank_penalty, expected.total_cost_fen)
    assert [s.method for s in expected.per_product] == ["lp"]


def test_highs_bulk_adapter_solves_a_pulp_model_like_stock_highs():
    def model():
        prob = pulp.LpProblem("t", pulp.LpMaximize)
        x = prob.add_variable("x", 0, 4)
        y = prob.add_variable("y", 0, None, pulp.LpInteger)
        prob.setObjective(pulp.LpAffineExpression([(x, 3), (y, 2)]))
        prob.addConstraint(pulp.LpAffineExpression([(x, 1), (y, 1)]) <= 7.5, "c1")
        prob.addConstraint(pulp.LpAffineExpression([(x, 1), (y, -1)]) >= -3, "c2")
        return prob, x, y

    prob, x, y = model()
    assert prob.solve(HighsBulk()) == pulp.LpStatusOptimal
    stock, sx, sy = model()
    stock.solve(pulp.HiGHS(msg=False))
    assert (x.varValue, y.varValue) == pytest.approx((sx.varValue, sy.varValue))
    assert (x.varValue, y.varValue) == pytest.approx((3.5, 4))  # y integer: 4, x takes the rest
    assert pulp.LpStatus[prob.status] == "Optimal"


# --- infeasibility ---------------------------------------------------------------------------

def diagnosis(problem: Problem) -> list[str]:
    result = solve(problem)
    assert result.status == "infeasible"
    assert result.rows == [] and result.rank_penalty is None and result.total_cost_fen is None
    return result.diagnosis


def test_demand_above_total_capacity():
    lines = diagnosis(Problem([Demand("H1", P, 8_000), Demand("H2", P, 4_000)],
                              [win("E1", "1.0000", 6_000), win("E2", "1.0000", 4_000)]))
    assert lines == ["product P1: demand 12,000 units, capacity 10,000 — 2,000 units short"]


def test_hospital_with_no_allowed_winner():
    lines = diagnosis(Problem(
        [Demand("H33", P, 500), Demand("H2", P, 10)],
        [win("E1", "1.0000", 0), win("E2", "1.0000")],
        [Choice("H33", P, "E1", 1)]))
    assert lines == ["hospital H33 product P1: no allowed winner with capacity for its 500 "
                     "units (choices name E1 (capacity 0))"]


def test_product_without_winners():
    result = solve(Problem([Demand("H1", P, 5), Demand("H1", "P2", 3)],
                           [win("E1", "1.0000", product="P2")]))
    assert result.status == "infeasible"
    assert result.diagnosis == ["product P1: no winner, but 1 hospital(s) demand 5 units (H1)"]
    assert [s.status for s in result.per_product] == ["infeasible", "optimal"]


def test_floors_above_demand_or_capacity_or_reach():
    lines = diagnosis(Problem([Demand("H1", P, 100)],
                              [win("E1", "1.0000", share="0.7"), win("E2", "2.0000", share="0.6")]))
    assert lines == ["product P1: share floors sum to 130 units, above the total demand of "
                     "100 — 30 units too many"]
    lines = diagnosis(Problem([Demand("H1", P, 100)],
                              [win("E1", "1.0000"), win("E2", "2.0000", 20, share="0.3")]))
    assert lines == ["product P1, winner E2: share floor 30 units above its capacity 20 — 10 "
                     "units short"]
    lines = diagnosis(Problem(
        [Demand("H1", P, 70), Demand("H2", P, 30)],
        [win("E1", "1.0000"), win("E2", "2.0000", share="0.5")],
        [Choice("H1", P, "E1", 1)]))
    assert lines == ["product P1, winner E2: share floor 50 units, but the hospitals allowed "
                     "to receive from it demand only 30 — 20 units short"]


def test_choices_restricted_to_short_winners_found_by_the_elastic_lp():
    lines = diagnosis(Problem(
        [Demand("H1", P, 80), Demand("H2", P, 70), Demand("H3", P, 500)],
        [win("E1", "1.0000", 100), win("E2", "1.0000")],
        [Choice("H1", P, "E1", 1), Choice("H2", P, "E1", 1)]))
    assert lines == [
        "product P1: 50 units short in total",
        "product P1: 2 hospitals (H1, H2) demand 150 units, may receive only from E1, whose "
        "capacity totals 100 units (E1 at capacity) — 50 units short"]


def test_jointly_unreachable_floors_found_by_the_elastic_lp():
    # E1 needs 40 and E2 30, each reachable alone from H1's 60, but not both
    lines = diagnosis(Problem(
        [Demand("H1", P, 60), Demand("H2", P, 40)],
        [win("E1", "1.0000", share="0.4"), win("E2", "1.0000", share="0.3"), win("E3", "1.0000")],
        [Choice("H2", P, "E3", 1)]))
    assert lines[0] == "product P1: 10 units short in total"
    assert len(lines) == 2 and lines[1].endswith("— 10 units short")
    assert "share floor" in lines[1]


def test_every_infeasible_product_is_diagnosed():
    result = solve(Problem([Demand("H1", P, 10), Demand("H1", "P2", 10)],
                           [win("E1", "1.0000", 5), win("E1", "1.0000", 5, product="P2")]))
    assert result.diagnosis == [
        "product P1: demand 10 units, capacity 5 — 5 units short",
        "product P2: demand 10 units, capacity 5 — 5 units short"]


# --- malformed problems ----------------------------------------------------------------------

@pytest.mark.parametrize(("problem", "message"), [
    (Problem([Demand("H1", P, 1), Demand("H1", P, 2)], [win("E1", "1")]), "duplicate demand"),
    (Problem([Demand("H1", P, -1)], [win("E1", "1")]), "volume of H1"),
    (Problem([Demand("H1", P, 1)], [win("E1", "1"), win("E1", "2")]), "duplicate winner"),
    (Problem([Demand("H1", P, 1)], [win("E1", "1")], [Choice("H1", P, "E9", 1)]),
     "not a winner"),
    (Problem([Demand("H1", P, 1)], [win("E1", "1")], [Choice("H1", P, "E1", 1)] * 2),
     "duplicate choice"),
    (Problem([Demand("H1", P, 1)], [win("E1", "1")], [Choice("H1", P, "E1", 0)]), "rank"),
    (Problem([Demand("H1", P, 1)], [win("E1", "1.00001")]), "at most 4 places"),
    (Problem([Demand("H1", P, 1)], [Winner(P, "E1", 1.5, None, D(0))]),  # type: ignore[arg-type]
     "Decimal"),
    (Problem([Demand("H1", P, 1)], [win("E1", "1", share="1.5")]), "min_share"),
])
def test_malformed_problems_raise(problem, message):
    with pytest.raises(ProblemError, match=message):
        solve(problem)


# --- determinism -----------------------------------------------------------------------------

def test_identical_input_gives_identical_output_whatever_the_order_or_processes():
    problem = _random_problem(random.Random(11), products=4, hospitals=60, winners=6)
    first = solve(problem, processes=1)
    assert first.status == "optimal"
    assert solve(problem, processes=1).rows == first.rows
    shuffled = Problem(*(random.Random(3).sample(list(seq), len(seq))
                         for seq in (problem.demands, problem.winners, problem.choices)))
    assert solve(shuffled, processes=1).rows == first.rows
    parallel = solve(problem, processes=2)
    assert parallel.processes == 2
    assert (parallel.rows, parallel.rank_penalty, parallel.total_cost_fen) == (
        first.rows, first.rank_penalty, first.total_cost_fen)


def test_grouping_hospitals_does_not_change_the_optimum():
    problem = _random_problem(random.Random(12), products=3, hospitals=80, winners=5)
    a = solve(problem)
    b = solve(problem, aggregate=False)
    assert a.columns < b.columns == b.variables == a.variables
    assert (a.rank_penalty, _scaled_cost(problem, a)) == (b.rank_penalty, _scaled_cost(problem, b))


# --- hypothesis: properties against a brute force --------------------------------------------

PRICES = ["0.0050", "0.1235", "1.0000", "1.0000", "2.5000"]  # repeated: price ties happen
SHARES = ["0", "0", "0.1", "0.25", "0.5"]


@st.composite
def small_problems(draw, max_hospitals: int = 3, max_winners: int = 3, max_volume: int = 6):
    n_products = draw(st.integers(1, 2))
    demands, winners, choices = [], [], []
    for p in range(n_products):
        product = f"P{p}"
        n_w = draw(st.integers(1, max_winners))
        ents = [f"E{i}" for i in range(n_w)]
        for e in ents:
            winners.append(Winner(product, e, D(draw(st.sampled_from(PRICES))),
                                  draw(st.one_of(st.none(), st.integers(0, 3 * max_volume))),
                                  D(draw(st.sampled_from(SHARES))),
                                  draw(st.sampled_from([0, 0, 0, 1, 3]))))
        for h in range(draw(st.integers(1, max_hospitals))):
            hospital = f"H{h}"
            demands.append(Demand(hospital, product, draw(st.integers(0, max_volume))))
            if draw(st.booleans()):
                listed = draw(st.lists(st.sampled_from(ents), min_size=1, unique=True))
                for e in listed:
                    choices.append(Choice(hospital, product, e, draw(st.integers(1, 3))))
    return Problem(demands, winners, choices)


def _allowed(problem: Problem):
    """{(product, hospital): [(enterprise, penalty, price)]} of the hospitals with demand."""
    winners: dict[str, list[Winner]] = {}
    for w in problem.winners:
        winners.setdefault(w.product, []).append(w)
    listed: dict[tuple[str, str], dict[str, int]] = {}
    for c in problem.choices:
        listed.setdefault((c.product, c.hospital), {})[c.enterprise] = c.rank
    out = {}
    for d in problem.demands:
        ranks = listed.get((d.product, d.hospital))
        out[(d.product, d.hospital)] = [
            (w.enterprise, 0 if ranks is None else ranks[w.enterprise] - 1, w.unit_price)
            for w in sorted(winners.get(d.product, []), key=lambda w: w.enterprise)
            if ranks is None or w.enterprise in ranks]
    return out


def _floor(w: Winner, total: int) -> int:
    # The larger of the share floor (exact: Decimal.__ceil__) and the floor in units.
    return max(math.ceil(w.min_share * total), w.min_units)


def _brute_force(problem: Problem) -> tuple[int, Decimal] | None:
    """The lexicographic optimum (penalty, cost in yuan) by enumerating every integral
    allocation of every product; None when some product has none."""
    allowed = _allowed(problem)
    vol = {(d.product, d.hospital): d.volume for d in problem.demands}
    total_pen, total_cost = 0, D(0)
    products = {w.product for w in problem.winners} | {d.product for d in problem.demands}
    for product in sorted(products):
        keys = [k for k in allowed if k[0] == product]
        ws = {w.enterprise: w for w in problem.winners if w.product == product}
        total = sum(vol[k] for k in keys)
        floors = {e: _floor(w, total) for e, w in ws.items()}

        def splits(v: int, n: int):
            if n == 0:
                if v == 0:
                    yield ()
                return
            for first in range(v + 1):
                for rest in splits(v - first, n - 1):
                    yield (first, *rest)

        best = None
        for combo in itertools.product(*(list(splits(vol[k], len(allowed[k]))) for k in keys)):
            load = dict.fromkeys(ws, 0)
            pen, cost = 0, D(0)
            for k, xs in zip(keys, combo, strict=True):
                for (e, p, price), x in zip(allowed[k], xs, strict=True):
                    load[e] += x
                    pen += p * x
                    cost += price * x
            if any(ws[e].capacity is not None and load[e] > ws[e].capacity for e in ws):
                continue
            if any(load[e] < floors[e] for e in ws):
                continue
            if best is None or (pen, cost) < best:
                best = (pen, cost)
        if best is None:
            return None
        total_pen += best[0]
        total_cost += best[1]
    return total_pen, total_cost


def _scaled_cost(problem: Problem, result: Allocation) -> Decimal:
    price = {(w.product, w.enterprise): w.unit_price for w in problem.winners}
    return sum((price[(p, e)] * v for _, p, e, v in result.rows), D(0))


def _assert_feasible(problem: Problem, result: Allocation) -> None:
    allowed = _allowed(problem)
    got: dict[tuple[str, str], int] = {}
    load: dict[tuple[str, str], int] = {}
    pen = 0
    for h, p, e, v in result.rows:
        assert isinstance(v, int) and v > 0
        options = {a[0]: a[1] for a in allowed[(p, h)]}
        assert e in options, "volume from a winner the hospital did not choose"
        pen += options[e] * v
        got[(p, h)] = got.get((p, h), 0) + v
        load[(p, e)] = load.get((p, e), 0) + v
    for d in problem.demands:
        assert got.get((d.product, d.hospital), 0) == d.volume
    for w in problem.winners:
        used = load.get((w.product, w.enterprise), 0)
        total = sum(d.volume for d in problem.demands if d.product == w.product)
        assert w.capacity is None or used <= w.capacity
        assert used >= _floor(w, total)
    assert pen == result.rank_penalty
    assert result.total_cost_fen == sum(
        line_amount_fen(v, next(w.unit_price for w in problem.winners
                                if (w.product, w.enterprise) == (p, e)))
        for _, p, e, v in result.rows)
    assert result.rows == sorted(result.rows, key=lambda r: (r[1], r[0], r[2]))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_properties_against_brute_force(problem):
    result = solve(problem, processes=1)
    best = _brute_force(problem)
    if best is None:
        assert result.status == "infeasible"
        assert result.diagnosis and all("P" in line for line in result.diagnosis)
        return
    assert result.status == "optimal", result.diagnosis
    _assert_feasible(problem, result)
    assert (result.rank_penalty, _scaled_cost(problem, result)) == best
    again = solve(problem, processes=1)
    assert again.rows == result.rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems(max_hospitals=8, max_winners=5, max_volume=40))
def test_properties_against_an_independent_lp(problem):
    # larger instances: compare with the per-hospital model solved by CBC
    result = solve(problem, processes=1)
    other = solve(problem, processes=1, solver="cbc", aggregate=False)
    assert result.status == other.status
    if result.status == "infeasible":
        assert result.diagnosis
        return
    _assert_feasible(problem, result)
    _assert_feasible(problem, other)
    assert (result.rank_penalty, _scaled_cost(problem, result)) == (
        other.rank_penalty, _scaled_cost(problem, other))
    assert highspy_floor(problem, processes=1).rows == result.rows


def test_grouped_problem_is_validated_like_the_problem():
    grouped = GroupedProblem.from_problem(Problem(
        [Demand("H1", P, 3)], [win("E1", "1.0000")], [Choice("H1", P, "E1", 2)]))
    assert grouped.choices == {P: {"H1": {"E1": 2}}}
    assert rows(solve(grouped)) == [("H1", P, "E1", 3)]
    assert solve(grouped).rank_penalty == 3


# --- helpers ---------------------------------------------------------------------------------

def _random_problem(rng: random.Random, *, products: int, hospitals: int,
                    winners: int) -> Problem:
    demands, ws, choices = [], [], []
    for p in range(products):
        product = f"P{p:02d}"
        ents = [f"E{i:02d}" for i in range(winners)]
        for i, e in enumerate(ents):
            cap = None if i % 2 else rng.randint(hospitals * 5, hospitals * 20)
            ws.append(Winner(product, e, D(rng.choice(["0.5000", "0.7500", "1.2000", "1.2000"])),
                             cap, D("0.05") if i == winners - 1 else D(0)))
        for h in range(hospitals):
            if rng.random() < 0.7:
                demands.append(Demand(f"H{h:03d}", product, rng.randint(1, 60)))
                if rng.random() < 0.6:
                    listed = rng.sample(ents, rng.randint(1, 3))
                    if not any(ents.index(e) % 2 for e in listed):
                        listed.append(ents[1])
                    for rank, e in enumerate(listed, start=1):
                        choices.append(Choice(f"H{h:03d}", product, e, rank))
    return Problem(demands, ws, choices)


def test_random_problem_helper_is_feasible():
    assert solve(_random_problem(random.Random(1), products=2, hospitals=20, winners=4)).status \
        == "optimal"
