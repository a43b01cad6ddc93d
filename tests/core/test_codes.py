"""Tests of the national code validators (core.codes)."""

from __future__ import annotations

from enum import Enum

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from core.codes import (
    PROVINCE_CODES,
    consumable_group_code,
    make_institution_code,
    make_uscc,
    validate_consumable_code,
    validate_drug_code,
    validate_institution_code,
    validate_org_code,
    validate_region,
    validate_uscc,
)
from core.errors import Invalid

VALID_USCC = "91350100M000100Y43"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, S, V, Z


def invalid_field(func, *args, **kwargs) -> str:
    """Call a validator that must fail; return the one field it names."""
    with pytest.raises(Invalid) as info:
        func(*args, **kwargs)
    assert info.value.status == 422
    assert len(info.value.errors) == 1
    assert info.value.errors[0].message
    return info.value.errors[0].field


# --- valid examples from DOMAIN.md ---------------------------------------------------------------


def test_domain_examples_are_valid() -> None:
    assert validate_uscc(VALID_USCC) == VALID_USCC
    assert validate_institution_code("H33010200001") == "H33010200001"
    assert validate_region("330100") == "330100"
    assert validate_drug_code("XG03FBC051A001020178890") == "XG03FBC051A001020178890"
    assert validate_drug_code("ZD01BAY0318010302251") == "ZD01BAY0318010302251"
    assert (
        validate_consumable_code("C09100100000000211790000049")
        == "C09100100000000211790000049"
    )


def test_normalisation() -> None:
    assert validate_uscc(" 91350100m000100y43\n") == VALID_USCC
    assert (
        validate_uscc("９１３５０１００Ｍ０００１００Ｙ４３") == VALID_USCC
    )  # full-width input
    assert validate_institution_code(" h33010200001 ") == "H33010200001"
    assert validate_region(" 330100 ") == "330100"
    assert validate_drug_code("xg03fbc051a001020178890") == "XG03FBC051A001020178890"
    assert validate_drug_code("zd01bay0318010302251") == "ZD01BAY0318010302251"
    assert (
        validate_consumable_code("c09100100000000211790000049")
        == "C09100100000000211790000049"
    )


# --- USCC ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("9135010", "18 characters"),
        ("91350100M000100Y431", "18 characters"),
        ("A1350100M000100Y43", "invalid format"),  # registration part must be digits
        ("91350100M000100I43", "invalid format"),  # I is not in the alphabet
        ("91350100M000100Y44", "check character"),
        ("91350100M000100Y34", "check character"),  # transposition
    ],
)
def test_uscc_invalid(value: str, fragment: str) -> None:
    with pytest.raises(Invalid) as info:
        validate_uscc(value, field="supplier_uscc")
    assert info.value.errors[0].field == "supplier_uscc"
    assert fragment in info.value.errors[0].message


@pytest.mark.parametrize("value", ["", "   ", None, 91350100])
def test_uscc_missing_or_not_text(value: object) -> None:
    assert invalid_field(validate_uscc, value) == "uscc"


def test_make_uscc_reproduces_domain_example() -> None:
    # The example's organisation code M000100Y4 carries a correct GB 11714 check digit (4).
    assert make_uscc("9", "1", "350100", "M000100Y") == VALID_USCC


def test_make_uscc_rejects_bad_parts() -> None:
    with pytest.raises(ValueError):
        make_uscc("91", "1", "350100", "M000100Y")
    with pytest.raises(ValueError):
        make_uscc("9", "1", "990100", "M000100Y")
    with pytest.raises(ValueError):
        make_uscc("9", "1", "350100", "M000100I")
    with pytest.raises(ValueError):
        make_uscc("9", "1", "350100", "M000100")


digits = st.sampled_from("0123456789")
regions = st.builds(
    lambda p, rest: p + rest,
    st.sampled_from(sorted(PROVINCE_CODES)),
    st.text(alphabet="0123456789", min_size=4, max_size=4),
)
org_bodies = st.text(alphabet=USCC_ALPHABET, min_size=8, max_size=8)
usccs = st.builds(make_uscc, digits, digits, regions, org_bodies)


@given(digits, digits, regions, org_bodies)
def test_make_uscc_always_validates(reg: str, typ: str, region: str, body: str) -> None:
    code = make_uscc(reg, typ, region, body)
    assert len(code) == 18
    assert code[:8] == reg + typ + region
    assert code[8:16] == body
    assert validate_uscc(code) == code
    assert stdnum_uscc.is_valid(code)


def _allowed_chars(position: int) -> str:
    # stdnum requires the first 8 characters to be digits; the rest come from the alphabet.
    return "0123456789" if position < 8 else USCC_ALPHABET


def test_single_character_change_detected_exhaustively() -> None:
    # The check is a weighted sum mod 31 (prime) with weights that are all non-zero mod 31,
    # so every single substitution must change the check character. Verified here over every
    # position and every allowed replacement of the domain example.
    for position in range(18):
        for char in _allowed_chars(position):
            if char == VALID_USCC[position]:
                continue
            mutated = VALID_USCC[:position] + char + VALID_USCC[position + 1 :]
            with pytest.raises(Invalid):
                validate_uscc(mutated)


@given(usccs, st.integers(min_value=0, max_value=17), st.data())
def test_single_character_change_invalidates(code: str, position: int, data) -> None:
    allowed = [c for c in _allowed_chars(position) if c != code[position]]
    char = data.draw(st.sampled_from(allowed))
    mutated = code[:position] + char + code[position + 1 :]
    assert invalid_field(validate_uscc, mutated, field="uscc") == "uscc"


