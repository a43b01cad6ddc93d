"""Listing price rules (挂网价格规则): price-difference ratio, unit conversion, evaluate()."""
from __future__ import annotations

import datetime
import json
from decimal import Context, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.money import price_text
from listing.price_rules import (
    DEFAULT_DIFF_PARAMS,
    DEFAULT_FORM_RATIOS,
    DEFAULT_LISTING_RULES,
    MESSAGE_TEMPLATES,
    DiffParams,
    Evidence,
    KFactors,
    ListingRuleParams,
    PriceInputs,
    PriceRuleError,
    Representative,
    Spec,
    VbpInfo,
    convert_content,
    diff_cap,
    evaluate,
    format_k,
    k_factors,
    parse_decimal,
)

D = Decimal
ONE = D(1)
HI = Context(prec=80)


def tablet(content: str, units: int = 24, form: str = "普通片", unit: str = "mg") -> Spec:
    return Spec(form=form, content=D(content), content_unit=unit, volume_ml=None, units=units)


def solution(volume: str, units: int = 1, content: str | None = None) -> Spec:
    return Spec(form="口服溶液", content=None if content is None else D(content),
                content_unit=None if content is None else "mg", volume_ml=D(volume), units=units)


def mul(*factors: Decimal) -> Decimal:
    """Exact-enough product for comparisons (the default context keeps only 28 digits)."""
    result = ONE
    for f in factors:
        result = HI.multiply(result, f)
    return result


def close(a: Decimal, b: Decimal, tol: str = "1e-30") -> bool:
    return abs(a - b) <= D(tol) * max(abs(a), abs(b), ONE)


# --- worked examples (DOMAIN.md) ------------------------------------------------------------

@pytest.mark.parametrize(("content", "cap", "k"), [
    ("20", "5.10", "1.7"),
    ("40", "8.67", "2.89"),
    ("10", "3.00", "1"),
    ("5", "1.76", None),  # 3 / 1.7 = 1.7647...
])
def test_worked_example_tablet_content(content, cap, k):
    factors, result = diff_cap(D("3.00"), tablet("10"), tablet(content), DEFAULT_DIFF_PARAMS)
    assert result == D(cap)
    assert str(result) == cap
    if k is not None:
        assert factors.content == D(k)  # exact: an integer power of 1.7
    assert factors.form == factors.volume == factors.units == ONE
    assert factors.material == factors.package_form == ONE


def test_worked_example_capsule_pack_size():
    rep = tablet("0.25", units=24, form="硬胶囊", unit="g")
    factors, cap = diff_cap(D("8.72"), rep, tablet("0.25", 48, "硬胶囊", "g"), DEFAULT_DIFF_PARAMS)
    assert factors.units == D("1.95")
    assert factors.content == ONE
    assert cap == D("17.00")  # 8.72 × 1.95 = 17.004


def test_worked_example_oral_solution_volume():
    factors, cap = diff_cap(D("20.00"), solution("100"), solution("200"), DEFAULT_DIFF_PARAMS)
    assert factors.volume == D("1.9")
    assert cap == D("38.00")


def test_same_concentration_solutions_differ_only_by_volume():
    factors, cap = diff_cap(D("20.00"), solution("100", content="5"),
                            solution("400", content="5"), DEFAULT_DIFF_PARAMS)
    assert factors.content == ONE
    assert factors.volume == D("3.61")
    assert cap == D("72.20")


def test_halving_uses_the_exact_reciprocal():
    factors = k_factors(tablet("10"), tablet("2.5"), DEFAULT_DIFF_PARAMS)
    assert close(mul(factors.content, D("2.89")), ONE, "1e-38")
    assert factors.content < ONE


