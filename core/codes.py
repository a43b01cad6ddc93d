"""Validators for the national codes Yaocai receives at its boundary.

Every ``validate_*`` function normalises its input (Unicode NFKC, so full-width characters typed
with a Chinese input method become ASCII; surrounding whitespace stripped; upper-cased) and
returns the normalised code, or raises :class:`~core.errors.Invalid` naming ``field``.

Drug and consumable codes are checked for prefix, length and alphabet only and stored whole;
nothing inside them is parsed (their inner structure is the national code table's business).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from enum import Enum

from stdnum.cn import uscc as _uscc
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from core.errors import Invalid

__all__ = [
    "PROVINCE_CODES",
    "consumable_group_code",
    "make_institution_code",
    "make_uscc",
    "validate_consumable_code",
    "validate_drug_code",
    "validate_institution_code",
    "validate_org_code",
    "validate_region",
    "validate_uscc",
]

#: Province-level prefixes of GB/T 2260 (省级行政区划代码), including Taiwan (71),
#: Hong Kong (81) and Macao (82).
PROVINCE_CODES: frozenset[str] = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82"]
)

_SIX_DIGITS = re.compile(r"[0-9]{6}", re.ASCII)
_FIVE_DIGITS = re.compile(r"[0-9]{5}", re.ASCII)
_UPPER_ALNUM = re.compile(r"[A-Z0-9]+", re.ASCII)

_INSTITUTION_KINDS = {"H": "medical institution", "P": "pharmacy"}

# The USCC alphabet (GB 32100): digits and capital letters without I, O, S, V, Z.
# Taken from stdnum so the two can never disagree.
_USCC_ALPHABET: str = _uscc._alphabet
# GB 11714 organisation code (组织机构代码) check digit weights for the first 8 characters.
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

USCC_LENGTH = 18
INSTITUTION_CODE_LENGTH = 12
WESTERN_DRUG_CODE_LENGTH = 23
PATENT_MEDICINE_CODE_LENGTH = 20
CONSUMABLE_CODE_LENGTH = 27
CONSUMABLE_GROUP_LENGTH = 20


def _normalise(value: object, field: str, what: str) -> str:
    if value is None:
        raise Invalid.one(field, f"Enter the {what}.")
    if not isinstance(value, str):
        # Codes are strings, never numbers: an int would already have lost leading zeros.
        raise Invalid.one(field, f"The {what} must be text.")
    code = unicodedata.normalize("NFKC", value).strip().upper()
    if not code:
        raise Invalid.one(field, f"Enter the {what}.")
    return code


def validate_uscc(value: str, field: str = "uscc") -> str:
    """Validate a unified social credit code (统一社会信用代码, GB 32100) with ``stdnum.cn.uscc``.

    Returns stdnum's compact form, which also drops spaces and hyphens inside the code.
    The check character is verified by stdnum; the organisation code embedded in positions
    9–17 is not checked further (stdnum does not, and neither do we).
    """
    code = _normalise(value, field, "unified social credit code")
    try:
        return _uscc.validate(code)
    # InvalidLength is a subclass of InvalidFormat in stdnum, so it must be caught first.
    except InvalidLength:
        raise Invalid.one(
            field, "The unified social credit code must be 18 characters long."
        ) from None
    except InvalidFormat:
        raise Invalid.one(
            field,
            "The unified social credit code has an invalid format: the first 8 characters "
            "must be digits and the rest digits or capital letters other than I, O, S, V and Z.",
        ) from None
    except InvalidChecksum:
        raise Invalid.one(
            field,
            "The unified social credit code is not valid: its check character is wrong.",
        ) from None
    except ValidationError:
        raise Invalid.one(
            field, "The unified social credit code is not valid."
        ) from None


def _check_region(code: str, field: str) -> str:
    if not _SIX_DIGITS.fullmatch(code):
        raise Invalid.one(field, "The region code must be 6 digits.")
    if code[:2] not in PROVINCE_CODES:
        raise Invalid.one(
            field, "The region code does not start with a valid province code."
        )
    return code


def validate_region(value: str, field: str = "region_code") -> str:
    """Validate an administrative region code (行政区划代码, GB/T 2260): 6 digits whose first
    two are a province-level code. A province (``330000``), a prefecture (``330100``) and a
    county (``330102``) are all valid."""
    return _check_region(_normalise(value, field, "region code"), field)


def validate_institution_code(value: str, field: str = "institution_code") -> str:
    """Validate a designated medical institution code (定点医药机构代码): 12 characters,
    ``H`` (medical institution) or ``P`` (pharmacy), a 6-digit region code and a 5-digit
    serial, e.g. ``H33010200001``."""
    code = _normalise(value, field, "institution code")
    if len(code) != INSTITUTION_CODE_LENGTH:
        raise Invalid.one(field, "The institution code must be 12 characters long.")
    if code[0] not in _INSTITUTION_KINDS:
        raise Invalid.one(
            field,
            "The institution code must start with H (medical institution) or P (pharmacy).",
        )
    region = code[1:7]
    if not _SIX_DIGITS.fullmatch(region) or region[:2] not in PROVINCE_CODES:
        raise Invalid.one(
            field,
            "Characters 2 to 7 of the institution code must be a valid region code.",
        )
    if not _FIVE_DIGITS.fullmatch(code[7:]):
        raise Invalid.one(
            field, "The last 5 characters of the institution code must be digits."
        )
    return code


def validate_drug_code(value: str, field: str = "drug_code") -> str:
    """Validate an insurance drug code (医保药品代码): 23 characters starting with ``X``
    (western medicine) or 20 characters starting with ``Z`` (Chinese patent medicine);
    capital letters and digits only."""
    code = _normalise(value, field, "drug code")
    if not _UPPER_ALNUM.fullmatch(code):
        raise Invalid.one(
            field, "The drug code may contain only capital letters and digits."
        )
    if code[0] == "X":
        if len(code) != WESTERN_DRUG_CODE_LENGTH:
            raise Invalid.one(
                field,
                "A western medicine drug code (starting with X) must be 23 characters long.",
            )
    elif code[0] == "Z":
        if len(code) != PATENT_MEDICINE_CODE_LENGTH:
            raise Invalid.one(
                field,
                "A Chinese patent medicine drug code (starting with Z) must be 20 characters long.",
            )
    else:
        raise Invalid.one(field, "The drug code must start with X or Z.")
    return code


def validate_consumable_code(value: str, field: str = "consumable_code") -> str:
    """Validate an insurance medical consumable code (医保医用耗材代码): 27 characters
    starting with ``C``; capital letters and digits only."""
    code = _normalise(value, field, "consumable code")
    if not _UPPER_ALNUM.fullmatch(code):
        raise Invalid.one(
            field, "The consumable code may contain only capital letters and digits."
        )
    if code[0] != "C":
        raise Invalid.one(field, "The consumable code must start with C.")
    if len(code) != CONSUMABLE_CODE_LENGTH:
        raise Invalid.one(field, "The consumable code must be 27 characters long.")
    return code


def consumable_group_code(code: str) -> str:
    """The product-level code used for grouping: the first 20 characters of a consumable code.

    Expects an already validated code (raises ``ValueError`` otherwise, a programming error).
    """
    if len(code) != CONSUMABLE_CODE_LENGTH or not code.startswith("C"):
        raise ValueError(f"not a validated consumable code: {code!r}")
    return code[:CONSUMABLE_GROUP_LENGTH]


# Organisation kind → validator of its code. Enterprises, banks and bureaus (government bodies
# have USCCs too, starting with 11) are identified by their USCC; hospitals by their
# designated medical institution code.
_ORG_VALIDATORS = {
    "enterprise": validate_uscc,
    "bank": validate_uscc,
    "bureau": validate_uscc,
    "hospital": validate_institution_code,
}


def validate_org_code(kind: str | Enum, value: str, field: str = "code") -> str:
    """Validate the identifying code of an organisation of the given kind
    (``enterprise``, ``bank``, ``bureau`` → USCC; ``hospital`` → institution code)."""
    key = kind.value if isinstance(kind, Enum) else kind
    validator = _ORG_VALIDATORS.get(key) if isinstance(key, str) else None
    if validator is None:
        raise Invalid.one("kind", "Unknown organisation kind.")
    return validator(value, field=field)


def _org_code_check_digit(body8: str) -> str:
    # GB 11714: weighted sum mod 11 over the first 8 characters (digit → its value, letter A–Z
    # → 10–35); check = 11 - sum mod 11, where 10 → "X" and 11 → "0". stdnum has no module for
    # this and does not check it inside a USCC, but real codes carry it, so demo data should.
    total = sum(int(c, 36) * w for c, w in zip(body8, _ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(registration: str, org_type: str, region: str, org_code8: str) -> str:
    """Build a valid USCC for demo data and tests.

    ``registration`` (登记管理部门, e.g. ``"9"`` market regulation, ``"1"`` government body) and
    ``org_type`` (机构类别, e.g. ``"1"``) are one digit each; ``region`` is a 6-digit GB/T 2260
    code; ``org_code8`` is the 8-character body of the organisation code. The organisation
    code's own GB 11714 check character is appended, then stdnum's
    :func:`stdnum.cn.uscc.calc_check_digit` gives the final character.
    Raises ``ValueError`` on bad parts.
    """
    if not (
        len(registration) == 1 and registration.isascii() and registration.isdigit()
    ):
        raise ValueError("registration must be one digit")
    if not (len(org_type) == 1 and org_type.isascii() and org_type.isdigit()):
        raise ValueError("org_type must be one digit")
    if not _SIX_DIGITS.fullmatch(region) or region[:2] not in PROVINCE_CODES:
        raise ValueError("region must be a valid 6-digit region code")
    if len(org_code8) != 8 or any(c not in _USCC_ALPHABET for c in org_code8):
        raise ValueError(
            "org_code8 must be 8 digits or capital letters other than I, O, S, V, Z"
        )
    body = (
        registration + org_type + region + org_code8 + _org_code_check_digit(org_code8)
    )
    return validate_uscc(body + _uscc.calc_check_digit(body))


def make_institution_code(region: str, serial: int, kind: str = "H") -> str:
    """Build a designated medical institution code: ``kind`` (``H`` or ``P``) + region +
    5-digit serial. Raises ``ValueError`` on bad parts."""
    if kind not in _INSTITUTION_KINDS:
        raise ValueError("kind must be 'H' or 'P'")
    if (
        isinstance(serial, bool)
        or not isinstance(serial, int)
        or not 0 <= serial <= 99_999
    ):
        raise ValueError("serial must be an int from 0 to 99999")
    if not _SIX_DIGITS.fullmatch(region) or region[:2] not in PROVINCE_CODES:
        raise ValueError("region must be a valid 6-digit region code")
    return validate_institution_code(f"{kind}{region}{serial:05d}")


@functools.lru_cache(maxsize=8192)  # a lookup in python-stdnum's table costs ~2 ms
def region_name(code: str) -> str | None:
    """The name of an administrative region (行政区划) by its GB/T 2260 code, from the table
    python-stdnum keeps for resident identity numbers: ``330100`` → 杭州市. A region renamed
    over time has several dated names there; the current (open-ended) one is returned. None
    for an unknown code."""
    from stdnum import numdb

    if not _SIX_DIGITS.fullmatch(code or ""):
        return None
    info = {k: v for _part, props in numdb.get("cn/loc").info(code) for k, v in props.items()}
    names = info.get("county") if code[2:] != "0000" else info.get("province")
    if not names:
        return None
    current = None
    for entry in names.split(","):
        if entry.startswith("["):
            period, name = entry[1:].split("]", 1)
            if period.endswith("-"):  # no end year: still in use
                current = name
        else:
            current = entry
    return current
