"""The money kernel: amounts in fen, unit prices in 4-place yuan, one line-amount rule.

* An **amount** (order line, settlement, ledger posting, loan) is an ``int`` of fen (分,
  1/100 yuan) and is stored in a ``BigInteger`` column named ``*_fen``.
* A **unit price** (单价) is a ``Decimal`` of yuan with exactly 4 decimal places, because a
  volume-based-procurement price per tablet is often below one fen. It is stored in a
  :class:`Price` column named ``*_price``.
* The **line amount** (行金额) is computed only by :func:`line_amount_fen`.

No float ever touches money: every public function raises ``TypeError`` when handed a float
(a float has already lost the exact value, so there is nothing correct left to compute).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.types import BigInteger, Numeric, TypeDecorator, TypeEngine

from core.errors import Invalid

__all__ = [
    "MAX_FEN",
    "MAX_PRICE",
    "PRICE_PLACES",
    "Price",
    "fen_to_yuan",
    "format_fen",
    "format_price",
    "price_text",
    "line_amount_fen",
    "line_amounts_total_fen",
    "round_half_up_fen",
    "round_price",
    "sum_fen",
    "to_price",
    "unit_price_of",
    "yuan_to_fen",
]

PRICE_PLACES = Decimal("0.0001")
FEN_PLACES = Decimal("0.01")
_ONE = Decimal(1)

#: Largest unit price a ``Numeric(18, 4)`` column holds (14 integer digits, 4 decimals).
MAX_PRICE = Decimal("99999999999999.9999")
#: Largest amount a ``BigInteger`` ``*_fen`` column holds.
MAX_FEN = 2**63 - 1

# Our own contexts instead of the thread's current one: ``decimal.getcontext()`` is global
# mutable state any library may change (precision, rounding), and money must not depend on it.
# _EXACT traps Inexact, so a multiplication that would not fit is an error, never a silent
# rounding; prec=100 is far above anything a Numeric(18, 4) price times a quantity needs.
_EXACT = Context(prec=100, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])
# _ROUND is used only for the one deliberate rounding step (quantize half-up).
_ROUND = Context(
    prec=100, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow]
)

# Plain decimal notation only: no exponent ("1e3"), no thousands separators, no "NaN"/"Infinity",
# and ASCII digits only ([0-9], not \d: Decimal() would also accept Arabic-Indic digits).
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


def _reject_float(value: object, what: str) -> None:
    # bool is an int subclass; True as a price or quantity is always a bug.
    if isinstance(value, (float, bool)):
        raise TypeError(
            f"{what} must not be a {type(value).__name__}; use Decimal, int or str"
        )


def _parse_decimal(value: Decimal | str | int, field: str, what: str) -> Decimal:
    """Parse user or programme input into a finite Decimal, or raise Invalid naming ``field``."""
    _reject_float(value, what)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise Invalid.one(field, f"Enter the {what}.")
        if not _PLAIN_DECIMAL.fullmatch(text):
            raise Invalid.one(
                field, f"The {what} must be a plain decimal number, such as 12.5."
            )
        number = Decimal(text)
    else:
        raise TypeError(
            f"{what} must be Decimal, int or str, not {type(value).__name__}"
        )
    if not number.is_finite():
        raise Invalid.one(field, f"The {what} must be a finite number.")
    # Normalise -0 to 0 so that "-0" never shows up in storage or display.
    if number.is_zero():
        number = number.copy_abs()
    return number


def to_price(value: Decimal | str | int, *, field: str = "price") -> Decimal:
    """Parse and validate a unit price (单价) in yuan; return it with exactly 4 places.

    Accepts ``Decimal``, ``int`` or a plain decimal string (surrounding spaces allowed).
    At most 4 significant decimal places (``"1.23450"`` is fine, ``"1.23456"`` is not: a price
    is never silently rounded), not negative, at most :data:`MAX_PRICE`. Raises
    :class:`~core.errors.Invalid` naming ``field``; raises ``TypeError`` for a float.
    """
    number = _parse_decimal(value, field, "price")
    if number < 0:
        raise Invalid.one(field, "The price must not be negative.")
    if number > MAX_PRICE:
        raise Invalid.one(field, "The price is too large.")
    price = number.quantize(PRICE_PLACES, context=_ROUND)
    if price != number:
        raise Invalid.one(field, "The price may have at most 4 decimal places.")
    return price


def yuan_to_fen(value: Decimal | str | int, *, field: str = "amount") -> int:
    """Convert an amount in yuan to whole fen (分), exactly.

    An amount with sub-fen digits is :class:`~core.errors.Invalid` (amounts are whole fen;
    only unit prices carry 4 places). Negative amounts are allowed: returns and credit notes
    are negative lines. Raises ``TypeError`` for a float.
    """
    number = _parse_decimal(value, field, "amount")
    fen = number.scaleb(2, context=_EXACT)
    if fen != fen.to_integral_value(context=_EXACT):
        raise Invalid.one(field, "The amount may have at most 2 decimal places.")
    result = int(fen)
    if abs(result) > MAX_FEN:
        raise Invalid.one(field, "The amount is too large.")
    return result


def fen_to_yuan(fen: int) -> Decimal:
    """Return ``fen`` as a Decimal of yuan with exactly 2 places (exact for every int)."""
    _check_int(fen, "fen")
    sign, digits, _ = Decimal(fen).as_tuple()
    # Build the Decimal from its digits and an exponent of -2: exact whatever the size of fen
    # (a division by 100 would round to the context precision for very large numbers).
    return Decimal((sign, digits, -2))


def round_price(value: Decimal | int) -> Decimal:
    """A computed unit price (a unit comparable price, a price per smallest unit, a ratio of
    prices) to 4 places, half away from zero: the one rounding of unit prices."""
    _reject_float(value, "price")
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"price must be Decimal or int, not {type(value).__name__}")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError("cannot round a non-finite price")
    return number.quantize(PRICE_PLACES, context=_ROUND)


def unit_price_of(package_price: Decimal | None, units: int) -> Decimal | None:
    """The price of one smallest unit (单位价格) of a package of ``units``, 4 places half up;
    None without a price or for a package of one unit (its price is the package's)."""
    _check_int(units, "units")
    if package_price is None or units <= 1:
        return None
    return round_price(_ROUND.divide(Decimal(package_price), Decimal(units)))


def round_half_up_fen(value: Decimal | int) -> int:
    """Round an amount in yuan to whole fen, half away from zero (``ROUND_HALF_UP``).

    ``0.005`` → 1 fen, ``0.0049`` → 0 fen, ``-0.005`` → -1 fen: the rounding is symmetric, so a
    return line is exactly the negative of the original line.
    """
    _reject_float(value, "value")
    if isinstance(value, int):
        return value * 100
    if not isinstance(value, Decimal):
        raise TypeError(f"value must be Decimal or int, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError("cannot round a non-finite amount to fen")
    fen = value.scaleb(2, context=_EXACT).quantize(_ONE, context=_ROUND)
    return int(fen)


def line_amount_fen(quantity: int | Decimal, unit_price: Decimal | int) -> int:
    """The line amount (行金额) of ``quantity`` units at ``unit_price`` yuan, in whole fen.

    The rule, and the only place it is computed: ``round_half_up(quantity × unit_price × 100)``
    where the product is exact and rounding is half away from zero. So 3 × ¥0.1235 = 37.05 fen
    → 37 fen; 1 × ¥0.0050 → 1 fen; 1 × ¥0.0049 → 0 fen. Quantity may be negative (returns),
    and ``line_amount_fen(-q, p) == -line_amount_fen(q, p)`` always holds.
    """
    _reject_float(quantity, "quantity")
    _reject_float(unit_price, "unit_price")
    if not isinstance(quantity, (int, Decimal)):
        raise TypeError(
            f"quantity must be int or Decimal, not {type(quantity).__name__}"
        )
    if not isinstance(unit_price, (int, Decimal)):
        raise TypeError(
            f"unit_price must be Decimal or int, not {type(unit_price).__name__}"
        )
    qty = Decimal(quantity) if isinstance(quantity, int) else quantity
    price = Decimal(unit_price) if isinstance(unit_price, int) else unit_price
    if not (qty.is_finite() and price.is_finite()):
        raise ValueError("quantity and unit_price must be finite")
    # Exact product (Inexact is trapped), then the single half-up rounding step.
    return round_half_up_fen(_EXACT.multiply(qty, price))


def line_amounts_total_fen(quantities: Iterable[int], price_units: Iterable[int]) -> int:
    """Σ :func:`line_amount_fen` over many lines at once, each price given as an integer of
    1/10,000 yuan (a 4-place unit price × 10⁴, which is exact): the same rule in integer
    arithmetic — ``quantity × price_units`` is the amount in 1/100 fen, rounded half away from
    zero to whole fen — for the millions of lines of a national allocation, where a Decimal
    per line costs seconds. Quantities and price units are ints (numpy values via
    ``tolist()``)."""
    total = 0
    for quantity, units in zip(quantities, price_units, strict=True):
        if type(quantity) is not int or type(units) is not int:
            raise TypeError("quantities and price units must be ints")
        hundredths = quantity * units
        total += ((hundredths + 50) // 100 if hundredths >= 0
                  else -((50 - hundredths) // 100))
    return total


def _check_int(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int of fen, not {type(value).__name__}")


def format_fen(fen: int) -> str:
    """Format an amount in fen for display: ``¥1,234.56``, ``-¥1,234.56``, ``¥0.00``."""
    _check_int(fen, "fen")
    yuan, cents = divmod(abs(fen), 100)
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{yuan:,}.{cents:02d}"


def format_price(price: Decimal | int) -> str:
    """Format a unit price for display with 4 places: ``¥0.1234``, ``¥12,345.6789``.

    A price with more than 4 places (e.g. a computed unit comparable price) is rounded half-up
    for display only.
    """
    _reject_float(price, "price")
    if not isinstance(price, (Decimal, int)):
        raise TypeError(f"price must be Decimal or int, not {type(price).__name__}")
    number = Decimal(price)
    if not number.is_finite():
        raise ValueError("cannot format a non-finite price")
    shown = round_price(number)
    sign = "-" if shown < 0 else ""
    # "," grouping with the "f" type and no precision prints exactly the 4 quantized places.
    return f"{sign}¥{shown.copy_abs():,f}"


def price_text(price: Decimal | int) -> str:
    """A price as a plain number with at least 2 decimal places, never rounded, for messages
    and package prices: ``12.3`` → ``"12.30"``, ``31.5000`` → ``"31.50"``, ``0.1234`` →
    ``"0.1234"``."""
    _reject_float(price, "price")
    if isinstance(price, bool) or not isinstance(price, (Decimal, int)):
        raise TypeError(f"price must be Decimal or int, not {type(price).__name__}")
    value = Decimal(price)
    if not value.is_finite():
        raise ValueError("cannot format a non-finite price")
    value = value.normalize(context=_ROUND) if value else Decimal(0)  # drop trailing zeros
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        value = value.quantize(FEN_PLACES, context=_ROUND)
    return format(value, "f")


def sum_fen(amounts: Iterable[int]) -> int:
    """Sum amounts in fen, refusing anything that is not an int (a Decimal or float has no
    business in an amount sum; it means a price or a float leaked in)."""
    total = 0
    for amount in amounts:
        _check_int(amount, "amount")
        total += amount
    return total


class Price(TypeDecorator[Decimal]):
    """Column type for a unit price (单价): Decimal yuan with exactly 4 places.

    * PostgreSQL (and any other dialect): ``NUMERIC(18, 4)``, read back as a Decimal with
      4 places.
    * SQLite: a ``BIGINT`` count of 1/10000 yuan. SQLite has no decimal type; its NUMERIC
      affinity would store REAL (a float), and SQLAlchemy warns about Decimal on SQLite. As a
      scaled integer, ``ORDER BY``, ``MIN``/``MAX``, ``SUM`` and comparisons in SQL stay
      exact. The result of ``SUM``/``MIN``/``MAX`` keeps this type and is scaled back on read.
      Note: ``AVG`` or arithmetic on the column in SQL sees the scaled integer on SQLite;
      compute such values in Python with :func:`line_amount_fen` and friends.

    Binding a float raises ``TypeError``; a value with more than 4 decimal places or beyond
    ``NUMERIC(18, 4)`` raises ``ValueError`` (never silently rounded).
    """

    impl = Numeric(18, 4)
    cache_ok = True

    _SCALE = 4

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 4, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, (float, bool)):
            raise TypeError(
                f"a Price column does not accept {type(value).__name__}; use Decimal"
            )
        if isinstance(value, int):
            value = Decimal(value)
        if not isinstance(value, Decimal):
            raise TypeError(
                f"a Price column accepts Decimal or int, not {type(value).__name__}"
            )
        if not value.is_finite():
            raise ValueError("a Price must be finite")
        if abs(value) > MAX_PRICE:
            raise ValueError(f"a Price must not exceed {MAX_PRICE} in magnitude")
        quantized = value.quantize(PRICE_PLACES, context=_ROUND)
        if quantized != value:
            raise ValueError(f"a Price may have at most 4 decimal places, got {value}")
        if dialect.name == "sqlite":
            return int(quantized.scaleb(self._SCALE, context=_EXACT))
        return quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            if isinstance(value, bool) or not isinstance(value, int):
                # Only a scaled integer is ever written; anything else (e.g. a REAL from AVG)
                # would turn a float into a price.
                raise TypeError(
                    f"expected a scaled integer price from SQLite, got {value!r}"
                )
            sign, digits, _ = Decimal(value).as_tuple()
            return Decimal((sign, digits, -self._SCALE))
        if isinstance(value, float):
            raise TypeError(
                f"expected a Decimal price from the database, got {value!r}"
            )
        return Decimal(value).quantize(PRICE_PLACES, context=_ROUND)

    def __repr__(self) -> str:
        # Alembic autogenerate renders custom types as "<module>.<repr>", i.e.
        # core.money.Price(); the default repr would leak the impl's precision/scale.
        return "Price()"


def _positive_price(value: Any, info: ValidationInfo) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        # A JSON number is a float by the time it gets here: its exact value is already lost.
        raise ValueError("Send the price as a decimal string, not a number.")
    try:
        price = to_price(str(value), field=info.field_name or "price")
    except Invalid as exc:
        # Inside validation: a ValueError is collected with every other field's problem.
        raise ValueError(exc.errors[0].message) from None
    if price <= 0:
        raise ValueError("must be greater than zero")
    return price


#: An input field holding a unit price above zero (4-place yuan), for pydantic input models.
PositivePrice = Annotated[Decimal, BeforeValidator(_positive_price)]
#: The same, optional: blank is None.
OptionalPositivePrice = Annotated[Decimal | None, BeforeValidator(_positive_price)]
