"""Tests of the money kernel (core.money) and the Price column type."""

from __future__ import annotations

import os
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import StatementError

from core.errors import Invalid
from core.money import (
    MAX_FEN,
    MAX_PRICE,
    PRICE_PLACES,
    Price,
    fen_to_yuan,
    format_fen,
    format_price,
    line_amount_fen,
    line_amounts_total_fen,
    round_half_up_fen,
    sum_fen,
    to_price,
    yuan_to_fen,
)

# --- strategies -------------------------------------------------------------------------------

# A unit price as the platform stores it: a count of 1/10000 yuan.
price_units = st.integers(min_value=0, max_value=10**12 * 10**4 - 1)
prices = price_units.map(lambda n: Decimal(n).scaleb(-4))
small_prices = st.integers(min_value=0, max_value=10**9).map(
    lambda n: Decimal(n).scaleb(-4)
)
quantities = st.integers(min_value=-(10**9), max_value=10**9)
fens = st.integers(min_value=-MAX_FEN, max_value=MAX_FEN)


def fraction_half_up(x: Fraction) -> int:
    """Round half away from zero, computed with Fractions (independent of core.money)."""
    sign = -1 if x < 0 else 1
    magnitude = abs(x)
    whole = magnitude.numerator // magnitude.denominator
    if magnitude - whole >= Fraction(1, 2):
        whole += 1
    return sign * whole


# --- line amount ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qty", "price", "fen"),
    [
        (3, "0.1235", 37),  # 37.05 fen → 37
        (1, "0.0050", 1),  # exactly half a fen rounds up
        (1, "0.0049", 0),
        (1, "0.0149", 1),
        (1, "0.0150", 2),
        (2, "0.0025", 1),  # 0.5 fen → 1
        (-1, "0.0050", -1),  # half away from zero on returns
        (-1, "0.0049", 0),
        (-3, "0.1235", -37),
        (0, "123.4567", 0),
        (1000, "0.1235", 12350),
        (7, "12.3456", 8642),  # 86.4192 yuan = 8641.92 fen → 8642
        (10**9, "99999.9999", 9999999990000000),
    ],
)
def test_line_amount_worked_examples(qty: int, price: str, fen: int) -> None:
    assert line_amount_fen(qty, Decimal(price)) == fen


def test_line_amount_accepts_decimal_quantity() -> None:
    assert line_amount_fen(Decimal("1.5"), Decimal("0.0100")) == 2  # 1.5 fen → 2


def test_line_amount_rejects_float() -> None:
    with pytest.raises(TypeError):
        line_amount_fen(1, 0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        line_amount_fen(1.0, Decimal("0.5"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        line_amount_fen(True, Decimal("0.5"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        line_amount_fen(1, "0.5")  # type: ignore[arg-type]


def test_line_amount_rejects_non_finite() -> None:
    with pytest.raises(ValueError):
        line_amount_fen(1, Decimal("NaN"))


def test_line_amount_ignores_thread_decimal_context() -> None:
    import decimal

    with decimal.localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = decimal.ROUND_DOWN
        assert line_amount_fen(10**9, Decimal("99999.9999")) == 9999999990000000
        assert line_amount_fen(1, Decimal("0.0050")) == 1


@given(quantities, prices)
def test_line_amount_matches_fraction_reference(qty: int, price: Decimal) -> None:
    expected = fraction_half_up(Fraction(qty) * Fraction(price) * 100)
    assert line_amount_fen(qty, price) == expected


@given(quantities, prices)
def test_line_amount_within_half_a_fen(qty: int, price: Decimal) -> None:
    exact = Fraction(qty) * Fraction(price) * 100
    assert abs(line_amount_fen(qty, price) - exact) <= Fraction(1, 2)


@settings(deadline=None)
@given(st.lists(st.tuples(quantities, price_units), max_size=20))
def test_line_amounts_total_is_the_sum_of_line_amounts(lines: list[tuple[int, int]]) -> None:
    expected = sum(line_amount_fen(q, Decimal(u).scaleb(-4)) for q, u in lines)
    assert line_amounts_total_fen([q for q, _ in lines], [u for _, u in lines]) == expected


def test_line_amounts_total_worked_examples() -> None:
    # 3 × ¥0.1235 = 37.05 fen → 37; 1 × ¥0.0050 → 1; -1 × ¥0.0050 → -1; 1 × ¥0.0049 → 0
    assert line_amounts_total_fen([3, 1, -1, 1], [1235, 50, 50, 49]) == 37 + 1 - 1 + 0
    with pytest.raises(TypeError):
        line_amounts_total_fen([1.0], [50])  # type: ignore[list-item]


@given(quantities, prices)
def test_line_amount_sign_symmetry(qty: int, price: Decimal) -> None:
    assert line_amount_fen(-qty, price) == -line_amount_fen(qty, price)


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [
        ("0.005", 1),
        ("0.0049", 0),
        ("-0.005", -1),
        ("-0.0051", -1),
        ("1.234", 123),
        ("2.675", 268),
    ],
)
def test_round_half_up_fen(yuan: str, fen: int) -> None:
    assert round_half_up_fen(Decimal(yuan)) == fen


def test_round_half_up_fen_rejects_float() -> None:
    with pytest.raises(TypeError):
        round_half_up_fen(2.675)  # type: ignore[arg-type]


# --- parsing prices and amounts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.5", "12.5000"),
        (" 3 ", "3.0000"),
        ("0.0012", "0.0012"),
        ("1.23450", "1.2345"),
        (".5", "0.5000"),
        (7, "7.0000"),
        (Decimal("0.1"), "0.1000"),
        ("-0", "0.0000"),
        ("99999999999999.9999", "99999999999999.9999"),
    ],
)
def test_to_price_parses(raw: object, expected: str) -> None:
    price = to_price(raw)  # type: ignore[arg-type]
    assert price == Decimal(expected)
    assert price.as_tuple().exponent == -4
    assert str(price) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "1.23456",
        "-1",
        "abc",
        "",
        "  ",
        "1e3",
        "1,000",
        "NaN",
        "Infinity",
        "١٢",
        "100000000000000",
    ],
)
def test_to_price_rejects_and_names_field(raw: str) -> None:
    with pytest.raises(Invalid) as info:
        to_price(raw, field="bid_price")
    assert [e.field for e in info.value.errors] == ["bid_price"]
    assert info.value.status == 422