def test_non_power_of_two_ratio():
    # 1.7 ** log2(1.5) = 1.36396735887941...
    k = k_factors(tablet("10"), tablet("15"), DEFAULT_DIFF_PARAMS).content
    assert abs(k - D("1.363967358879414")) < D("1e-15")
    # consistency: K(10→15)² = 1.7 ** log2(2.25) = K(10→22.5)
    k2 = k_factors(tablet("10"), tablet("22.5"), DEFAULT_DIFF_PARAMS).content
    assert close(mul(k, k), k2, "1e-35")
    _, cap = diff_cap(D("3.00"), tablet("10"), tablet("15"), DEFAULT_DIFF_PARAMS)
    assert cap == D("4.09")  # 3 × 1.36397 = 4.0919


def test_form_factor_and_combined_order():
    # 肠溶片 (1.1) from 普通片 (1.0), 20 mg from 10 mg, 48 from 24: 3 × 1.1 × 1.7 × 1.95
    factors, cap = diff_cap(D("3.00"), tablet("10"), tablet("20", 48, "肠溶片"),
                            DEFAULT_DIFF_PARAMS)
    assert factors.form == D("1.1")
    assert factors.product == mul(D("1.1"), D("1.7"), D("1.95")) == D("3.6465")
    assert cap == D("10.94")  # 10.9395 → half-up
    back = k_factors(tablet("10", form="分散片"), tablet("10", form="咀嚼片"), DEFAULT_DIFF_PARAMS)
    assert close(back.form, D("1.05") / D("1.2"))


def test_cap_rounds_half_up_to_the_fen():
    # prices whose exact cap ends in 5 at the third decimal place
    _, cap = diff_cap(D("0.10"), tablet("10"), tablet("10", form="咀嚼片"), DEFAULT_DIFF_PARAMS)
    assert cap == D("0.11")  # 0.105 → 0.11 (half-up, not half-even 0.10)
    _, cap = diff_cap(D("0.30"), tablet("10"), tablet("10", form="咀嚼片"), DEFAULT_DIFF_PARAMS)
    assert cap == D("0.32")  # 0.315 → 0.32


def test_default_form_ratio_table():
    assert dict(DEFAULT_FORM_RATIOS) == {
        "普通片": D("1.0"), "咀嚼片": D("1.05"), "含片": D("1.05"), "可溶片": D("1.05"),
        "肠溶片": D("1.1"), "分散片": D("1.2"), "泡腾片": D("1.3"), "硬胶囊": D("1.0"),
        "肠溶胶囊": D("1.1"), "软胶囊": D("1.2"), "口服溶液": D("1.0"), "注射液": D("1.0"),
    }
    assert all(isinstance(v, Decimal) for v in DEFAULT_FORM_RATIOS.values())
    assert DEFAULT_DIFF_PARAMS.content_base == D("1.7")
    assert DEFAULT_DIFF_PARAMS.volume_base == D("1.9")
    assert DEFAULT_DIFF_PARAMS.units_base == D("1.95")


# --- units ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "unit", "expected"), [
    ("0.25", "g", ("250.00", "mass")),
    ("250", "mg", ("250", "mass")),
    ("250000", "μg", ("250.000", "mass")),
    ("250000", "µg", ("250.000", "mass")),  # micro sign U+00B5
    ("250000", "ug", ("250.000", "mass")),
    ("250000", "mcg", ("250.000", "mass")),
    ("1", "万IU", ("10000", "iu")),
    ("10000", "IU", ("10000", "iu")),
    ("3", " MG ", ("3", "mass")),
])
def test_convert_content(value, unit, expected):
    converted, dimension = convert_content(D(value), unit)
    assert converted == D(expected[0])
    assert dimension == expected[1]


