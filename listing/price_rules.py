"""Listing price rules (挂网价格规则): the price-difference ratio and the caps a price must meet.

Pure functions over ``Decimal``: no database, no Flask, no float anywhere.

* The **price-difference ratio** (差比价, NDRC 发改价格〔2011〕2452号) turns the listed price of
  the representative product into a cap for another specification of the same generic name and
  applicant: ``cap = price_rep × K_form × K_content × K_volume × K_units × K_material ×
  K_package_form``, rounded half-up to the fen, with

  - ``K_form = ratio(form) / ratio(form_rep)`` from an editable table keyed by Chinese name,
  - ``K_content = 1.7 ^ log2(content / content_rep)`` (content in base units: mg or IU),
  - ``K_volume = 1.9 ^ log2(volume / volume_rep)``,
  - ``K_units = 1.95 ^ log2(units / units_rep)``,
  - ``K_material`` and ``K_package_form`` from ratio tables like the form (empty table → 1).

* :func:`evaluate` applies every listing price rule that fits the inputs (price linkage,
  price-difference ratio, VBP winner) and lets the lowest cap govern (就低).

All parameters come from a versioned rule set (:class:`ListingRuleParams`); the caller stamps
the version it used on whatever it stores.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from fractions import Fraction
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.money import price_text

__all__ = [
    "DEFAULT_DIFF_PARAMS",
    "DEFAULT_FORM_RATIOS",
    "DEFAULT_LISTING_RULES",
    "MESSAGE_TEMPLATES",
    "DiffParams",
    "Evidence",
    "KFactors",
    "ListingRuleParams",
    "PriceCheckResult",
    "PriceInputs",
    "PriceRuleError",
    "Representative",
    "RuleResult",
    "Spec",
    "VbpInfo",
    "convert_content",
    "diff_cap",
    "evaluate",
    "format_k",
    "k_factors",
    "parse_decimal",
]

#: Working precision of every computation here. Integer powers of the bases (the usual case:
#: 20 mg vs 10 mg) are exact at this precision; non-integer powers go through ln/exp.
PRECISION = 40
_CTX = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN,
               traps=[InvalidOperation, DivisionByZero, Overflow])
_ONE = Decimal(1)
_FEN = Decimal("0.01")
_K_PLACES = Decimal("0.0001")

# Plain decimal notation only: no exponent, no separators, no NaN/Infinity, ASCII digits.
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


class PriceRuleError(ValueError):
    """Invalid input to a price rule; ``field`` names the offending input (e.g. ``rep_units``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --------------------------------------------------------------------------------------------
# Parsing and formatting helpers
# --------------------------------------------------------------------------------------------

def parse_decimal(text: str | Decimal | int, field: str) -> Decimal:
    """Parse a plain decimal number (``"12.5"``); raise :class:`PriceRuleError` naming ``field``.

    Surrounding spaces are allowed; exponents, separators, NaN and infinities are not. A float
    raises ``TypeError`` (it has already lost the exact value).
    """
    if isinstance(text, (float, bool)):
        raise TypeError(f"{field} must not be a {type(text).__name__}; use str or Decimal")
    if isinstance(text, Decimal):
        if not text.is_finite():
            raise PriceRuleError(field, "The number must be finite.")
        return text
    if isinstance(text, int):
        return Decimal(text)
    if not isinstance(text, str):
        raise TypeError(f"{field} must be str, Decimal or int, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise PriceRuleError(field, "Enter a number.")
    if not _PLAIN_DECIMAL.fullmatch(stripped):
        raise PriceRuleError(field, f"{text!r} is not a plain decimal number such as 12.5.")
    return Decimal(stripped)


def format_k(value: Decimal) -> str:
    """A factor K for display: 4 decimal places, rounded half-up (``1.7`` → ``"1.7000"``)."""
    return format(value.quantize(_K_PLACES, rounding=ROUND_HALF_UP, context=_CTX), "f")


def _round_fen(value: Decimal) -> Decimal:
    return value.quantize(_FEN, rounding=ROUND_HALF_UP, context=_CTX)


# --------------------------------------------------------------------------------------------
# Units of content
# --------------------------------------------------------------------------------------------

MASS = "mass"
IU = "iu"

# Keyed by the case-folded unit; casefold() also maps the micro sign µ (U+00B5) to μ (U+03BC).
_UNITS: Mapping[str, tuple[Decimal, str]] = MappingProxyType({
    "mg": (_ONE, MASS),
    "g": (Decimal(1000), MASS),
    "μg": (Decimal("0.001"), MASS),
    "ug": (Decimal("0.001"), MASS),
    "mcg": (Decimal("0.001"), MASS),
    "iu": (_ONE, IU),
    "万iu": (Decimal(10000), IU),
})


def convert_content(value: Decimal, unit: str, *, field: str = "content_unit") -> tuple[Decimal, str]:
    """Convert a content (含量) to its base unit: mass to mg, international units to IU.

    Units: ``mg``, ``g``, ``μg`` (also ``ug``, ``mcg``), ``IU``, ``万IU`` (= 10000 IU); case
    and surrounding spaces are ignored. Returns ``(value in mg or IU, "mass" or "iu")``; an
    unknown unit raises :class:`PriceRuleError` naming ``field``.
    """
    if not isinstance(value, Decimal):
        raise TypeError(f"content must be a Decimal, not {type(value).__name__}")
    key = unit.strip().casefold() if isinstance(unit, str) else ""
    try:
        factor, dimension = _UNITS[key]
    except KeyError:
        raise PriceRuleError(
            field, f"Unknown content unit {unit!r}: use mg, g, μg, IU or 万IU.") from None
    # Multiplying by a power of ten is exact for any value that fits the precision.
    return _CTX.multiply(value, factor), dimension


# --------------------------------------------------------------------------------------------
# Specifications and parameters
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """A specification (品规): dosage form (剂型), content (含量), fill volume (装量), package
    quantity (包装数量), package material (包装材质) and package form (包装形式)."""

    form: str
    content: Decimal | None
    content_unit: str | None
    volume_ml: Decimal | None
    units: int
    material: str | None = None
    package_form: str | None = None


def _ratios(table: Mapping[str, str]) -> Mapping[str, Decimal]:
    return MappingProxyType({name: Decimal(ratio) for name, ratio in table.items()})


#: Default dosage-form ratios (剂型比价), keyed by the Chinese form name (DOMAIN.md).
DEFAULT_FORM_RATIOS: Mapping[str, Decimal] = _ratios({
    "普通片": "1.0",
    "咀嚼片": "1.05",
    "含片": "1.05",
    "可溶片": "1.05",
    "肠溶片": "1.1",
    "分散片": "1.2",
    "泡腾片": "1.3",
    "硬胶囊": "1.0",
    "肠溶胶囊": "1.1",
    "软胶囊": "1.2",
    "口服溶液": "1.0",
    "注射液": "1.0",
})

_EMPTY: Mapping[str, Decimal] = MappingProxyType({})


@dataclass(frozen=True)
class DiffParams:
    """Parameters of the price-difference ratio (差比价): form table, the three log2 bases and
    the package material / package form tables (empty table → factor 1)."""

    form_ratios: Mapping[str, Decimal] = field(default_factory=lambda: DEFAULT_FORM_RATIOS)
    content_base: Decimal = Decimal("1.7")
    volume_base: Decimal = Decimal("1.9")
    units_base: Decimal = Decimal("1.95")
    material_ratios: Mapping[str, Decimal] = field(default_factory=lambda: _EMPTY)
    package_form_ratios: Mapping[str, Decimal] = field(default_factory=lambda: _EMPTY)


DEFAULT_DIFF_PARAMS = DiffParams()

_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class ListingRuleParams(BaseModel):
    """Parameters of the listing rule set (挂网规则集), stored as a versioned rule set.

    Every ratio and base is a positive Decimal; table keys are non-empty names.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    form_ratios: dict[_Name, _Positive] = Field(
        default_factory=lambda: dict(DEFAULT_FORM_RATIOS))
    content_base: _Positive = Decimal("1.7")
    volume_base: _Positive = Decimal("1.9")
    units_base: _Positive = Decimal("1.95")
    material_ratios: dict[_Name, _Positive] = Field(default_factory=dict)
    package_form_ratios: dict[_Name, _Positive] = Field(default_factory=dict)
    #: A VBP winner outside the provinces it supplies (非主非备): cap = this × own winning price.
    vbp_offprovince_multiplier: _Positive = Decimal("1.5")
    #: Days a listing has to follow a lower price in another province (价格联动).
    linkage_follow_days: int = Field(default=30, ge=1)
    #: Length of the publicity (公示) window in working days.
    publicity_working_days: int = Field(default=3, ge=1)

    def to_diff_params(self) -> DiffParams:
        return DiffParams(
            form_ratios=MappingProxyType(dict(self.form_ratios)),
            content_base=self.content_base,
            volume_base=self.volume_base,
            units_base=self.units_base,
            material_ratios=MappingProxyType(dict(self.material_ratios)),
            package_form_ratios=MappingProxyType(dict(self.package_form_ratios)),
        )


DEFAULT_LISTING_RULES = ListingRuleParams()


# --------------------------------------------------------------------------------------------
# The factors K
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KFactors:
    """The price-difference factors (差比价系数 K), full precision, in order of application."""

    form: Decimal
    content: Decimal
    volume: Decimal
    units: Decimal
    material: Decimal
    package_form: Decimal

    @property
    def product(self) -> Decimal:
        """Π K, applied form → content → volume → units → material → package form."""
        result = _ONE
        for k in (self.form, self.content, self.volume, self.units, self.material,
                  self.package_form):
            result = _CTX.multiply(result, k)
        return result


def _base_power_log2(base: Decimal, ratio: Fraction) -> Decimal:
    """``base ** log2(ratio)``: exact integer (or reciprocal) power when ``ratio`` is a power of
    two, else ``exp(ln(ratio) / ln(2) × ln(base))`` at :data:`PRECISION` digits."""
    num, den = ratio.numerator, ratio.denominator
    if den == 1 and num & (num - 1) == 0:
        return _CTX.power(base, num.bit_length() - 1)
    if num == 1 and den & (den - 1) == 0:
        return _CTX.divide(_ONE, _CTX.power(base, den.bit_length() - 1))
    ln_ratio = _CTX.ln(_CTX.divide(Decimal(num), Decimal(den)))
    exponent = _CTX.divide(ln_ratio, _CTX.ln(Decimal(2)))
    return _CTX.exp(_CTX.multiply(exponent, _CTX.ln(base)))


def _positive(value: Any, field: str, what: str) -> Decimal:
    if isinstance(value, (float, bool)):
        raise TypeError(f"{field} must not be a {type(value).__name__}; use Decimal")
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal):
        raise TypeError(f"{field} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite() or value <= 0:
        raise PriceRuleError(field, f"The {what} must be greater than zero.")
    return value


def _units(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} must be an int, not {type(value).__name__}")
    if value <= 0:
        raise PriceRuleError(field, "The units per package must be greater than zero.")
    return value


def _table_factor(table: Mapping[str, Decimal], rep: str | None, target: str | None,
                  field: str, what: str, *, required: bool) -> Decimal:
    """``ratio(target) / ratio(rep)`` from ``table``.

    An optional table (material, package form) that is empty gives 1 whatever the names; so do
    two missing names. Otherwise each name must be given and be in the table.
    """
    if not required and (not table or (rep is None and target is None)):
        return _ONE
    ratios = []
    for name, name_field in ((rep, f"rep_{field}"), (target, field)):
        key = name.strip() if isinstance(name, str) else ""
        if not key:
            raise PriceRuleError(name_field, f"Give the {what}.")
        try:
            ratios.append(table[key])
        except KeyError:
            raise PriceRuleError(
                name_field, f"Unknown {what} {name!r}: it is not in the ratio table.") from None
    return _CTX.divide(ratios[1], ratios[0])


def _content_factor(rep: Spec, target: Spec, base: Decimal) -> Decimal:
    if rep.content is None and target.content is None:
        return _ONE
    converted = []
    for spec, prefix in ((rep, "rep_"), (target, "")):
        if spec.content is None:
            raise PriceRuleError(f"{prefix}content",
                                 "Give the content of both specifications, or of neither.")
        value = _positive(spec.content, f"{prefix}content", "content")
        if spec.content_unit is None or not spec.content_unit.strip():
            raise PriceRuleError(f"{prefix}content_unit", "Give the unit of the content.")
        converted.append(convert_content(value, spec.content_unit,
                                         field=f"{prefix}content_unit"))
    (rep_value, rep_dim), (value, dim) = converted
    if rep_dim != dim:
        raise PriceRuleError(
            "content_unit",
            "A content by mass cannot be compared with a content in international units.")
    return _base_power_log2(base, Fraction(value) / Fraction(rep_value))


def _volume_factor(rep: Spec, target: Spec, base: Decimal) -> Decimal:
    if rep.volume_ml is None and target.volume_ml is None:
        return _ONE
    if rep.volume_ml is None:
        raise PriceRuleError("rep_volume_ml",
                             "Give the fill volume of both specifications, or of neither.")
    if target.volume_ml is None:
        raise PriceRuleError("volume_ml",
                             "Give the fill volume of both specifications, or of neither.")
    rep_volume = _positive(rep.volume_ml, "rep_volume_ml", "fill volume")
    volume = _positive(target.volume_ml, "volume_ml", "fill volume")
    return _base_power_log2(base, Fraction(volume) / Fraction(rep_volume))


def k_factors(rep: Spec, target: Spec, params: DiffParams = DEFAULT_DIFF_PARAMS) -> KFactors:
    """The price-difference factors (差比价系数) from the representative ``rep`` to ``target``.

    Raises :class:`PriceRuleError` naming the field (``form``, ``rep_content``,
    ``content_unit``, ``volume_ml``, ``units``, ...; ``rep_`` prefixes the representative's)
    for an unknown name, a missing or non-positive quantity, or mass compared with IU.
    """
    form = _table_factor(params.form_ratios, rep.form, target.form, "form", "dosage form",
                         required=True)
    content = _content_factor(rep, target, params.content_base)
    volume = _volume_factor(rep, target, params.volume_base)
    rep_units = _units(rep.units, "rep_units")
    units = _units(target.units, "units")
    units_k = _base_power_log2(params.units_base, Fraction(units, rep_units))
    material = _table_factor(params.material_ratios, rep.material, target.material,
                             "material", "package material", required=False)
    package_form = _table_factor(params.package_form_ratios, rep.package_form,
                                 target.package_form, "package_form", "package form",
                                 required=False)
    return KFactors(form=form, content=content, volume=volume, units=units_k,
                    material=material, package_form=package_form)


def diff_cap(rep_price: Decimal, rep: Spec, target: Spec,
             params: DiffParams = DEFAULT_DIFF_PARAMS) -> tuple[KFactors, Decimal]:
    """The price-difference cap (差比价上限): ``rep_price × Π K`` rounded half-up to the fen.

    The factors are applied in the order form → content → volume → units → material →
    package form, each at full precision; only the final cap is rounded.
    """
    price = _positive(rep_price, "rep_price", "representative price")
    factors = k_factors(rep, target, params)
    return factors, _round_fen(_CTX.multiply(price, factors.product))


# --------------------------------------------------------------------------------------------
# Evaluation of the listing price rules
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Evidence:
    """A price elsewhere (外省价格): declared by the applicant or an imported reference price."""

    province: str
    price: Decimal
    date: datetime.date
    source: str


@dataclass(frozen=True)
class Representative:
    """The representative product (代表品) of the same generic name and applicant, with its
    listed package price."""

    spec: Spec
    price: Decimal
    label: str


@dataclass(frozen=True)
class VbpInfo:
    """Volume-based procurement (集采) result of the product: prices on the same basis as the
    proposed price (per package)."""

    own_winning_price: Decimal
    supplies_this_province: bool
    highest_winning_price: Decimal | None


@dataclass(frozen=True)
class PriceInputs:
    """Everything a listing price check (挂网价格审核) needs; ``price`` is the proposed package
    price of ``spec``."""

    price: Decimal
    spec: Spec
    declared: tuple[Evidence, ...] = ()
    references: tuple[Evidence, ...] = ()
    representative: Representative | None = None
    vbp: VbpInfo | None = None


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one price rule. ``message`` is an English gettext msgid whose
    ``%(name)s`` placeholders are filled from ``numbers`` (see :meth:`text`)."""

    code: str
    applies: bool
    passed: bool | None
    cap: Decimal | None
    numbers: dict[str, str]
    message: str

    def text(self) -> str:
        """The message with its placeholders filled (untranslated)."""
        return self.message % self.numbers

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "applies": self.applies,
            "passed": self.passed,
            "cap": None if self.cap is None else price_text(self.cap),
            "numbers": dict(self.numbers),
            "message": self.message,
        }


@dataclass(frozen=True)
class PriceCheckResult:
    """The listing price check (挂网价格审核): every rule, and the lowest cap governing (就低)."""

    passed: bool
    governing_cap: Decimal | None
    governing_rule: str | None
    results: tuple[RuleResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: decimals as strings."""
        return {
            "passed": self.passed,
            "governing_cap": None if self.governing_cap is None
            else price_text(self.governing_cap),
            "governing_rule": self.governing_rule,
            "results": [r.to_dict() for r in self.results],
        }


LINKAGE = "linkage"
DIFF_RATIO = "diff_ratio"
VBP = "vbp"

MSG_LINKAGE = ("Price linkage: the price %(price)s must not exceed the lowest price elsewhere, "
               "%(lowest_price)s (%(lowest_province)s, %(lowest_date)s).")
MSG_LINKAGE_NA = "Price linkage does not apply: no price elsewhere was declared or imported."
MSG_DIFF = ("Price-difference ratio: the price %(price)s must not exceed %(cap)s, the price "
            "%(rep_price)s of the representative product %(rep_label)s times K %(k_product)s.")
MSG_DIFF_NA = "The price-difference ratio does not apply: no representative product was given."
MSG_VBP_SUPPLIED = ("VBP winner supplying this province: the price %(price)s must not exceed "
                    "the winning price %(own_winning_price)s.")
MSG_VBP_OFF = ("VBP winner not supplying this province: the price %(price)s must not exceed "
               "%(cap)s, %(multiplier)s times the own winning price %(own_winning_price)s.")
MSG_VBP_OFF_HIGHEST = (
    "VBP winner not supplying this province: the price %(price)s must not exceed %(cap)s, the "
    "larger of %(multiplier)s times the own winning price %(own_winning_price)s "
    "(%(multiplied_cap)s) and the highest winning price %(highest_winning_price)s.")
MSG_VBP_NA = "The VBP rule does not apply: the product has no volume-based procurement result."

#: Every message template :func:`evaluate` can return (for the translation catalogue).
MESSAGE_TEMPLATES: tuple[str, ...] = (
    MSG_LINKAGE, MSG_LINKAGE_NA, MSG_DIFF, MSG_DIFF_NA, MSG_VBP_SUPPLIED, MSG_VBP_OFF,
    MSG_VBP_OFF_HIGHEST, MSG_VBP_NA,
)


def _not_applicable(code: str, message: str) -> RuleResult:
    return RuleResult(code=code, applies=False, passed=None, cap=None, numbers={},
                      message=message)


def _linkage(inputs: PriceInputs, price: Decimal) -> RuleResult:
    evidence = [*inputs.declared, *inputs.references]
    if not evidence:
        return _not_applicable(LINKAGE, MSG_LINKAGE_NA)
    for group, items in (("declared", inputs.declared), ("references", inputs.references)):
        for i, item in enumerate(items):
            _positive(item.price, f"{group}.{i}.price", "price")
    lowest = min(evidence, key=lambda e: e.price)  # ties: the first given (declared first)
    numbers = {
        "price": price_text(price),
        "lowest_price": price_text(lowest.price),
        "lowest_province": lowest.province,
        "lowest_date": lowest.date.isoformat(),
        "lowest_source": lowest.source,
        "evidence_count": str(len(evidence)),
        "cap": price_text(lowest.price),
    }
    return RuleResult(code=LINKAGE, applies=True, passed=price <= lowest.price,
                      cap=lowest.price, numbers=numbers, message=MSG_LINKAGE)


def _diff_ratio(inputs: PriceInputs, price: Decimal, params: ListingRuleParams) -> RuleResult:
    rep = inputs.representative
    if rep is None:
        return _not_applicable(DIFF_RATIO, MSG_DIFF_NA)
    factors, cap = diff_cap(rep.price, rep.spec, inputs.spec, params.to_diff_params())
    numbers = {
        "price": price_text(price),
        "rep_label": rep.label,
        "rep_price": price_text(rep.price),
        "k_form": format_k(factors.form),
        "k_content": format_k(factors.content),
        "k_volume": format_k(factors.volume),
        "k_units": format_k(factors.units),
        "k_material": format_k(factors.material),
        "k_package_form": format_k(factors.package_form),
        "k_product": format_k(factors.product),
        "cap": price_text(cap),
    }
    return RuleResult(code=DIFF_RATIO, applies=True, passed=price <= cap, cap=cap,
                      numbers=numbers, message=MSG_DIFF)


def _vbp(inputs: PriceInputs, price: Decimal, params: ListingRuleParams) -> RuleResult:
    vbp = inputs.vbp
    if vbp is None:
        return _not_applicable(VBP, MSG_VBP_NA)
    own = _positive(vbp.own_winning_price, "vbp.own_winning_price", "winning price")
    numbers = {
        "price": price_text(price),
        "own_winning_price": price_text(own),
        "supplies_this_province": "yes" if vbp.supplies_this_province else "no",
    }
    if vbp.supplies_this_province:
        cap, message = own, MSG_VBP_SUPPLIED
    else:
        multiplier = params.vbp_offprovince_multiplier
        multiplied = _round_fen(_CTX.multiply(multiplier, own))
        numbers["multiplier"] = format(multiplier, "f")
        numbers["multiplied_cap"] = price_text(multiplied)
        cap, message = multiplied, MSG_VBP_OFF
        if vbp.highest_winning_price is not None:
            highest = _positive(vbp.highest_winning_price, "vbp.highest_winning_price",
                                "highest winning price")
            numbers["highest_winning_price"] = price_text(highest)
            # Either bound satisfies the rule, so the larger one is the cap.
            cap, message = max(multiplied, highest), MSG_VBP_OFF_HIGHEST
    numbers["cap"] = price_text(cap)
    return RuleResult(code=VBP, applies=True, passed=price <= cap, cap=cap, numbers=numbers,
                      message=message)


def evaluate(inputs: PriceInputs,
             params: ListingRuleParams = DEFAULT_LISTING_RULES) -> PriceCheckResult:
    """Check a proposed listing price (挂网价格) against every rule that applies.

    Rules, in this order: price linkage (价格联动: lowest declared or reference price), the
    price-difference ratio (差比价: from the representative product) and the VBP winner rule
    (集采中选). The lowest cap among the applicable rules governs (就低; ties go to the earlier
    rule); with no applicable rule the price passes and there is no cap. Invalid inputs raise
    :class:`PriceRuleError` naming the field.
    """
    price = _positive(inputs.price, "price", "price")
    results = (
        _linkage(inputs, price),
        _diff_ratio(inputs, price, params),
        _vbp(inputs, price, params),
    )
    governing: RuleResult | None = None
    for result in results:
        if result.applies and result.cap is not None and (
                governing is None or governing.cap is None or result.cap < governing.cap):
            governing = result
    if governing is None or governing.cap is None:
        return PriceCheckResult(passed=True, governing_cap=None, governing_rule=None,
                                results=results)
    return PriceCheckResult(passed=price <= governing.cap, governing_cap=governing.cap,
                            governing_rule=governing.code, results=results)
