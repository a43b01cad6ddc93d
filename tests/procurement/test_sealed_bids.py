"""The sealed bids stay sealed for everyone but the bureau: nothing a company, a hospital or a
visitor can fetch of a batch's results (the API, the results page, the public board, their own
bids) lets them work out a losing company's price.

The attack is tried for real: from the published winners' prices, the caller's own price and
every figure the caller can read (the number of bids, the mean, the SD, the mean − SD anchor,
the threshold, ratios to the anchor), solve for the one or two unknown losing prices."""
from __future__ import annotations

import math
import re
from decimal import Decimal

import pytest

from core import rules
from core.models import User
from procurement import services
from procurement import services_award as award
from procurement.rules import ProcurementRuleParams
from tests.procurement.factories import AFTER, batch_in_bidding, bid, cast, report, to_evaluating
from tests.procurement.test_api import COMPANY, HOSPITAL, bureau_token, token
from tests.support import login

D = Decimal
MULTIPLIER = D("1.3")
# With the anchor at mean − SD (above the lowest price): four winners and one or two losers.
ONE_LOSER = ["0.60", "0.80", "0.82", "0.85", "1.10"]
TWO_LOSERS = ["0.60", "0.80", "0.82", "0.85", "1.10", "1.20"]


def _world(session, prices: list[str]):
    c = cast(session, companies=len(prices))
    current = rules.current(session, services.RULE_SET)
    rules.publish(session, c.manager, services.RULE_SET, ProcurementRuleParams(
        **(current.params.model_dump() | {"anchor": "mean_sd", "entrant_cap_k": 0,
                                          "winner_multiplier": MULTIPLIER})))
    batch, (bp,) = batch_in_bidding(session, c)
    report(session, c, bp, [1000, 500])
    services.move_batch(session, c.manager, batch.id, "open_bidding")
    for party, price in zip(c.companies, prices, strict=True):
        bid(session, party, bp, price)
    to_evaluating(session, c, batch)
    award.run_selection(session, c.manager, batch.id, now=AFTER)
    services.move_batch(session, c.manager, batch.id, "publicize", now=AFTER)
    session.flush()
    return c, batch


def _mean_sd(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def recover(selection: dict, winners: list[dict], own: Decimal | None) -> list[float]:
    """Every losing price that follows from one product's results as a party read them
    (the API's ``selection`` and ``winners``) and its own price, if it bid."""
    detail = selection["detail"]
    n = selection["bidders"]
    known = [float(w["ucp"]) for w in winners]
    if own is not None and float(own) not in known:
        known.append(float(own))
    unknown = n - len(known)
    out: list[float] = []
    mean = None if detail.get("mean") is None else float(detail["mean"])
    sd = None if detail.get("sd") is None else float(detail["sd"])
    if mean is not None:
        rest = mean * n - sum(known)
        if unknown == 1:
            out.append(rest)
        if unknown == 2 and sd is not None:
            squares = n * (sd ** 2 + mean ** 2) - sum(k * k for k in known)
            root = math.sqrt(max(0.0, 2 * squares - rest * rest))
            out += [(rest - root) / 2, (rest + root) / 2]
    # The mean − SD anchor, read directly or through the threshold or a ratio to it.
    anchors = []
    if detail.get("anchor_rule") == "mean_sd":
        anchors += [float(x) for x in (detail.get("anchor"), selection.get("anchor")) if x]
        if detail.get("threshold"):
            anchors.append(float(detail["threshold"]) / float(MULTIPLIER))
        anchors += [float(v["ucp"]) / float(v["ratio_to_anchor"])
                    for v in detail.get("verdicts", []) if v.get("ratio_to_anchor")]
    if unknown == 1:
        for a in anchors:  # mean − SD is one equation in the one unknown price
            for i in range(1, 20001):
                x = i / 10000
                m, s = _mean_sd([*known, x])
                if abs(m - s - a) < 0.00006:
                    out.append(x)
    return out


def _recovered(candidates: list[float], losers: list[Decimal]) -> list[Decimal]:
    return [p for p in losers if any(abs(c - float(p)) < 0.005 for c in candidates)]


@pytest.mark.parametrize("prices", [ONE_LOSER, TWO_LOSERS], ids=["one-loser", "two-losers"])
def test_the_attack_works_on_the_bureaus_figures(client, session, prices):
    """The solver is real: with the complete explanation it finds the losing prices."""
    c, batch = _world(session, prices)
    (res,) = client.get(f"/api/v1/procurement/batches/{batch.id}/results",
                        headers=bureau_token(session, c)).json["items"]
    losers = [D(p) for p in prices[4:]]
    assert _recovered(recover(res["selection"], res["winners"], None), losers) == losers


@pytest.mark.parametrize("prices", [ONE_LOSER, TWO_LOSERS], ids=["one-loser", "two-losers"])
def test_no_party_but_the_bureau_can_work_out_a_losing_price(app, client, session, prices):
    c, batch = _world(session, prices)
    (full,) = client.get(f"/api/v1/procurement/batches/{batch.id}/results",
                         headers=bureau_token(session, c)).json["items"]
    detail = full["selection"]["detail"]
    assert detail["anchor_rule"] == "mean_sd" and D(detail["anchor"]) > D(prices[0])
    verdicts = detail["verdicts"]
    losers = [D(v["ucp"]) for v in verdicts if not v["won"]]
    assert len(losers) == len(prices) - 4
    # Figures computed from the losing bids: none may be shown to anyone else.
    secret = {detail[k] for k in ("mean", "sd", "anchor", "threshold")}
    secret |= {v["ratio_to_anchor"] for v in verdicts} | {v["ucp"] for v in verdicts}
    public = {v["ucp"] for v in verdicts if v["won"]} | {
        v["package_price"] for v in verdicts if v["won"]}
    secret -= public

    parties = [(c.companies[0], COMPANY, D(prices[0])),      # a winner
               (c.companies[-1], COMPANY, D(prices[-1])),    # a loser
               (c.hospitals[0], HOSPITAL, None)]
    for party, scopes, own in parties:
        headers = token(session, party.org, *scopes)
        api = client.get(f"/api/v1/procurement/batches/{batch.id}/results", headers=headers)
        assert api.status_code == 200
        (res,) = api.json["items"]
        assert _recovered(recover(res["selection"], res["winners"], own), losers) == []
        detail = res["selection"]["detail"]
        assert detail["mean"] is None and detail["sd"] is None
        assert res["selection"]["bidders"] == len(prices)  # how many bid is public, no sum
        texts = [api.get_data(as_text=True)]
        if own is not None:
            texts.append(client.get(f"/api/v1/procurement/batches/{batch.id}/bids",
                                    headers=headers).get_data(as_text=True))
        login(client, session.get(User, party.op.user_id).username)
        for path in (f"/procurement/batches/{batch.id}/results",
                     f"/procurement/batches/{batch.id}", "/procurement/publicity",
                     f"/procurement/publicity/{batch.id}"):
            page = client.get(path)
            assert page.status_code == 200, path
            texts.append(page.get_data(as_text=True))
        shown = {m for t in texts for m in re.findall(r"\d+\.\d{4}", t)}
        own_figures = {format(own.quantize(D("0.0001")), "f")} if own is not None else set()
        assert shown & (secret - own_figures) == set(), party.org.name
    # A visitor reads the public board only.
    visitor = app.test_client()
    shown = {m for path in ("/procurement/publicity", f"/procurement/publicity/{batch.id}")
             for m in re.findall(r"\d+\.\d{4}", visitor.get(path).get_data(as_text=True))}
    assert shown & secret == set()