def test_unit_conversions_agree():
    rep = tablet("0.25", unit="g")
    targets = [tablet("0.5", unit="g"), tablet("500", unit="mg"), tablet("500000", unit="μg"),
               tablet("500000", unit="ug"), tablet("500000", unit="mcg")]
    for rep_spec in (rep, tablet("250", unit="mg"), tablet("250000", unit="μg")):
        for target in targets:
            assert k_factors(rep_spec, target, DEFAULT_DIFF_PARAMS).content == D("1.7")
    iu = k_factors(tablet("1", unit="万IU"), tablet("20000", unit="IU"), DEFAULT_DIFF_PARAMS)
    assert iu.content == D("1.7")
    same = k_factors(tablet("1", unit="万IU"), tablet("10000", unit="IU"), DEFAULT_DIFF_PARAMS)
    assert same.content == ONE


@settings(database=None, max_examples=60)
@given(st.decimals(min_value=D("0.001"), max_value=D("10000"), places=3),
       st.decimals(min_value=D("0.001"), max_value=D("10000"), places=3))
def test_grams_and_milligrams_give_the_same_k(rep_g, target_g):
    in_g = k_factors(tablet(str(rep_g), unit="g"), tablet(str(target_g), unit="g"),
                     DEFAULT_DIFF_PARAMS).content
    in_mg = k_factors(tablet(str(rep_g * 1000), unit="mg"), tablet(str(target_g), unit="g"),
                      DEFAULT_DIFF_PARAMS).content
    assert in_g == in_mg


def test_unknown_unit_names_the_field():
    with pytest.raises(PriceRuleError) as err:
        convert_content(D(1), "kg")
    assert err.value.field == "content_unit"
    with pytest.raises(PriceRuleError) as err:
        k_factors(tablet("1", unit="grain"), tablet("2"), DEFAULT_DIFF_PARAMS)
    assert err.value.field == "rep_content_unit"


# --- hypothesis properties ------------------------------------------------------------------

quantities = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
counts = st.integers(min_value=1, max_value=5000)
forms = st.sampled_from(sorted(DEFAULT_FORM_RATIOS))
mass_units = st.sampled_from(["mg", "g", "μg", "ug", "mcg"])


@st.composite
def specs(draw) -> Spec:
    has_content = draw(st.booleans())
    has_volume = draw(st.booleans())
    return Spec(
        form=draw(forms),
        content=draw(quantities) if has_content else None,
        content_unit=draw(mass_units) if has_content else None,
        volume_ml=draw(quantities) if has_volume else None,
        units=draw(counts),
    )


@settings(database=None, max_examples=150)
@given(specs(), prices)
def test_identical_specs_give_k_one_and_the_rep_price(spec, price):
    factors, cap = diff_cap(price, spec, spec, DEFAULT_DIFF_PARAMS)
    assert factors == KFactors(ONE, ONE, ONE, ONE, ONE, ONE)
    assert factors.product == ONE
    assert cap == price


@settings(database=None, max_examples=150)
@given(quantities, quantities, quantities, prices)
def test_cap_grows_with_content(rep_content, a, b, price):
    low, high = sorted((a, b))
    rep = tablet(str(rep_content))
    k_low, cap_low = diff_cap(price, rep, tablet(str(low)), DEFAULT_DIFF_PARAMS)
    k_high, cap_high = diff_cap(price, rep, tablet(str(high)), DEFAULT_DIFF_PARAMS)
    assert cap_low <= cap_high
    if high > low:
        assert k_low.content < k_high.content
    else:
        assert k_low.content == k_high.content


@settings(database=None, max_examples=150)
@given(quantities, quantities, quantities, prices)
def test_cap_grows_with_volume(rep_volume, a, b, price):
    low, high = sorted((a, b))
    rep = solution(str(rep_volume))
    k_low, cap_low = diff_cap(price, rep, solution(str(low)), DEFAULT_DIFF_PARAMS)
    k_high, cap_high = diff_cap(price, rep, solution(str(high)), DEFAULT_DIFF_PARAMS)
    assert cap_low <= cap_high
    if high > low:
        assert k_low.volume < k_high.volume