def test_to_price_rejects_non_finite_decimal() -> None:
    with pytest.raises(Invalid) as info:
        to_price(Decimal("Infinity"))
    assert info.value.errors[0].field == "price"


def test_to_price_rejects_float() -> None:
    with pytest.raises(TypeError):
        to_price(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_price(True)  # type: ignore[arg-type]


@given(prices)
def test_to_price_idempotent(price: Decimal) -> None:
    once = to_price(price)
    assert to_price(once) == once
    assert to_price(str(once)) == once
    assert once.as_tuple().exponent == -4


@pytest.mark.parametrize(
    ("raw", "fen"),
    [
        ("12.34", 1234),
        ("-0.01", -1),
        ("5", 500),
        (" 1.50 ", 150),
        ("1.230", 123),
        (3, 300),
        (Decimal("-7.5"), -750),
    ],
)
def test_yuan_to_fen(raw: object, fen: int) -> None:
    assert yuan_to_fen(raw) == fen  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["0.001", "1.005", "x", "1e2", "", "NaN"])
def test_yuan_to_fen_rejects_and_names_field(raw: str) -> None:
    with pytest.raises(Invalid) as info:
        yuan_to_fen(raw, field="loan_amount")
    assert info.value.errors[0].field == "loan_amount"


def test_yuan_to_fen_rejects_float() -> None:
    with pytest.raises(TypeError):
        yuan_to_fen(1.5)  # type: ignore[arg-type]


def test_yuan_to_fen_rejects_overflow() -> None:
    with pytest.raises(Invalid):
        yuan_to_fen(Decimal(MAX_FEN + 1).scaleb(-2))


@given(fens)
def test_fen_yuan_round_trip(fen: int) -> None:
    yuan = fen_to_yuan(fen)
    assert yuan.as_tuple().exponent == -2
    assert Fraction(yuan) == Fraction(fen, 100)
    assert yuan_to_fen(yuan) == fen
    assert yuan_to_fen(str(yuan)) == fen


def test_fen_to_yuan_rejects_non_int() -> None:
    with pytest.raises(TypeError):
        fen_to_yuan(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fen_to_yuan(Decimal(1))  # type: ignore[arg-type]


# --- formatting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (123456, "¥1,234.56"),
        (-123456, "-¥1,234.56"),
        (0, "¥0.00"),
        (-1, "-¥0.01"),
        (5, "¥0.05"),
        (100, "¥1.00"),
        (123456789012, "¥1,234,567,890.12"),
    ],
)
def test_format_fen(fen: int, text: str) -> None:
    assert format_fen(fen) == text


@given(fens)
def test_format_fen_parses_back(fen: int) -> None:
    text = format_fen(fen)
    assert text.startswith(("¥", "-¥"))
    assert Decimal(text.replace("¥", "").replace(",", "")) == Decimal(fen) / 100


