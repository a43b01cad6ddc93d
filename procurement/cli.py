"""Procurement commands: ``flask --app wsgi procurement <command>``.

``allocate`` solves the allocation of agreed volume (约定采购量分配) offline from CSV files —
bureau staff test scenarios with it, and so do the tests. It touches no database.

Input directory:

* ``demand.csv`` — ``hospital_code,product_code,volume`` (volume: whole units ≥ 0);
* ``winners.csv`` — ``product_code,enterprise_code,unit_price,capacity,min_share`` (price in
  yuan with at most 4 decimals; capacity whole units ≥ 0, empty = unlimited; min_share a
  fraction 0–1, empty = 0);
* ``choices.csv`` (optional) — ``hospital_code,product_code,enterprise_code,rank`` (rank ≥ 1,
  1 = first choice; equal ranks mean equal preference). A hospital-product with choice rows
  may only get volume from the winners listed; one without may get any winner of the product.

UTF-8 (a BOM is fine), a header row naming the columns (in any order), one record per line.
Hospital codes are institution codes, enterprise codes unified social credit codes, product
codes drug (``X…``/``Z…``) or consumable (``C…``) codes; all are normalised (full-width
characters, spaces, case) before use.

Bad input — exit status 1, every problem listed on stderr by file, line and field, nothing
written: a malformed code or number, a missing column, a duplicate row (the same hospital and
product twice in demand.csv, the same winner twice, the same choice twice), a choice naming an
enterprise that is not a winner of that product. Not bad input: a product with demand but no
winner (the allocation is infeasible — exit 2 — and the diagnosis says so), a demand of 0, a
choice of a hospital that has no demand for the product (it is ignored).

Output: ``hospital_code,product_code,enterprise_code,volume`` with volume > 0, sorted by
product, hospital, enterprise, written atomically (temporary file + rename); then one JSON line
on stdout ``{"status", "products", "variables", "rank_penalty", "total_cost_fen", "seconds"}``
where ``variables`` counts the allowed hospital × winner pairs, ``rank_penalty`` is
Σ (rank − 1) × volume, ``total_cost_fen`` is Σ round_half_up(volume × unit_price × 100) over the
output rows, and ``seconds`` is the whole command (read, solve, write). Exit 0 when optimal;
2 when infeasible (diagnosis on stderr, JSON with ``"status": "infeasible"`` and null totals, no
output file); 1 on bad input or when the output cannot be written.
"""
from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from core.codes import (
    validate_consumable_code,
    validate_drug_code,
    validate_institution_code,
    validate_uscc,
)
from core.errors import Invalid
from core.money import to_price
from core.tabular import CsvFile, CsvFileError
from procurement.allocation import (
    Allocation,
    GroupedProblem,
    ProblemError,
    Winner,
    solve,
)

procurement_cli = AppGroup("procurement", help="Procurement (集采): offline allocation tools.")

DEMAND_COLUMNS = ("hospital_code", "product_code", "volume")
WINNER_COLUMNS = ("product_code", "enterprise_code", "unit_price", "capacity", "min_share")
CHOICE_COLUMNS = ("hospital_code", "product_code", "enterprise_code", "rank")
OUTPUT_COLUMNS = ("hospital_code", "product_code", "enterprise_code", "volume")
#: Problems listed on stderr at most (the count of the rest is given).
MAX_ERRORS = 50

_UINT = re.compile(r"[0-9]+", re.ASCII)
_SHARE = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


def init_app(app: Flask) -> None:
    """Register the ``procurement`` command group on ``app``."""
    if "procurement" not in app.cli.commands:
        app.cli.add_command(procurement_cli)


@dataclass(frozen=True)
class InputProblem:
    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field}")
        return f"{', '.join(where)}: {self.message}"