@settings(database=None, max_examples=150)
@given(counts, counts, counts, prices)
def test_cap_grows_with_pack_size(rep_units, a, b, price):
    low, high = sorted((a, b))
    rep = tablet("10", rep_units)
    k_low, cap_low = diff_cap(price, rep, tablet("10", low), DEFAULT_DIFF_PARAMS)
    k_high, cap_high = diff_cap(price, rep, tablet("10", high), DEFAULT_DIFF_PARAMS)
    assert cap_low <= cap_high
    if high > low:
        assert k_low.units < k_high.units


@st.composite
def spec_pairs(draw) -> tuple[Spec, Spec]:
    """Two specs with the same kind of quantities (so they can be compared)."""
    has_content, has_volume = draw(st.booleans()), draw(st.booleans())

    def one() -> Spec:
        return Spec(form=draw(forms),
                    content=draw(quantities) if has_content else None,
                    content_unit=draw(mass_units) if has_content else None,
                    volume_ml=draw(quantities) if has_volume else None,
                    units=draw(counts))
    return one(), one()


@settings(database=None, max_examples=150)
@given(spec_pairs())
def test_k_there_and_back_is_one(pair):
    a, b = pair
    there = k_factors(a, b, DEFAULT_DIFF_PARAMS).product
    back = k_factors(b, a, DEFAULT_DIFF_PARAMS).product
    assert close(mul(there, back), ONE, "1e-30")


@settings(database=None, max_examples=100)
@given(quantities, quantities, quantities)
def test_k_composes(a, b, c):
    ab = k_factors(tablet(str(a)), tablet(str(b)), DEFAULT_DIFF_PARAMS).content
    bc = k_factors(tablet(str(b)), tablet(str(c)), DEFAULT_DIFF_PARAMS).content
    ac = k_factors(tablet(str(a)), tablet(str(c)), DEFAULT_DIFF_PARAMS).content
    assert close(mul(ab, bc), ac, "1e-30")


# --- material and package form tables -------------------------------------------------------

def test_material_and_package_form_tables():
    params = DiffParams(form_ratios=DEFAULT_FORM_RATIOS,
                        material_ratios={"玻璃瓶": D("1.2"), "塑料瓶": D("1.0")},
                        package_form_ratios={"铝塑": D("1.0"), "瓶装": D("1.1")})
    rep = Spec("普通片", D(10), "mg", None, 24, material="塑料瓶", package_form="铝塑")
    target = Spec("普通片", D(10), "mg", None, 24, material="玻璃瓶", package_form="瓶装")
    factors, cap = diff_cap(D("10.00"), rep, target, params)
    assert factors.material == D("1.2")
    assert factors.package_form == D("1.1")
    assert cap == D("13.20")
    # both names missing → 1
    plain = Spec("普通片", D(10), "mg", None, 24)
    assert k_factors(plain, plain, params).material == ONE
    # a name not in a non-empty table → error naming the field
    with pytest.raises(PriceRuleError) as err:
        k_factors(rep, Spec("普通片", D(10), "mg", None, 24, material="纸盒", package_form="铝塑"),
                  params)
    assert err.value.field == "material"
    with pytest.raises(PriceRuleError) as err:
        k_factors(Spec("普通片", D(10), "mg", None, 24, material="塑料瓶", package_form="袋装"),
                  target, params)
    assert err.value.field == "rep_package_form"
    # empty tables (the defaults) ignore the names
    assert k_factors(rep, target, DEFAULT_DIFF_PARAMS).product == ONE


# --- errors name the field ------------------------------------------------------------------

