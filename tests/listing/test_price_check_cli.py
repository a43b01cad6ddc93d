"""``flask listing price-check``: offline price-difference caps (差比价上限) for a CSV file."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from listing.cli import INPUT_COLUMNS, OUTPUT_COLUMNS, listing_cli

REPO = Path(__file__).resolve().parents[2]
HEADER = ",".join(INPUT_COLUMNS)

# The worked examples of DOMAIN.md, plus a form change and a 万IU/IU row.
HAPPY_ROWS = [
    "普通片,10,mg,,24,3.00,普通片,20,mg,,24",
    "普通片,10,mg,,24,3.00,普通片,40,mg,,24",
    "硬胶囊,0.25,g,,24,8.72,硬胶囊,0.25,g,,48",
    "口服溶液,,,100,1,20.00,口服溶液,,,200,1",
    "普通片,10,mg,,24,3.00,肠溶片,20,mg,,48",
    "硬胶囊,250,mg,,24,8.72,硬胶囊,250000,μg,,24",
    "软胶囊,1,万IU,,10,5.00,软胶囊,20000,IU,,10",
    "普通片,10,mg,,24,3.00,普通片,15,mg,,24",
]
# k_form, k_content, k_volume, k_units, cap_price for each row above.
EXPECTED = [
    ["1.0000", "1.7000", "1.0000", "1.0000", "5.10"],
    ["1.0000", "2.8900", "1.0000", "1.0000", "8.67"],
    ["1.0000", "1.0000", "1.0000", "1.9500", "17.00"],
    ["1.0000", "1.0000", "1.9000", "1.0000", "38.00"],
    ["1.1000", "1.7000", "1.0000", "1.9500", "10.94"],
    ["1.0000", "1.0000", "1.0000", "1.0000", "8.72"],
    ["1.0000", "1.7000", "1.0000", "1.0000", "8.50"],
    ["1.0000", "1.3640", "1.0000", "1.0000", "4.09"],
]


@pytest.fixture
def runner():
    app = Flask(__name__)
    app.cli.add_command(listing_cli)
    return app.test_cli_runner()


def write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def run(runner, src: Path, out: Path):
    return runner.invoke(args=["listing", "price-check", "--input", str(src),
                               "--output", str(out)])


def test_happy_path(runner, tmp_path):
    src = write(tmp_path / "in.csv", "\n".join([HEADER, *HAPPY_ROWS]) + "\n")
    out = tmp_path / "out.csv"
    result = run(runner, src, out)
    assert result.exit_code == 0, result.output + result.stderr
    assert "8 row(s)" in result.output
    rows = read_rows(out)
    assert rows[0] == [*INPUT_COLUMNS, *OUTPUT_COLUMNS]
    assert len(rows) == 1 + len(HAPPY_ROWS)
    for given, line, expected in zip(rows[1:], HAPPY_ROWS, EXPECTED, strict=True):
        assert given[:len(INPUT_COLUMNS)] == line.split(",")  # input repeated as given
        assert given[len(INPUT_COLUMNS):] == expected, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]  # no temp file


def test_bom_crlf_and_blank_lines_accepted(runner, tmp_path):
    src = write(tmp_path / "in.csv", "\r\n".join([HEADER, HAPPY_ROWS[0], "", HAPPY_ROWS[2]]),
                bom=True)
    out = tmp_path / "out.csv"
    result = run(runner, src, out)
    assert result.exit_code == 0, result.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM is kept for spreadsheet users
    rows = read_rows(out)
    assert rows[0][0] == "rep_form"
    assert [r[-1] for r in rows[1:]] == ["5.10", "17.00"]


def test_columns_in_another_order(runner, tmp_path):
    columns = list(reversed(INPUT_COLUMNS))
    cells = list(reversed(HAPPY_ROWS[1].split(",")))
    src = write(tmp_path / "in.csv", ",".join(columns) + "\n" + ",".join(cells) + "\n")
    out = tmp_path / "out.csv"
    result = run(runner, src, out)
    assert result.exit_code == 0, result.stderr
    rows = read_rows(out)
    assert rows[0] == [*columns, *OUTPUT_COLUMNS]
    assert rows[1] == [*cells, *EXPECTED[1]]


@pytest.mark.parametrize(("bad_row", "field"), [
    ("普通片,10,mg,,24,3.00,普通片,20,mg,,0", "units"),
    ("普通片,10,mg,,2.5,3.00,普通片,20,mg,,24", "rep_units"),
    ("普通片,10,mg,,24,abc,普通片,20,mg,,24", "rep_price"),
    ("普通片,10,mg,,24,3.00,糖衣丸,20,mg,,24", "form"),
    ("普通片,10,kg,,24,3.00,普通片,20,mg,,24", "rep_content_unit"),
    ("普通片,10,mg,,24,3.00,普通片,20,IU,,24", "content_unit"),
    ("普通片,10,mg,,24,3.00,普通片,x,mg,,24", "content"),
    ("口服溶液,,,100,1,20.00,口服溶液,,,,1", "volume_ml"),
    (",10,mg,,24,3.00,普通片,20,mg,,24", "rep_form"),
])
def test_bad_row_stops_the_run(runner, tmp_path, bad_row, field):
    # the bad row is data row 3 → line 4 of the file (header = line 1)
    src = write(tmp_path / "in.csv",
                "\n".join([HEADER, HAPPY_ROWS[0], HAPPY_ROWS[1], bad_row, HAPPY_ROWS[2]]) + "\n")
    out = tmp_path / "out.csv"
    result = run(runner, src, out)
    assert result.exit_code == 1
    assert "line 4" in result.stderr
    assert f"field {field}:" in result.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # no temp file left


def test_bad_row_keeps_an_existing_output(runner, tmp_path):
    src = write(tmp_path / "in.csv", f"{HEADER}\n普通片,10,mg,,24,-3,普通片,20,mg,,24\n")
    out = tmp_path / "out.csv"
    out.write_text("previous")
    result = run(runner, src, out)
    assert result.exit_code == 1
    assert "line 2" in result.stderr and "rep_price" in result.stderr
    assert out.read_text() == "previous"


def test_row_with_the_wrong_number_of_cells(runner, tmp_path):
    src = write(tmp_path / "in.csv", f"{HEADER}\n{HAPPY_ROWS[0]}\n{HAPPY_ROWS[0]},extra\n")
    out = tmp_path / "out.csv"
    result = run(runner, src, out)
    assert result.exit_code == 1
    assert "line 3" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(("header", "named"), [
    (HEADER.replace(",units", ""), ["missing", "units"]),
    (HEADER + ",note", ["unexpected", "note"]),
    (HEADER.replace("rep_price", "price"), ["missing", "rep_price", "unexpected", "price"]),
    (HEADER + ",units", ["duplicate", "units"]),
])
def test_wrong_header_rejected(runner, tmp_path, header, named):
    src = write(tmp_path / "in.csv", header + "\n" + HAPPY_ROWS[0] + "\n")
    out = tmp_path / "out.csv"
    result = run(runner, src, out)
    assert result.exit_code == 1
    for word in named:
        assert word in result.stderr
    assert "line 1" in result.stderr
    assert not out.exists()


def test_empty_and_non_utf8_files_rejected(runner, tmp_path):
    out = tmp_path / "out.csv"
    empty = write(tmp_path / "empty.csv", "")
    result = run(runner, empty, out)
    assert result.exit_code == 1 and "empty" in result.stderr
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((HEADER + "\n" + HAPPY_ROWS[0] + "\n").encode("gbk"))
    result = run(runner, gbk, out)
    assert result.exit_code == 1 and "UTF-8" in result.stderr
    assert not out.exists()


def test_header_only_writes_a_header(runner, tmp_path):
    src = write(tmp_path / "in.csv", HEADER + "\n")
    out = tmp_path / "out.csv"
    result = run(runner, src, out)
    assert result.exit_code == 0, result.stderr
    assert read_rows(out) == [[*INPUT_COLUMNS, *OUTPUT_COLUMNS]]


def test_real_command_through_wsgi(tmp_path):
    """The command as operators run it: ``flask --app wsgi listing price-check``."""
    src = write(tmp_path / "in.csv", "\n".join([HEADER, *HAPPY_ROWS[:4]]) + "\n")
    out = tmp_path / "out.csv"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "YAOCAI_INSTANCE": str(tmp_path / "instance"),
        "YAOCAI_ENV": "development",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "PYTHONPATH": str(REPO),
    }
    flask = Path(sys.executable).with_name("flask")
    done = subprocess.run(
        [str(flask), "--app", "wsgi", "listing", "price-check", "--input", str(src),
         "--output", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r[-1] for r in read_rows(out)[1:]] == ["5.10", "8.67", "17.00", "38.00"]

    bad = write(tmp_path / "bad.csv", f"{HEADER}\n{HAPPY_ROWS[0]}\n普通片,10,mg,,24,3.00,普通片,20,mg,,0\n")
    out2 = tmp_path / "out2.csv"
    done = subprocess.run(
        [str(flask), "--app", "wsgi", "listing", "price-check", "--input", str(bad),
         "--output", str(out2)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "line 3" in done.stderr and "field units:" in done.stderr
    assert not out2.exists()
