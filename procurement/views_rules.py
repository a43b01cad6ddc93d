"""The procurement rule-set page (集采规则): every number of DOMAIN §2, edited as versions."""
from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.db import get_session
from core.rules import history as rule_history
from core.web import acting, attempt, requires
from procurement import services
from procurement.blueprint import bp
from procurement.permissions import BATCH_MANAGE, BATCH_READ

SCALARS = ("report_min_share", "anchor", "winner_multiplier", "price_floor", "entrant_cap_max",
           "entrant_cap_k", "min_winners", "zero_volume_sd", "result_publicity_working_days",
           "pool_lowest_share", "rounding", "cycle_years")


def _rows(form: Any, table: str, keys: tuple[str, str]) -> list[dict[str, Any]]:
    first, second = (form.getlist(f"{table}_{k}") for k in keys)
    rows = []
    for a, b in zip(first, second, strict=False):
        a, b = a.strip(), b.strip()
        if a or b:
            rows.append({keys[0]: a or None, keys[1]: b or None})
    return rows


def _rules_from_form(form: Any) -> dict[str, Any]:
    """Scalars as typed (blank zero-volume band = off) and the two tables as rows; the rule
    model validates everything and names the field of each problem."""
    params: dict[str, Any] = {k: (form.get(k) or "").strip() for k in SCALARS}
    params["zero_volume_sd"] = params["zero_volume_sd"] or None
    params["agreed_ratios"] = _rows(form, "agreed_ratios", ("min_winners", "ratio"))
    params["retention_bands"] = _rows(form, "retention_bands", ("max_ratio", "retained"))
    return params


@bp.route("/rules", methods=["GET", "POST"])
@requires(BATCH_READ)
def rules():
    """Read the rules in force and their versions; bureau managers publish a new version."""
    actor = acting()
    session = get_session()
    errors: list = []
    if request.method == "POST":
        done = attempt(lambda: services.publish_rules(
            session, actor, _rules_from_form(request.form),
            note=request.form.get("note") or None))
        if done.ok:
            flash(_("Rule set version %(v)s published.", v=done.value.version), "success")
            return redirect(url_for("procurement.rules"))
        errors = done.errors
    current = services.current_rules(session)
    return render_template("procurement/rules.html", current=current,
                           params=json.loads(current.params.model_dump_json()),
                           versions=rule_history(session, services.RULE_SET), errors=errors,
                           can_edit=actor.can(BATCH_MANAGE)), 422 if errors else 200