@pytest.mark.parametrize(("rep", "target", "field"), [
    (tablet("10"), tablet("10", form="糖衣丸"), "form"),
    (tablet("10", form="药丸"), tablet("10"), "rep_form"),
    (tablet("10"), tablet("10", form=""), "form"),
    (tablet("10"), tablet("10", unit="IU"), "content_unit"),
    (tablet("10"), Spec("普通片", None, None, None, 24), "content"),
    (Spec("普通片", None, None, None, 24), tablet("10"), "rep_content"),
    (tablet("10"), Spec("普通片", D(10), None, None, 24), "content_unit"),
    (tablet("0"), tablet("10"), "rep_content"),
    (tablet("10"), tablet("-5"), "content"),
    (solution("100"), Spec("口服溶液", None, None, None, 1), "volume_ml"),
    (Spec("口服溶液", None, None, None, 1), solution("100"), "rep_volume_ml"),
    (solution("100"), solution("0"), "volume_ml"),
    (tablet("10", units=0), tablet("10"), "rep_units"),
    (tablet("10"), tablet("10", units=-24), "units"),
])
def test_errors_name_the_field(rep, target, field):
    with pytest.raises(PriceRuleError) as err:
        diff_cap(D("3.00"), rep, target, DEFAULT_DIFF_PARAMS)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    assert isinstance(err.value, ValueError)


def test_bad_rep_price_and_floats():
    with pytest.raises(PriceRuleError) as err:
        diff_cap(D("0"), tablet("10"), tablet("20"), DEFAULT_DIFF_PARAMS)
    assert err.value.field == "rep_price"
    with pytest.raises(TypeError):
        diff_cap(3.0, tablet("10"), tablet("20"), DEFAULT_DIFF_PARAMS)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        k_factors(Spec("普通片", 10.0, "mg", None, 24), tablet("20"),  # type: ignore[arg-type]
                  DEFAULT_DIFF_PARAMS)


# --- helpers --------------------------------------------------------------------------------

def test_parse_decimal():
    assert parse_decimal(" 12.50 ", "rep_price") == D("12.50")
    assert parse_decimal("-3", "x") == D(-3)
    for junk in ("", "  ", "abc", "1e3", "1,000", "NaN", "Infinity", "１２", "12.5.1"):
        with pytest.raises(PriceRuleError) as err:
            parse_decimal(junk, "rep_price")
        assert err.value.field == "rep_price"
    with pytest.raises(TypeError):
        parse_decimal(1.5, "x")  # type: ignore[arg-type]


def test_format_k_and_price():
    assert format_k(D("1.7")) == "1.7000"
    assert format_k(D("1.00005")) == "1.0001"  # half-up
    assert format_k(D("1.363967358879414")) == "1.3640"
    assert format_k(ONE) == "1.0000"
    assert price_text(D("12.3")) == "12.30"
    assert price_text(D("0.1234")) == "0.1234"
    assert price_text(D("5")) == "5.00"


# --- rule parameters ------------------------------------------------------------------------

def test_listing_rule_params_defaults_and_round_trip():
    p = DEFAULT_LISTING_RULES
    assert p.vbp_offprovince_multiplier == D("1.5")
    assert p.linkage_follow_days == 30
    assert p.publicity_working_days == 3
    assert p.material_ratios == {} and p.package_form_ratios == {}
    assert p.to_diff_params() == DiffParams(form_ratios=dict(DEFAULT_FORM_RATIOS),
                                            material_ratios={}, package_form_ratios={})
    stored = p.model_dump(mode="json")
    json.dumps(stored)
    assert ListingRuleParams.model_validate(stored) == p
    custom = ListingRuleParams.model_validate(
        {"form_ratios": {"普通片": "1", "缓释片": "1.5"}, "content_base": "1.8"})
    factors = k_factors(tablet("10"), tablet("20", form="缓释片"), custom.to_diff_params())
    assert factors.form == D("1.5")
    assert factors.content == D("1.8")


@pytest.mark.parametrize("bad", [
    {"form_ratios": {"普通片": "0"}},
    {"form_ratios": {"普通片": "-1.1"}},
    {"form_ratios": {"  ": "1"}},
    {"form_ratios": {"普通片": "NaN"}},
    {"content_base": "0"},
    {"volume_base": "-1.9"},
    {"units_base": "abc"},
    {"material_ratios": {"玻璃瓶": "0"}},
    {"package_form_ratios": {"": "1"}},
    {"vbp_offprovince_multiplier": "0"},
    {"linkage_follow_days": 0},
    {"unknown_parameter": 1},
])
def test_listing_rule_params_validation(bad):
    with pytest.raises(ValidationError):
        ListingRuleParams.model_validate(bad)


