"""Winner selection against hand-computed cases (DOMAIN §2): the 1.8× rule, the ¥0.10 floor,
the entrant cap min(10, N − k), ties, small N, the mean − SD anchor and the zero-volume band."""
from __future__ import annotations

from decimal import Decimal as D  # noqa: N817  (short for the many literals)

import pytest
from pydantic import ValidationError

from procurement.rules import DEFAULT_PROCUREMENT_RULES, ProcurementRuleParams
from procurement.selection import (
    LOST_CAP,
    LOST_THRESHOLD,
    WON_FLOOR,
    WON_MULTIPLIER,
    WON_ZERO_VOLUME,
    Bid,
    select_winners,
)

NO_CAP = ProcurementRuleParams(entrant_cap_k=0)


def bids(*prices: str) -> list[Bid]:
    return [Bid(f"E{i:02d}", D(p), order=i) for i, p in enumerate(prices)]


def rules_of(selection) -> list[tuple[str, str]]:
    return [(v.bidder, v.rule) for v in selection.verdicts]


def test_multiplier_rule_is_inclusive_at_exactly_1_8_times_the_anchor():
    s = select_winners(bids("1.00", "1.50", "1.80", "1.81", "2.50"), NO_CAP)
    assert s.anchor == D("1.00") and s.threshold == D("1.800")
    assert rules_of(s) == [("E00", WON_MULTIPLIER), ("E01", WON_MULTIPLIER),
                           ("E02", WON_MULTIPLIER), ("E03", LOST_THRESHOLD),
                           ("E04", LOST_THRESHOLD)]
    assert [v.ratio_to_anchor for v in s.verdicts] == [D("1.0000"), D("1.5000"), D("1.8000"),
                                                        D("1.8100"), D("2.5000")]


def test_the_floor_lets_cheap_bids_win_above_1_8_times_the_anchor():
    s = select_winners(bids("0.03", "0.06", "0.10", "0.11"), NO_CAP)
    assert s.threshold == D("0.054")
    assert rules_of(s) == [("E00", WON_MULTIPLIER), ("E01", WON_FLOOR), ("E02", WON_FLOOR),
                           ("E03", LOST_THRESHOLD)]


def test_entrant_cap_is_n_minus_k_and_at_most_ten():
    rules = DEFAULT_PROCUREMENT_RULES  # k = 3, cap 10
    s = select_winners(bids("1.00", "1.10", "1.20", "1.30", "1.40"), rules)
    assert s.cap == 2
    assert [v.won for v in s.verdicts] == [True, True, False, False, False]
    assert s.verdicts[2].rule == LOST_CAP
    many = select_winners(bids(*[f"1.{i:02d}" for i in range(20)]), rules)
    assert many.cap == 10 and len(many.winners) == 10
    assert ProcurementRuleParams(entrant_cap_k=2).entrant_cap(5) == 3


@pytest.mark.parametrize("n, cap", [(1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (13, 10)])
def test_small_n_still_selects_the_minimum_number_of_winners(n, cap):
    s = select_winners(bids(*["2.00"] * n), DEFAULT_PROCUREMENT_RULES)
    assert s.cap == cap and len(s.winners) == cap


def test_equal_prices_rank_by_submission_order_then_code():
    tied = [Bid("E09", D("1.00"), order=2), Bid("E05", D("1.00"), order=1),
            Bid("E01", D("1.00"), order=2), Bid("E07", D("1.20"), order=0)]
    s = select_winners(tied, DEFAULT_PROCUREMENT_RULES)  # N = 4, k = 3: one winner
    assert [v.bidder for v in s.verdicts] == ["E05", "E01", "E09", "E07"]
    assert [v.bidder for v in s.winners] == ["E05"]
    # Reproducible whatever order the bids come in.
    assert select_winners(list(reversed(tied)), DEFAULT_PROCUREMENT_RULES) == s


def test_mean_minus_sd_anchor_and_zero_volume_band():
    prices = bids("1", "5", "6", "7", "8")
    # mean 5.4; population variance 29.2 / 5 = 5.84; sd = 2.4166…; mean − sd = 2.9834
    s = select_winners(prices, ProcurementRuleParams(entrant_cap_k=0, anchor="mean_sd"))
    assert s.mean == D("5.4") and s.anchor_rule == "mean_sd"
    assert s.anchor.quantize(D("0.0001")) == D("2.9834")
    assert s.threshold.quantize(D("0.0001")) == D("5.3701")
    assert rules_of(s) == [("E00", WON_MULTIPLIER), ("E01", WON_MULTIPLIER),
                           ("E02", LOST_THRESHOLD), ("E03", LOST_THRESHOLD),
                           ("E04", LOST_THRESHOLD)]
    # With the band at mean − 1.5 SD = 1.7751, the ¥1 bid wins with zero agreed volume.
    z = select_winners(prices, ProcurementRuleParams(entrant_cap_k=0, anchor="mean_sd",
                                                     zero_volume_sd=D("1.5")))
    assert z.verdicts[0].rule == WON_ZERO_VOLUME and z.verdicts[0].zero_volume
    assert [v.won for v in z.verdicts] == [True, True, False, False, False]
    # The lowest price anchors when it is above mean − sd: 1, 1, 10 → mean 4, sd √18 ≈ 4.24.
    spread = select_winners(bids("1.0", "1.0", "10.0"), ProcurementRuleParams(
        entrant_cap_k=0, anchor="mean_sd"))
    assert spread.anchor_rule == "min" and spread.anchor == D("1.0")


def test_to_dict_explains_every_bidder():
    s = select_winners(bids("1.00", "2.00"), NO_CAP)
    d = s.to_dict()
    assert d["anchor"] == "1.0000" and d["threshold"] == "1.8000" and d["cap"] == 2
    assert [(v["bidder"], v["won"], v["rule"]) for v in d["verdicts"]] == [
        ("E00", True, WON_MULTIPLIER), ("E01", False, LOST_THRESHOLD)]


def test_bad_bids_are_refused():
    with pytest.raises(ValueError):
        select_winners([], NO_CAP)
    with pytest.raises(ValueError):
        select_winners([Bid("E1", D("1")), Bid("E1", D("2"))], NO_CAP)
    with pytest.raises(ValueError):
        select_winners([Bid("E1", D("0"))], NO_CAP)


def test_rule_set_tables_are_validated_and_looked_up():
    r = DEFAULT_PROCUREMENT_RULES
    assert [r.agreed_ratio(n) for n in (0, 1, 2, 3, 4, 9)] == [
        D(0), D("0.5"), D("0.6"), D("0.7"), D("0.8"), D("0.8")]
    assert [r.retained_share(D(p), D("1.00")) for p in ("1.00", "1.10", "1.15", "1.30", "2")] \
        == [D("1"), D("1"), D("0.95"), D("0.9"), D("0.85")]
    with pytest.raises(ValidationError):
        ProcurementRuleParams(agreed_ratios=({"min_winners": 2, "ratio": "0.6"},))
    with pytest.raises(ValidationError):
        ProcurementRuleParams(retention_bands=({"max_ratio": "1.1", "retained": "1"},))
    with pytest.raises(ValidationError):
        ProcurementRuleParams(winner_multiplier="0")
    again = ProcurementRuleParams.model_validate(r.model_dump(mode="json"))
    assert again == r
