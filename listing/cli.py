"""Listing commands: ``flask --app wsgi listing <command>``.

``price-check`` computes price-difference caps (差比价上限) for a CSV file offline, with the
default rule parameters; it touches no database.
"""
from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from core.money import price_text
from core.tabular import CsvFile, CsvFileError
from listing.price_rules import (
    DEFAULT_LISTING_RULES,
    PriceRuleError,
    Spec,
    diff_cap,
    format_k,
    parse_decimal,
)

listing_cli = AppGroup("listing", help="Listing (挂网): offline price tools.")

#: The columns of the input file of ``price-check``: representative product, then target.
INPUT_COLUMNS: tuple[str, ...] = (
    "rep_form", "rep_content", "rep_content_unit", "rep_volume_ml", "rep_units", "rep_price",
    "form", "content", "content_unit", "volume_ml", "units",
)
#: The columns ``price-check`` appends to each row.
OUTPUT_COLUMNS: tuple[str, ...] = ("k_form", "k_content", "k_volume", "k_units", "cap_price")



class CsvError(Exception):
    """A problem with the input file; ``line`` is the 1-based line (header = 1) when known."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


def init_app(app: Flask) -> None:
    """Register the ``listing`` command group on ``app``."""
    if "listing" not in app.cli.commands:
        app.cli.add_command(listing_cli)


def _optional_decimal(text: str, field: str) -> Decimal | None:
    return parse_decimal(text, field) if text.strip() else None


def _optional_text(text: str) -> str | None:
    return text.strip() or None


def _units(text: str, field: str) -> int:
    stripped = text.strip()
    if not stripped.isascii() or not stripped.isdigit() or int(stripped) <= 0:
        raise PriceRuleError(field, f"{text!r} is not a positive whole number of units.")
    return int(stripped)


def _required_text(text: str, field: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise PriceRuleError(field, "This field is required.")
    return stripped


def _spec(row: dict[str, str], prefix: str) -> Spec:
    return Spec(
        form=_required_text(row[f"{prefix}form"], f"{prefix}form"),
        content=_optional_decimal(row[f"{prefix}content"], f"{prefix}content"),
        content_unit=_optional_text(row[f"{prefix}content_unit"]),
        volume_ml=_optional_decimal(row[f"{prefix}volume_ml"], f"{prefix}volume_ml"),
        units=_units(row[f"{prefix}units"], f"{prefix}units"),
    )


def _price_row(row: dict[str, str]) -> list[str]:
    """The output cells of one data row; raises :class:`PriceRuleError` naming the field."""
    rep = _spec(row, "rep_")
    rep_price = parse_decimal(row["rep_price"], "rep_price")
    target = _spec(row, "")
    factors, cap = diff_cap(rep_price, rep, target, DEFAULT_LISTING_RULES.to_diff_params())
    return [format_k(factors.form), format_k(factors.content), format_k(factors.volume),
            format_k(factors.units), price_text(cap)]


@dataclass
class _Table:
    header: list[str]
    rows: list[list[str]]
    had_bom: bool


def price_check_file(input_path: Path) -> _Table:
    """Read ``input_path`` and compute the output table; raises :class:`CsvError`."""
    try:
        with CsvFile(input_path, INPUT_COLUMNS, expected="Expected exactly: ") as f:
            rows: list[list[str]] = []
            for cells in f.rows:
                if not any(cell.strip() for cell in cells):
                    continue  # blank line
                if len(cells) != len(f.names):
                    raise CsvError(f"expected {len(f.names)} cells, found {len(cells)}",
                                   line=f.line)
                row = dict(zip(f.names, cells, strict=True))
                try:
                    rows.append([*cells, *_price_row(row)])
                except PriceRuleError as exc:
                    raise CsvError(exc.message, line=f.line, field=exc.field) from None
    except CsvFileError as exc:
        raise CsvError(exc.message, line=exc.line) from None
    return _Table(header=[*f.header, *OUTPUT_COLUMNS], rows=rows, had_bom=f.had_bom)


def _write_atomically(path: Path, table: _Table) -> None:
    """Write to a temporary file next to ``path`` and rename it, so a failure leaves nothing."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig" if table.had_bom else "utf-8",
                       newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(table.header)
            writer.writerows(table.rows)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


@listing_cli.command("price-check")
@click.option("--input", "input_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with columns " + ",".join(INPUT_COLUMNS))
@click.option("--output", "output_path", required=True,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="CSV to write: the input columns plus " + ",".join(OUTPUT_COLUMNS))
@click.pass_context
def price_check(ctx: click.Context, input_path: Path, output_path: Path) -> None:
    """Compute price-difference caps (差比价上限) for every row of a CSV file.

    Each row gives a representative product (rep_*) with its package price and a target
    specification; the output adds the factors K (4 places) and the cap in yuan (2 places),
    with the default dosage-form ratio table. A bad row stops the run with exit status 1 and
    no output file.
    """
    try:
        table = price_check_file(input_path)
    except CsvError as exc:
        click.echo(f"{input_path}: {exc}", err=True)
        ctx.exit(1)
    try:
        _write_atomically(output_path, table)
    except OSError as exc:
        click.echo(f"{output_path}: cannot write the output: {exc}", err=True)
        ctx.exit(1)
    click.echo(f"{len(table.rows)} row(s) priced, written to {output_path}")