# --- evaluate() -----------------------------------------------------------------------------

def ev(province: str, price: str, source: str = "declared") -> Evidence:
    return Evidence(province=province, price=D(price), date=datetime.date(2025, 3, 1),
                    source=source)


REP = Representative(spec=tablet("10"), price=D("3.00"), label="阿莫西林片 10mg×24")


def by_code(result, code):
    return next(r for r in result.results if r.code == code)


def test_evaluate_no_rule_applies():
    result = evaluate(PriceInputs(price=D("99.00"), spec=tablet("20"), declared=(),
                                  references=(), representative=None, vbp=None),
                      DEFAULT_LISTING_RULES)
    assert result.passed is True
    assert result.governing_cap is None and result.governing_rule is None
    assert [r.code for r in result.results] == ["linkage", "diff_ratio", "vbp"]
    assert all(not r.applies and r.passed is None and r.cap is None for r in result.results)


def test_evaluate_linkage_takes_the_lowest_price():
    inputs = PriceInputs(price=D("12.30"), spec=tablet("20"),
                         declared=(ev("浙江", "15.00"), ev("江苏", "12.30")),
                         references=(ev("广东", "13.00", "reference"),),
                         representative=None, vbp=None)
    result = evaluate(inputs, DEFAULT_LISTING_RULES)
    linkage = by_code(result, "linkage")
    assert linkage.applies and linkage.passed is True
    assert linkage.cap == D("12.30")
    assert linkage.numbers["lowest_price"] == "12.30"
    assert linkage.numbers["lowest_province"] == "江苏"
    assert linkage.numbers["lowest_date"] == "2025-03-01"
    assert result.governing_rule == "linkage" and result.governing_cap == D("12.30")
    assert result.passed is True
    # a reference price lower than every declared one governs
    lower = evaluate(PriceInputs(price=D("12.30"), spec=tablet("20"),
                                 declared=(ev("江苏", "12.30"),),
                                 references=(ev("四川", "11.99", "reference"),),
                                 representative=None, vbp=None), DEFAULT_LISTING_RULES)
    assert lower.passed is False
    assert lower.governing_cap == D("11.99")
    assert by_code(lower, "linkage").numbers["lowest_province"] == "四川"


def test_evaluate_picks_the_lowest_cap():
    inputs = PriceInputs(price=D("5.10"), spec=tablet("20"),
                         declared=(ev("江苏", "6.00"),), references=(),
                         representative=REP,
                         vbp=VbpInfo(own_winning_price=D("4.00"), supplies_this_province=False,
                                     highest_winning_price=None))
    result = evaluate(inputs, DEFAULT_LISTING_RULES)
    caps = {r.code: r.cap for r in result.results}
    assert caps == {"linkage": D("6.00"), "diff_ratio": D("5.10"), "vbp": D("6.00")}
    assert result.governing_rule == "diff_ratio"
    assert result.governing_cap == D("5.10")
    assert result.passed is True
    diff = by_code(result, "diff_ratio")
    assert diff.numbers["k_content"] == "1.7000"
    assert diff.numbers["k_form"] == "1.0000"
    assert diff.numbers["k_product"] == "1.7000"
    assert diff.numbers["cap"] == "5.10"
    one_fen_more = evaluate(PriceInputs(price=D("5.11"), spec=tablet("20"),
                                        declared=inputs.declared, references=(),
                                        representative=REP, vbp=inputs.vbp),
                            DEFAULT_LISTING_RULES)
    assert one_fen_more.passed is False
    assert by_code(one_fen_more, "diff_ratio").passed is False
    assert by_code(one_fen_more, "linkage").passed is True
    assert by_code(one_fen_more, "vbp").passed is True