@pytest.mark.parametrize(
    ("price", "text"),
    [
        ("0.1234", "¥0.1234"),
        ("12345.6789", "¥12,345.6789"),
        ("0", "¥0.0000"),
        ("1234567.5", "¥1,234,567.5000"),
        ("0.00005", "¥0.0001"),  # display rounding is half-up
        ("-0.00001", "¥0.0000"),
    ],
)
def test_format_price(price: str, text: str) -> None:
    assert format_price(Decimal(price)) == text


def test_format_rejects_float() -> None:
    with pytest.raises(TypeError):
        format_fen(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_price(1.0)  # type: ignore[arg-type]


def test_sum_fen() -> None:
    assert sum_fen([1, 2, -3, 10**18]) == 10**18
    assert sum_fen(iter([])) == 0
    with pytest.raises(TypeError):
        sum_fen([1, Decimal(2)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        sum_fen([1, 2.0])  # type: ignore[list-item]


def test_constants() -> None:
    assert PRICE_PLACES == Decimal("0.0001")
    assert to_price(MAX_PRICE) == MAX_PRICE


# --- the Price column type ---------------------------------------------------------------------

_metadata = sa.MetaData()
_prices_table = sa.Table(
    "t",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("p", Price()),
)

_EDGE_PRICES = [
    Decimal("0.0001"),
    Decimal("123456789.1234"),
    Decimal("0.0000"),
    Decimal("0.0049"),
    Decimal("99999999999999.9999"),
    Decimal("12.5000"),
    Decimal("12.4999"),
]


@pytest.fixture()
def sqlite_conn():
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        _metadata.create_all(conn)
        yield conn
    engine.dispose()


def test_price_sqlite_round_trip_order_and_aggregates(
    sqlite_conn: sa.Connection,
) -> None:
    t = _prices_table
    sqlite_conn.execute(t.insert(), [{"p": p} for p in _EDGE_PRICES] + [{"p": None}])

    rows = sqlite_conn.execute(sa.select(t.c.p).order_by(t.c.id)).scalars().all()
    assert rows == [*_EDGE_PRICES, None]
    assert all(r.as_tuple().exponent == -4 for r in rows if r is not None)

    ordered = (
        sqlite_conn.execute(sa.select(t.c.p).where(t.c.p.is_not(None)).order_by(t.c.p))
        .scalars()
        .all()
    )
    assert ordered == sorted(_EDGE_PRICES)

    total, low, high = sqlite_conn.execute(
        sa.select(sa.func.sum(t.c.p), sa.func.min(t.c.p), sa.func.max(t.c.p))
    ).one()
    assert total == sum(
        _EDGE_PRICES
    )  # exact: 100000123456826.9999 has 18 significant digits
    assert isinstance(total, Decimal)
    assert low == Decimal("0.0000")
    assert high == Decimal("99999999999999.9999")

    # A comparison binds its Decimal through the same type, so it compares scaled integers.
    above = (
        sqlite_conn.execute(
            sa.select(t.c.p).where(t.c.p > Decimal("12.4999")).order_by(t.c.p)
        )
        .scalars()
        .all()
    )
    assert above == [
        Decimal("12.5000"),
        Decimal("123456789.1234"),
        Decimal("99999999999999.9999"),
    ]

    kinds = sqlite_conn.execute(
        sa.text("select distinct typeof(p) from t where p is not null")
    )
    assert kinds.scalars().all() == ["integer"]
    raw = sqlite_conn.execute(sa.text("select p from t where id = 2")).scalar_one()
    assert raw == 1234567891234


def test_price_rejects_float_bind(sqlite_conn: sa.Connection) -> None:
    with pytest.raises(StatementError) as info:
        sqlite_conn.execute(_prices_table.insert(), {"p": 1.5})
    assert isinstance(info.value.orig, TypeError)


@pytest.mark.parametrize(
    "bad", [Decimal("0.00001"), Decimal(100000000000000), Decimal("NaN")]
)
def test_price_rejects_unrepresentable_bind(
    sqlite_conn: sa.Connection, bad: Decimal
) -> None:
    with pytest.raises(StatementError) as info:
        sqlite_conn.execute(_prices_table.insert(), {"p": bad})
    assert isinstance(info.value.orig, ValueError)


def test_price_type_direct() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    price_type = Price()
    with pytest.raises(TypeError):
        price_type.process_bind_param(0.1, sqlite.dialect())
    with pytest.raises(TypeError):
        price_type.process_bind_param(0.1, postgresql.dialect())
    assert price_type.process_bind_param(Decimal("1.5"), sqlite.dialect()) == 15000
    assert price_type.process_bind_param(
        Decimal("1.5"), postgresql.dialect()
    ) == Decimal("1.5000")
    assert price_type.process_result_value(15000, sqlite.dialect()) == Decimal("1.5000")
    assert repr(price_type) == "Price()"
    ddl_pg = str(
        sa.schema.CreateTable(_prices_table).compile(dialect=postgresql.dialect())
    )
    ddl_lite = str(
        sa.schema.CreateTable(_prices_table).compile(dialect=sqlite.dialect())
    )
    assert "p NUMERIC(18, 4)" in ddl_pg
    assert "p BIGINT" in ddl_lite


@settings(deadline=None)
@given(st.lists(prices, min_size=1, max_size=20))
def test_price_sqlite_round_trip_property(values: list[Decimal]) -> None:
    engine = sa.create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            _metadata.create_all(conn)
            conn.execute(_prices_table.insert(), [{"p": v} for v in values])
            back = (
                conn.execute(sa.select(_prices_table.c.p).order_by(_prices_table.c.id))
                .scalars()
                .all()
            )
            assert back == values
            assert all(b.as_tuple().exponent == -4 for b in back)
            ordered = (
                conn.execute(sa.select(_prices_table.c.p).order_by(_prices_table.c.p))
                .scalars()
                .all()
            )
            assert ordered == sorted(values)
            # Keep the SUM inside SQLite's 64-bit integer range (values are < 10^16 scaled).
            assert conn.execute(
                sa.select(sa.func.sum(_prices_table.c.p))
            ).scalar_one() == sum(values)
    finally:
        engine.dispose()


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="TEST_DATABASE_URL is not set to a PostgreSQL database",
)
def test_price_postgresql_round_trip() -> None:
    engine = sa.create_engine(os.environ["TEST_DATABASE_URL"])
    metadata = sa.MetaData()
    table = sa.Table(
        "money_price_probe",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("p", Price()),
        prefixes=["TEMPORARY"],
    )
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                metadata.create_all(conn)
                sql_type = conn.execute(
                    sa.text(
                        "select format_type(atttypid, atttypmod) from pg_attribute "
                        "where attrelid = 'money_price_probe'::regclass and attname = 'p'"
                    )
                ).scalar_one()
                assert sql_type == "numeric(18,4)"
                values = [*_EDGE_PRICES, Decimal(7)]
                conn.execute(table.insert(), [{"p": v} for v in values])
                back = (
                    conn.execute(sa.select(table.c.p).order_by(table.c.id))
                    .scalars()
                    .all()
                )
                assert back == values
                assert all(b.as_tuple().exponent == -4 for b in back)
                ordered = (
                    conn.execute(sa.select(table.c.p).order_by(table.c.p))
                    .scalars()
                    .all()
                )
                assert ordered == sorted(values)
                total, low, high = conn.execute(
                    sa.select(
                        sa.func.sum(table.c.p),
                        sa.func.min(table.c.p),
                        sa.func.max(table.c.p),
                    )
                ).one()
                assert (total, low, high) == (sum(values), min(values), max(values))
                with pytest.raises(StatementError) as info, conn.begin_nested():
                    conn.execute(table.insert(), {"p": 0.5})
                assert isinstance(info.value.orig, TypeError)

                @settings(deadline=None, max_examples=50)
                @given(st.lists(prices, min_size=1, max_size=20))
                def round_trip(sample: list[Decimal]) -> None:
                    savepoint = conn.begin_nested()
                    try:
                        ids = (
                            conn.execute(
                                table.insert().returning(table.c.id),
                                [{"p": v} for v in sample],
                            )
                            .scalars()
                            .all()
                        )
                        got = (
                            conn.execute(
                                sa.select(table.c.p)
                                .where(table.c.id.in_(ids))
                                .order_by(table.c.id)
                            )
                            .scalars()
                            .all()
                        )
                        assert got == sample
                        assert all(g.as_tuple().exponent == -4 for g in got)
                    finally:
                        savepoint.rollback()

                round_trip()
            finally:
                trans.rollback()
    finally:
        engine.dispose()


def test_round_price_is_the_one_four_place_half_up_rounding():
    from core.money import round_price

    assert round_price(Decimal("0.12345")) == Decimal("0.1235")
    assert round_price(Decimal("-0.12345")) == Decimal("-0.1235")
    assert round_price(Decimal("0.12344999")) == Decimal("0.1234")
    assert round_price(3) == Decimal("3.0000")
    with pytest.raises(TypeError):
        round_price(0.1)  # type: ignore[arg-type]
