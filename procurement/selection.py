"""Winner selection (拟中选规则), pure and explained: every bidder's unit comparable price (ucp),
the anchor, the ratio to it and the rule that made it win or lose (DOMAIN §2).

Bids are ranked by ucp, then by ``order`` (the submission sequence: an equal price submitted
earlier ranks first), then by bidder code, so the result is reproducible.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Context, Decimal

from core.money import round_price
from procurement.rules import ProcurementRuleParams

_CTX = Context(prec=40)

WON_MULTIPLIER = "won_multiplier"      # ucp ≤ multiplier × anchor
WON_FLOOR = "won_floor"                # ucp ≤ the price floor
WON_ZERO_VOLUME = "won_zero_volume"    # below mean − n SD: wins with zero agreed volume
LOST_THRESHOLD = "lost_threshold"      # above multiplier × anchor and the floor
LOST_CAP = "lost_cap"                  # ranked beyond the entrant cap


@dataclass(frozen=True)
class Bid:
    bidder: str           # the enterprise code
    ucp: Decimal          # unit comparable price 单位可比价, yuan
    order: int = 0        # submission sequence, breaks equal prices


@dataclass(frozen=True)
class Verdict:
    bidder: str
    ucp: Decimal
    rank: int
    won: bool
    zero_volume: bool
    rule: str
    ratio_to_anchor: Decimal  # ucp ÷ anchor, 4 places


@dataclass(frozen=True)
class Selection:
    bidders: int
    anchor: Decimal
    anchor_rule: str          # "min" or "mean_sd" (which bound set it)
    mean: Decimal
    sd: Decimal
    threshold: Decimal        # multiplier × anchor
    cap: int
    verdicts: tuple[Verdict, ...]

    @property
    def winners(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.won]

    def to_dict(self) -> dict:
        def q(d: Decimal) -> str:
            return format(round_price(d), "f")
        return {"bidders": self.bidders, "anchor": q(self.anchor), "anchor_rule": self.anchor_rule,
                "mean": q(self.mean), "sd": q(self.sd), "threshold": q(self.threshold),
                "cap": self.cap,
                "verdicts": [{"bidder": v.bidder, "ucp": format(v.ucp, "f"), "rank": v.rank,
                              "won": v.won, "zero_volume": v.zero_volume, "rule": v.rule,
                              "ratio_to_anchor": format(v.ratio_to_anchor, "f")}
                             for v in self.verdicts]}


def _mean_sd(values: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """Mean and population standard deviation, exact to 40 digits."""
    n = Decimal(len(values))
    mean = _CTX.divide(sum(values, Decimal(0)), n)
    var = _CTX.divide(sum((_CTX.multiply(v - mean, v - mean) for v in values), Decimal(0)), n)
    return mean, var.sqrt(_CTX)


def select_winners(bids: Sequence[Bid], params: ProcurementRuleParams) -> Selection:
    """Select the proposed winners among the valid bids of one batch product."""
    if not bids:
        raise ValueError("no bids")
    if len({b.bidder for b in bids}) != len(bids):
        raise ValueError("one bid per bidder")
    if any(b.ucp <= 0 for b in bids):
        raise ValueError("a ucp must be positive")
    ranked = sorted(bids, key=lambda b: (b.ucp, b.order, b.bidder))
    ucps = [b.ucp for b in ranked]
    mean, sd = _mean_sd(ucps)
    lowest = ucps[0]
    anchor, anchor_rule = lowest, "min"
    if params.anchor == "mean_sd" and mean - sd > lowest:
        anchor, anchor_rule = mean - sd, "mean_sd"
    threshold = _CTX.multiply(params.winner_multiplier, anchor)
    cap = params.entrant_cap(len(ranked))
    zero_cut = None if params.zero_volume_sd is None else mean - _CTX.multiply(
        params.zero_volume_sd, sd)
    verdicts = []
    for rank, bid in enumerate(ranked, start=1):
        ratio = round_price(_CTX.divide(bid.ucp, anchor))
        zero = False
        if rank > cap:
            won, rule = False, LOST_CAP
        elif zero_cut is not None and bid.ucp < zero_cut:
            won, rule, zero = True, WON_ZERO_VOLUME, True
        elif bid.ucp <= threshold:
            won, rule = True, WON_MULTIPLIER
        elif bid.ucp <= params.price_floor:
            won, rule = True, WON_FLOOR
        else:
            won, rule = False, LOST_THRESHOLD
        verdicts.append(Verdict(bid.bidder, bid.ucp, rank, won, zero, rule, ratio))
    return Selection(len(ranked), anchor, anchor_rule, mean, sd, threshold, cap,
                     tuple(verdicts))