def test_evaluate_identical_representative_caps_at_its_price():
    result = evaluate(PriceInputs(price=D("3.00"), spec=tablet("10"), declared=(),
                                  references=(), representative=REP, vbp=None),
                      DEFAULT_LISTING_RULES)
    assert result.governing_rule == "diff_ratio"
    assert result.governing_cap == D("3.00")
    assert result.passed is True


@pytest.mark.parametrize(("vbp", "cap", "message_has"), [
    (VbpInfo(D("10.00"), True, D("30.00")), "10.00", "supplying this province"),
    (VbpInfo(D("10.00"), False, None), "15.00", "times the own winning price"),
    (VbpInfo(D("10.00"), False, D("18.00")), "18.00", "the larger of"),
    (VbpInfo(D("10.00"), False, D("12.00")), "15.00", "the larger of"),
    (VbpInfo(D("3.33"), False, None), "5.00", "times"),  # 4.995 → 5.00 half-up
])
def test_evaluate_vbp(vbp, cap, message_has):
    for price, passed in ((D(cap), True), (D(cap) + D("0.01"), False)):
        result = evaluate(PriceInputs(price=price, spec=tablet("10"), declared=(),
                                      references=(), representative=None, vbp=vbp),
                          DEFAULT_LISTING_RULES)
        rule = by_code(result, "vbp")
        assert rule.applies
        assert rule.cap == D(cap)
        assert rule.passed is passed
        assert result.passed is passed
        assert result.governing_rule == "vbp"
        assert message_has in rule.text()
        assert rule.numbers["cap"] == cap


def test_evaluate_vbp_multiplier_comes_from_the_rule_set():
    params = ListingRuleParams(vbp_offprovince_multiplier=D("1.2"))
    result = evaluate(PriceInputs(price=D("12.00"), spec=tablet("10"), declared=(),
                                  references=(), representative=None,
                                  vbp=VbpInfo(D("10.00"), False, None)), params)
    assert result.governing_cap == D("12.00")
    assert by_code(result, "vbp").numbers["multiplier"] == "1.2"


def test_evaluate_messages_and_to_dict():
    inputs = PriceInputs(price=D("9.00"), spec=tablet("20"),
                         declared=(ev("江苏", "8.50"),), references=(), representative=REP,
                         vbp=VbpInfo(D("4.00"), False, D("7.00")))
    result = evaluate(inputs, DEFAULT_LISTING_RULES)
    assert result.passed is False
    assert result.governing_rule == "diff_ratio"
    for rule in result.results:
        assert rule.message in MESSAGE_TEMPLATES
        assert all(isinstance(v, str) for v in rule.numbers.values())
        rule.text()  # every placeholder is filled from numbers
    data = result.to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["governing_cap"] == "5.10"
    assert data["passed"] is False
    assert [r["cap"] for r in data["results"]] == ["8.50", "5.10", "7.00"]
    assert "8.50" in by_code(result, "linkage").text()


def test_evaluate_invalid_inputs_name_the_field():
    with pytest.raises(PriceRuleError) as err:
        evaluate(PriceInputs(price=D("0"), spec=tablet("10")), DEFAULT_LISTING_RULES)
    assert err.value.field == "price"
    with pytest.raises(PriceRuleError) as err:
        evaluate(PriceInputs(price=D("1"), spec=tablet("10"), declared=(ev("江苏", "-1"),)),
                 DEFAULT_LISTING_RULES)
    assert err.value.field == "declared.0.price"
    with pytest.raises(PriceRuleError) as err:
        evaluate(PriceInputs(price=D("1"), spec=tablet("10", form="丸剂"), representative=REP),
                 DEFAULT_LISTING_RULES)
    assert err.value.field == "form"