# --- region --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "330000",
        "330100",
        "330102",
        "110101",
        "650100",
        "710000",
        "810000",
        "820000",
        "429004",
    ],
)
def test_region_valid(value: str) -> None:
    assert validate_region(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "33010",
        "3301000",
        "33A100",
        "990100",
        "160100",
        "100000",
        "720000",
        "000000",
        "３３０１００x",
        "٣٣٠١٠٠",
    ],
)
def test_region_invalid(value: str) -> None:
    assert invalid_field(validate_region, value) == "region_code"
    assert (
        invalid_field(validate_region, value, field="hospital_region")
        == "hospital_region"
    )


def test_province_codes() -> None:
    assert len(PROVINCE_CODES) == 34
    assert {
        "11",
        "15",
        "21",
        "23",
        "31",
        "37",
        "41",
        "46",
        "50",
        "54",
        "61",
        "65",
    } <= PROVINCE_CODES
    assert not {
        "10",
        "16",
        "20",
        "24",
        "30",
        "38",
        "40",
        "47",
        "55",
        "60",
        "66",
        "70",
        "80",
    } & (PROVINCE_CODES)


# --- institution code ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["H33010200001", "P33010200001", "H11000099999", "P82000000000"]
)
def test_institution_code_valid(value: str) -> None:
    assert validate_institution_code(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "H3301020000",  # 11 chars
        "H330102000011",  # 13 chars
        "X33010200001",  # wrong kind letter
        "H99010200001",  # bad province
        "H3301A200001",  # region not digits
        "H3301020000A",  # serial not digits
        "33010200001H",
    ],
)
def test_institution_code_invalid(value: str) -> None:
    assert invalid_field(validate_institution_code, value) == "institution_code"
    assert invalid_field(validate_institution_code, value, field="buyer") == "buyer"


@given(regions, st.integers(min_value=0, max_value=99_999), st.sampled_from("HP"))
def test_make_institution_code_validates(region: str, serial: int, kind: str) -> None:
    code = make_institution_code(region, serial, kind=kind)
    assert code == f"{kind}{region}{serial:05d}"
    assert validate_institution_code(code) == code


def test_make_institution_code_rejects_bad_parts() -> None:
    for args in [("330102", 100_000), ("330102", -1), ("990102", 1), ("33010", 1)]:
        with pytest.raises(ValueError):
            make_institution_code(*args)
    with pytest.raises(ValueError):
        make_institution_code("330102", 1, kind="X")


# --- drug and consumable codes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "XG03FBC051A00102017889",  # 22 chars
        "XG03FBC051A0010201788901",  # 24 chars
        "ZD01BAY031801030225",  # 19 chars
        "ZD01BAY03180103022511",  # 21 chars
        "ZD01BAY0318010302251XYZ",  # 23 chars but Z prefix
        "XD01BAY0318010302251",  # 20 chars but X prefix
        "YG03FBC051A001020178890",  # wrong prefix
        "XG03FBC051A00102017889-",  # punctuation
        "XG03FBC051A00102017889É",  # non-ASCII letter
        "",
    ],
)
def test_drug_code_invalid(value: str) -> None:
    assert invalid_field(validate_drug_code, value) == "drug_code"
    assert invalid_field(validate_drug_code, value, field="items[0].drug_code") == (
        "items[0].drug_code"
    )


@pytest.mark.parametrize(
    "value",
    [
        "C0910010000000021179000004",  # 26 chars
        "C091001000000002117900000490",  # 28 chars
        "D09100100000000211790000049",  # wrong prefix
        "C0910010000000021179000004_",
    ],
)
def test_consumable_code_invalid(value: str) -> None:
    assert invalid_field(validate_consumable_code, value) == "consumable_code"


def test_consumable_group_code() -> None:
    code = validate_consumable_code("C09100100000000211790000049")
    assert consumable_group_code(code) == "C0910010000000021179"
    assert len(consumable_group_code(code)) == 20
    with pytest.raises(ValueError):
        consumable_group_code("XG03FBC051A001020178890")


# --- organisation codes by kind ------------------------------------------------------------------


class Kind(str, Enum):
    ENTERPRISE = "enterprise"
    HOSPITAL = "hospital"


def test_org_code_dispatch() -> None:
    bureau_uscc = make_uscc("1", "1", "330000", "00250254")
    assert bureau_uscc.startswith("11")
    assert validate_org_code("enterprise", VALID_USCC) == VALID_USCC
    assert validate_org_code("bank", VALID_USCC) == VALID_USCC
    assert validate_org_code("bureau", bureau_uscc) == bureau_uscc
    assert validate_org_code("hospital", "h33010200001") == "H33010200001"
    assert validate_org_code(Kind.HOSPITAL, "H33010200001") == "H33010200001"
    # A hospital code is not a USCC and vice versa; the error names the code field.
    assert invalid_field(validate_org_code, "enterprise", "H33010200001") == "code"
    assert invalid_field(validate_org_code, "hospital", VALID_USCC) == "code"
    assert (
        invalid_field(validate_org_code, "bank", "x", field="bank_code") == "bank_code"
    )


@pytest.mark.parametrize("kind", ["pharmacy", "", "Enterprise", None])
def test_org_code_unknown_kind(kind: object) -> None:
    assert invalid_field(validate_org_code, kind, VALID_USCC) == "kind"


@pytest.mark.parametrize(("code", "name"), [
    ("330100", "杭州市"), ("330106", "西湖区"), ("331000", "台州市"),  # dated "[1994-]台州市"
    ("330000", "浙江省"), ("120110", "东丽区"),  # renamed: "[-1991]东郊区,[1992-]东丽区"
    ("110103", None),  # 崇文区, merged away in 2010
    ("999999", None), ("33010", None), ("", None),
])
def test_region_names_come_from_the_gb_t_2260_table(code, name):
    from core.codes import region_name
    assert region_name(code) == name
