"""``flask procurement allocate``: offline allocation (约定采购量分配) from CSV files."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from core.codes import make_institution_code, make_uscc
from procurement.cli import OUTPUT_COLUMNS, init_app, procurement_cli, read_problem

REPO = Path(__file__).resolve().parents[2]

H1, H2, H3 = (make_institution_code("330102", n) for n in (1, 2, 3))
E1, E2, E3 = (make_uscc("9", "1", "330100", f"1000000{n}") for n in (1, 2, 3))
P1 = "XC10AAA0000000000000001"          # a western-medicine drug code
P2 = "C" + "1" * 26                     # a consumable code, sorts before P1

DEMAND = f"""hospital_code,product_code,volume
{H1},{P1},100
{H2},{P1},50
{H3},{P1},30
{H1},{P2},7
"""
WINNERS = f"""product_code,enterprise_code,unit_price,capacity,min_share
{P1},{E1},0.1235,120,
{P1},{E2},0.2000,,0.1
{P1},{E3},0.15,20,
{P2},{E1},1.0000,,
"""
CHOICES = f"""hospital_code,product_code,enterprise_code,rank
{H3},{P1},{E3},1
{H3},{P1},{E2},2
"""
# By hand. P1: total demand 180, E2's floor ceil(0.1 × 180) = 18. H3 takes all of E3 (20, its
# first choice) and 10 from E2 (second choice): penalty 10. H1 and H2 (no choices, one group)
# get E1's 120 and E2's 30, split north-west: H1 100 × E1; H2 20 × E1 + 30 × E2.
# P2: H1 7 × E1. Money per row, half up: 12.35 + 2.47 + 6.00 + 2.00 + 3.00 + 7.00 yuan.
EXPECTED_ROWS = [
    [H1, P2, E1, "7"],
    [H1, P1, E1, "100"],
    [H2, P1, E1, "20"],
    [H2, P1, E2, "30"],
    [H3, P1, E2, "10"],
    [H3, P1, E3, "20"],
]


def write_case(directory: Path, demand: str = DEMAND, winners: str = WINNERS,
               choices: str | None = CHOICES, *, bom: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    prefix = b"\xef\xbb\xbf" if bom else b""
    (directory / "demand.csv").write_bytes(prefix + demand.encode())
    (directory / "winners.csv").write_bytes(prefix + winners.encode())
    if choices is not None:
        (directory / "choices.csv").write_bytes(prefix + choices.encode())
    return directory


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def run_flask(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:////{tmp_path.as_posix().lstrip('/')}/x.db",
        "YAOCAI_INSTANCE": str(tmp_path / "instance"),
        "YAOCAI_ENV": "development",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "PYTHONPATH": str(REPO),
    }
    flask = Path(sys.executable).with_name("flask")
    return subprocess.run([str(flask), "--app", "wsgi", "procurement", "allocate", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


# --- the real command ------------------------------------------------------------------------

def test_optimal_allocation_through_wsgi(tmp_path):
    case = write_case(tmp_path / "in")
    out = tmp_path / "out.csv"
    done = run_flask(tmp_path, "--input", str(case), "--output", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_rows(out) == [list(OUTPUT_COLUMNS), *EXPECTED_ROWS]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(done.stdout.strip().splitlines()) == 1
    seconds = summary.pop("seconds")
    assert isinstance(seconds, float) and seconds >= 0
    assert summary == {"status": "optimal", "products": 2, "variables": 9, "rank_penalty": 10,
                       "total_cost_fen": 1235 + 247 + 600 + 200 + 300 + 700}
    assert done.stderr == ""


def test_infeasible_allocation_through_wsgi(tmp_path):
    winners = WINNERS.replace(f"{P1},{E2},0.2000,,0.1", f"{P1},{E2},0.2000,10,0.1")
    case = write_case(tmp_path / "in", winners=winners)
    out = tmp_path / "out.csv"
    done = run_flask(tmp_path, "--input", str(case), "--output", str(out))
    assert done.returncode == 2, done.stdout + done.stderr
    assert not out.exists()
    assert f"product {P1}: demand 180 units, capacity 150 — 30 units short" in done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "infeasible"
    assert summary["rank_penalty"] is None and summary["total_cost_fen"] is None


def test_bad_input_through_wsgi(tmp_path):
    demand = DEMAND.replace(f"{H2},{P1},50", f"{H2},{P1},-50")
    stranger = make_uscc("9", "1", "330100", "19999999")
    choices = CHOICES + f"{H1},{P1},{E1},0\n{H2},{P1},{stranger},1\n"
    case = write_case(tmp_path / "in", demand=demand, choices=choices)
    out = tmp_path / "out.csv"
    out.write_text("previous result\n")
    done = run_flask(tmp_path, "--input", str(case), "--output", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    assert out.read_text() == "previous result\n"  # untouched
    assert done.stdout == ""
    assert "demand.csv, line 3, field volume: must be a whole number of units ≥ 0, got '-50'" \
        in done.stderr
    assert "choices.csv, line 4, field rank:" in done.stderr
    assert "choices.csv, line 5, field enterprise_code:" in done.stderr
    assert "is not a winner of product" in done.stderr


# --- in process: the reader's rules ----------------------------------------------------------

@pytest.fixture
def runner():
    app = Flask(__name__)
    init_app(app)
    init_app(app)  # registering twice is harmless
    assert app.cli.commands["procurement"] is procurement_cli
    return app.test_cli_runner()


def invoke(runner, case: Path, out: Path, *extra: str):
    return runner.invoke(args=["procurement", "allocate", "--input", str(case),
                               "--output", str(out), *extra])


def test_bom_reordered_columns_and_normalised_codes(runner, tmp_path):
    winners = "\n".join(
        [",".join(reversed(line.split(","))) for line in WINNERS.strip().splitlines()]) + "\n"
    # full-width digits and lower case are normalised by the code validators
    demand = DEMAND.replace(H1, H1.lower().replace("3", "３"), 1)
    case = write_case(tmp_path / "in", demand=demand, winners=winners, bom=True)
    out = tmp_path / "out.csv"
    result = invoke(runner, case, out, "--processes", "1")
    assert result.exit_code == 0, result.output
    assert read_rows(out)[1:] == EXPECTED_ROWS


def test_without_choices_file(runner, tmp_path):
    case = write_case(tmp_path / "in", choices=None)
    out = tmp_path / "out.csv"
    result = invoke(runner, case, out)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rank_penalty"] == 0


def test_cbc_solver_option(runner, tmp_path):
    case = write_case(tmp_path / "in")
    out = tmp_path / "out.csv"
    result = invoke(runner, case, out, "--solver", "cbc")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["rank_penalty"], summary["total_cost_fen"]) == (10, 3282)


@pytest.mark.parametrize(("file", "text", "expected"), [
    ("demand.csv", f"hospital_code,product_code,volume\n{H1},{P1},100\n{H1},{P1},5\n",
     f"demand.csv, line 3, field hospital_code: duplicate demand of {H1} for {P1}"),
    ("demand.csv", f"hospital_code,product_code,volume\n{H1},{P1},1.5\n",
     "demand.csv, line 2, field volume: must be a whole number of units ≥ 0, got '1.5'"),
    ("demand.csv", f"hospital_code,product_code,volume\nH123,{P1},1\n",
     "demand.csv, line 2, field hospital_code: The institution code must be 12 characters"),
    ("demand.csv", f"hospital_code,product_code,volume\n{H1},Q123,1\n",
     "demand.csv, line 2, field product_code: The product code must be a drug code"),
    ("demand.csv", f"hospital_code,product_code\n{H1},{P1}\n",
     "demand.csv, line 1: missing column(s) volume"),
    ("demand.csv", f"hospital_code,product_code,volume\n{H1},{P1}\n",
     "demand.csv, line 2: expected 3 cells, found 2"),
    ("winners.csv", WINNERS + f"{P1},{E1},0.1300,,\n",
     f"winners.csv, line 6, field enterprise_code: duplicate winner {E1} of product {P1}"),
    ("winners.csv", WINNERS + f"{P2},{E2},0.12345,,\n",
     "winners.csv, line 6, field unit_price: The price may have at most 4 decimal places."),
    ("winners.csv", WINNERS + f"{P2},{E2},0.1,-3,\n",
     "winners.csv, line 6, field capacity: must be a whole number of units ≥ 0"),
    ("winners.csv", WINNERS + f"{P2},{E2},0.1,,1.2\n",
     "winners.csv, line 6, field min_share: must be a fraction from 0 to 1"),
    ("winners.csv", WINNERS + f"{P2},91330100MA2XXXXXXX,0.1,,\n",
     "winners.csv, line 6, field enterprise_code:"),
    ("choices.csv", CHOICES + f"{H3},{P1},{E3},2\n",
     f"choices.csv, line 4, field enterprise_code: duplicate choice of {E3} by {H3} for {P1}"),
    ("choices.csv", CHOICES + f"{H3},{P2},{E3},1\n",
     f"choices.csv, line 4, field enterprise_code: {E3} is not a winner of product {P2}"),
])
def test_bad_input_is_reported_by_file_line_and_field(runner, tmp_path, file, text, expected):
    case = write_case(tmp_path / "in")
    (case / file).write_text(text, encoding="utf-8")
    out = tmp_path / "out.csv"
    result = invoke(runner, case, out)
    assert result.exit_code == 1, result.output
    assert expected in result.stderr
    assert "nothing was solved or written" in result.stderr
    assert not out.exists()


def test_every_bad_row_is_listed(runner, tmp_path):
    lines = ["hospital_code,product_code,volume"] + [f"{H1},{P1},x{n}" for n in range(60)]
    case = write_case(tmp_path / "in", demand="\n".join(lines) + "\n")
    result = invoke(runner, case, tmp_path / "out.csv")
    assert result.exit_code == 1
    assert "demand.csv, line 2, field volume" in result.stderr
    assert "demand.csv, line 51, field volume" in result.stderr
    assert "… and 10 more problem(s)" in result.stderr


def test_not_utf8_and_missing_files(runner, tmp_path):
    case = write_case(tmp_path / "in")
    (case / "demand.csv").write_bytes(b"hospital_code,product_code,volume\n\xff\xfe,x,1\n")
    (case / "winners.csv").unlink()
    result = invoke(runner, case, tmp_path / "out.csv")
    assert result.exit_code == 1
    assert "demand.csv: the file is not UTF-8 text" in result.stderr
    assert "winners.csv: cannot read the file" in result.stderr


def test_demand_for_a_product_without_winners_is_infeasible_not_bad_input(runner, tmp_path):
    case = write_case(tmp_path / "in", demand=DEMAND + f"{H2},{'X' + 'B' * 22},5\n")
    out = tmp_path / "out.csv"
    result = invoke(runner, case, out)
    assert result.exit_code == 2
    assert f"product {'X' + 'B' * 22}: no winner, but 1 hospital(s) demand 5 units" \
        in result.stderr
    assert not out.exists()


def test_read_problem_groups_rows(tmp_path):
    grouped = read_problem(write_case(tmp_path / "in"))
    assert grouped.demand[P1] == {H1: 100, H2: 50, H3: 30}
    assert grouped.choices == {P1: {H3: {E3: 1, E2: 2}}}
    assert grouped.winners[P1][E3].capacity == 20


@pytest.mark.parametrize("seed", [3, 4])
def test_the_benchmark_generator_writes_valid_feasible_input(runner, tmp_path, seed):
    from bench.allocation_data import generate

    inst = generate("tiny", seed)
    inst.write(tmp_path / "in")
    out = tmp_path / "out.csv"
    result = invoke(runner, tmp_path / "in", out)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["products"], summary["variables"]) == (inst.products, inst.variables)
    assert summary["rank_penalty"] > 0  # choices and capacities make it non-trivial
    assert sum(int(r[3]) for r in read_rows(out)[1:]) == sum(
        int(line.rsplit(",", 1)[1]) for line in inst.demand_csv.splitlines()[1:])
