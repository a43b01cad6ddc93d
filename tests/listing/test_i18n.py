"""Listing strings translated at render time are in the zh_CN catalog: enum values (badges),
workflow actions (buttons, audit trail) and the price-rule messages of the rule panel."""
from __future__ import annotations

import enum

from listing import models, price_rules, services
from tests.core.test_i18n import _translated, read_zh


def _dynamic_msgids() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in dir(models):
        cls = getattr(models, name)
        if isinstance(cls, type) and issubclass(cls, enum.Enum) \
                and cls.__module__ == models.__name__:
            for member in cls:
                out[member.value] = f"{name}.{member.name}"
    for flow in (services.APPLICATION_FLOW, services.OBJECTION_FLOW, services.LISTING_FLOW):
        for action in flow.actions:
            out[f"action:{action}"] = f"{flow.name} button"
            out[f"{flow.name}.{action}"] = f"{flow.name} audit action"
    for template in price_rules.MESSAGE_TEMPLATES:
        out[template] = "price rule message"
    for code in ("linkage", "diff_ratio", "vbp"):
        out[code] = "rule code"
    return out


def test_every_dynamic_listing_string_is_translated():
    zh = read_zh()
    missing = sorted(f"{msgid!r} ({what})" for msgid, what in _dynamic_msgids().items()
                     if not _translated(zh.get(msgid)))
    assert not missing, "\n".join(missing)