class InputError(Exception):
    """Bad input: every problem found, by file, line and field."""

    def __init__(self, problems: list[InputProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the input")
        self.problems = problems


class _Codes:
    """Validated codes by raw cell text: each distinct code is validated once, and every row
    shares one string object per code."""

    def __init__(self, problems: list[InputProblem]) -> None:
        self.problems = problems
        self.hospital: dict[str, str] = {}
        self.product: dict[str, str] = {}
        self.enterprise: dict[str, str] = {}

    def check(self, cache: dict[str, str], validator: Callable[..., str], field_name: str,
              raw: str, file: str, line: int) -> str | None:
        """The slow path after a cache miss: validate, remember, or record the problem."""
        try:
            code = validator(raw, field=field_name)
        except Invalid as exc:
            message = exc.errors[0].message if exc.errors else str(exc)
            self.problems.append(InputProblem(file, line, field_name, message))
            return None
        cache[raw] = code
        return code


class _Table:
    """One input file: ``with _Table(...) as t: for cells in t.rows: …`` gives each line's
    cells in ``columns`` order (``t.line`` is the current line number). The caller checks the
    cell count and calls :meth:`bad_width`; a file that cannot be read ends and is recorded
    as a problem (``core.tabular.CsvFile`` reads it); the file is closed on exit."""

    def __init__(self, path: Path, columns: tuple[str, ...],
                 problems: list[InputProblem]) -> None:
        self.name = path.name
        self.width = len(columns)
        self.problems = problems
        self.file: CsvFile | None = CsvFile(path, columns, reorder=True)
        self.rows: Iterator[list[str]] = iter(())
        try:
            self.rows = self.file.__enter__().rows
        except CsvFileError as exc:
            self.file = None
            self._problem(exc)

    def _problem(self, exc: CsvFileError) -> None:
        self.problems.append(InputProblem(self.name, exc.line, None, exc.message))

    @property
    def line(self) -> int:
        return self.file.line if self.file is not None else 0

    def bad_width(self, cells: list[str]) -> None:
        if any(c.strip() for c in cells):  # blank lines are skipped silently
            self.problems.append(InputProblem(
                self.name, self.line, None, f"expected {self.width} cells, found {len(cells)}"))

    def __enter__(self) -> _Table:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if self.file is None:
            return False
        try:
            return self.file.__exit__(kind, exc, tb)
        except CsvFileError as error:
            self._problem(error)
            return True


def _product_code(raw: str, field: str = "product_code") -> str:
    text = raw.strip().upper()[:1]
    if text == "C":
        return validate_consumable_code(raw, field=field)
    if text in ("X", "Z"):
        return validate_drug_code(raw, field=field)
    raise Invalid.one(field, "The product code must be a drug code (starting with X or Z) or "
                             "a consumable code (starting with C).")


def _uint(text: str) -> int | None:
    text = text.strip()
    return int(text) if _UINT.fullmatch(text) else None


def read_problem(directory: Path) -> GroupedProblem:
    """Read ``directory``'s CSV files into a :class:`GroupedProblem`, validating every cell;
    raises :class:`InputError` listing every problem found.

    The rows go straight into the per-product grouping the solver works from (no object per
    row): the national instance has millions of rows.
    """
    problems: list[InputProblem] = []
    codes = _Codes(problems)
    winners = _read_winners(directory, codes, problems)
    demand = _read_demand(directory, codes, problems)
    choices = _read_choices(directory, codes, problems, winners)
    if problems:
        raise InputError(problems)
    return GroupedProblem(winners, demand, choices)


def _read_winners(directory: Path, codes: _Codes,
                  problems: list[InputProblem]) -> dict[str, dict[str, Winner]]:
    check, products, enterprises = codes.check, codes.product, codes.enterprise
    winners: dict[str, dict[str, Winner]] = {}
    f = "winners.csv"
    with _Table(directory / f, WINNER_COLUMNS, problems) as t:
        for cells in t.rows:
            if len(cells) != 5:
                t.bad_width(cells)
                continue
            p_raw, e_raw, price_raw, cap_raw, share_raw = cells
            line = t.line
            p = products.get(p_raw) or check(products, _product_code, "product_code", p_raw,
                                             f, line)
            e = enterprises.get(e_raw) or check(enterprises, validate_uscc, "enterprise_code",
                                                e_raw, f, line)
            ok = p is not None and e is not None
            price = Decimal(0)
            try:
                price = to_price(price_raw, field="unit_price")
            except Invalid as exc:
                problems.append(InputProblem(f, line, "unit_price", exc.errors[0].message))
                ok = False
            cap: int | None = None
            if cap_raw.strip():
                cap = _uint(cap_raw)
                if cap is None:
                    problems.append(InputProblem(
                        f, line, "capacity",
                        f"must be a whole number of units ≥ 0 or empty (unlimited), "
                        f"got {cap_raw!r}"))
                    ok = False
            share = Decimal(0)
            text = share_raw.strip()
            if text:
                if _SHARE.fullmatch(text) and Decimal(text) <= 1:
                    share = Decimal(text)
                else:
                    problems.append(InputProblem(
                        f, line, "min_share",
                        f"must be a fraction from 0 to 1 or empty, got {share_raw!r}"))
                    ok = False
            if not ok or p is None or e is None:
                continue
            by_ent = winners.setdefault(p, {})
            if e in by_ent:
                problems.append(InputProblem(f, line, "enterprise_code",
                                             f"duplicate winner {e} of product {p}"))
                continue
            by_ent[e] = Winner(p, e, price, cap, share)
    return winners


def _read_demand(directory: Path, codes: _Codes,
                 problems: list[InputProblem]) -> dict[str, dict[str, int]]:
    check, hospitals, products = codes.check, codes.hospital, codes.product
    demand: dict[str, dict[str, int]] = {}
    f = "demand.csv"
    with _Table(directory / f, DEMAND_COLUMNS, problems) as t:
        for cells in t.rows:
            if len(cells) != 3:
                t.bad_width(cells)
                continue
            h_raw, p_raw, v_raw = cells
            h = hospitals.get(h_raw) or check(hospitals, validate_institution_code,
                                              "hospital_code", h_raw, f, t.line)
            p = products.get(p_raw) or check(products, _product_code, "product_code", p_raw,
                                             f, t.line)
            if v_raw.isdigit() and v_raw.isascii():
                v = int(v_raw)
            else:
                got = _uint(v_raw)
                if got is None:
                    problems.append(InputProblem(
                        f, t.line, "volume",
                        f"must be a whole number of units ≥ 0, got {v_raw!r}"))
                    continue
                v = got
            if h is None or p is None:
                continue
            by_h = demand.get(p)
            if by_h is None:
                by_h = demand[p] = {}
            if h in by_h:
                problems.append(InputProblem(f, t.line, "hospital_code",
                                             f"duplicate demand of {h} for {p}"))
                continue
            by_h[h] = v
    return demand


def _read_choices(directory: Path, codes: _Codes, problems: list[InputProblem],
                  winners: dict[str, dict[str, Winner]],
                  ) -> dict[str, dict[str, dict[str, int]]]:
    check, hospitals = codes.check, codes.hospital
    products, enterprises = codes.product, codes.enterprise
    choices: dict[str, dict[str, dict[str, int]]] = {}
    f = "choices.csv"
    if not (directory / f).exists():
        return choices
    ranks: dict[str, int] = {}
    none: dict[str, Winner] = {}
    with _Table(directory / f, CHOICE_COLUMNS, problems) as t:
        for cells in t.rows:
            if len(cells) != 4:
                t.bad_width(cells)
                continue
            h_raw, p_raw, e_raw, k_raw = cells
            h = hospitals.get(h_raw) or check(hospitals, validate_institution_code,
                                              "hospital_code", h_raw, f, t.line)
            p = products.get(p_raw) or check(products, _product_code, "product_code", p_raw,
                                             f, t.line)
            e = enterprises.get(e_raw) or check(enterprises, validate_uscc, "enterprise_code",
                                                e_raw, f, t.line)
            k = ranks.get(k_raw)
            if k is None:
                k = _uint(k_raw)
                if k is None or k < 1:
                    problems.append(InputProblem(f, t.line, "rank",
                                                 f"must be a whole number ≥ 1, got {k_raw!r}"))
                    continue
                ranks[k_raw] = k
            if h is None or p is None or e is None:
                continue
            if e not in winners.get(p, none):
                problems.append(InputProblem(
                    f, t.line, "enterprise_code",
                    f"{e} is not a winner of product {p} in winners.csv"))
                continue
            by_h = choices.get(p)
            if by_h is None:
                by_h = choices[p] = {}
            listed = by_h.get(h)
            if listed is None:
                by_h[h] = {e: k}
            elif e in listed:
                problems.append(InputProblem(f, t.line, "enterprise_code",
                                             f"duplicate choice of {e} by {h} for {p}"))
            else:
                listed[e] = k
    return choices


def write_allocation(path: Path, allocation: Allocation) -> None:
    """Write the rows to a temporary file next to ``path`` and rename it over ``path``."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(OUTPUT_COLUMNS)
            writer.writerows(allocation.rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class RunResult:
    """What :func:`run_allocate` did, with its phases timed (the benchmark reads these)."""

    allocation: Allocation
    read_seconds: float
    solve_seconds: float
    write_seconds: float
    seconds: float

    def summary(self) -> dict[str, object]:
        a = self.allocation
        return {"status": a.status, "products": a.products, "variables": a.variables,
                "rank_penalty": a.rank_penalty, "total_cost_fen": a.total_cost_fen,
                "seconds": round(self.seconds, 3)}


def run_allocate(input_dir: Path, output: Path, *, processes: int | None = None,
                 solver: str = "highs", aggregate: bool = True) -> RunResult:
    """Read, solve, write (when optimal): the whole ``allocate`` command minus its exit codes.
    Raises :class:`InputError` (bad input) or :class:`ProblemError`. ``aggregate=False``
    (benchmark only) solves one LP row per hospital instead of per group of hospitals."""
    t0 = time.perf_counter()
    problem = read_problem(input_dir)
    t1 = time.perf_counter()
    allocation = solve(problem, processes=processes, solver=solver,  # type: ignore[arg-type]
                       aggregate=aggregate)
    del problem
    t2 = time.perf_counter()
    if allocation.status == "optimal":
        write_allocation(output, allocation)
    t3 = time.perf_counter()
    return RunResult(allocation, t1 - t0, t2 - t1, t3 - t2, t3 - t0)


@procurement_cli.command("allocate")
@click.option("--input", "input_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory with demand.csv, winners.csv and optionally choices.csv.")
@click.option("--output", "output", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="CSV to write: " + ",".join(OUTPUT_COLUMNS))
@click.option("--processes", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per CPU when the instance is large).")
@click.option("--solver", type=click.Choice(["highs", "cbc"]), default="highs",
              show_default=True, help="HiGHS through PuLP, or PuLP's CBC.")
@click.pass_context
def allocate(ctx: click.Context, input_dir: Path, output: Path, processes: int | None,
             solver: str) -> None:
    """Allocate agreed volumes (约定采购量分配) optimally from CSV files.

    The least rank penalty Σ (rank − 1) × volume first, then the least cost; whole units.
    Exit status 0 when optimal, 2 when infeasible (diagnosis on stderr), 1 on bad input.
    """
    try:
        result = run_allocate(input_dir, output, processes=processes, solver=solver)
    except InputError as exc:
        for problem in exc.problems[:MAX_ERRORS]:
            click.echo(str(problem), err=True)
        if len(exc.problems) > MAX_ERRORS:
            click.echo(f"… and {len(exc.problems) - MAX_ERRORS} more problem(s)", err=True)
        click.echo("nothing was solved or written", err=True)
        ctx.exit(1)
    except ProblemError as exc:
        click.echo(f"{input_dir}: {exc}", err=True)
        ctx.exit(1)
    except OSError as exc:
        click.echo(f"{output}: cannot write the output: {exc}", err=True)
        ctx.exit(1)
    for line in result.allocation.diagnosis:
        click.echo(line, err=True)
    click.echo(json.dumps(result.summary(), ensure_ascii=False))
    if result.allocation.status != "optimal":
        ctx.exit(2)
