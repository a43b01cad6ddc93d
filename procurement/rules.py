"""The procurement rule set (集采规则集): every number of DOMAIN §2 as versioned configuration.

A batch is bound to one version; selections, allocations and agreements stamp it.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_Share = Annotated[Decimal, Field(gt=0, le=1)]
_Positive = Annotated[Decimal, Field(gt=0)]


class RatioStep(BaseModel):
    """Agreed-volume ratio (约定采购量比例) for batches with at least ``min_winners`` winners."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_winners: int = Field(ge=1)
    ratio: _Share


class BandStep(BaseModel):
    """Price-band retention: a hospital keeps ``retained`` of its volume for its chosen winner
    when that winner's price is at most ``max_ratio`` × the lowest winning price (None: any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_ratio: Annotated[Decimal, Field(ge=1)] | None
    retained: _Share


class ProcurementRuleParams(BaseModel):
    """Parameters of a VBP batch; defaults are the values seen in public national notices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- agreed volume 约定采购量 -------------------------------------------------------------
    agreed_ratios: tuple[RatioStep, ...] = (
        RatioStep(min_winners=1, ratio=Decimal("0.5")),
        RatioStep(min_winners=2, ratio=Decimal("0.6")),
        RatioStep(min_winners=3, ratio=Decimal("0.7")),
        RatioStep(min_winners=4, ratio=Decimal("0.8")),
    )
    #: A report below this share of the hospital's average usage needs an explanation.
    report_min_share: _Share = Decimal("0.8")

    # --- winner selection 中选规则 -------------------------------------------------------------
    #: "min": anchor = lowest ucp; "mean_sd": anchor = max(lowest ucp, mean − 1 SD).
    anchor: Literal["min", "mean_sd"] = "min"
    winner_multiplier: _Positive = Decimal("1.8")
    #: A ucp at or below this (yuan) wins whatever the anchor.
    price_floor: Annotated[Decimal, Field(ge=0)] = Decimal("0.10")
    entrant_cap_max: int = Field(default=10, ge=1)
    #: Entrant cap = min(entrant_cap_max, N − entrant_cap_k), but at least ``min_winners``.
    entrant_cap_k: int = Field(default=3, ge=0)
    min_winners: int = Field(default=1, ge=0)
    #: Newer batches: bids below mean − this many SD win with zero agreed volume (None: off).
    zero_volume_sd: _Positive | None = None
    #: Proposed-winner publicity (拟中选结果公示) in working days; the results become final
    #: only after it (0: the bureau ends it when it decides).
    result_publicity_working_days: int = Field(default=3, ge=0, le=30)

    # --- allocation 量分配 -------------------------------------------------------------------
    retention_bands: tuple[BandStep, ...] = (
        BandStep(max_ratio=Decimal("1.1"), retained=Decimal("1")),
        BandStep(max_ratio=Decimal("1.2"), retained=Decimal("0.95")),
        BandStep(max_ratio=Decimal("1.3"), retained=Decimal("0.9")),
        BandStep(max_ratio=None, retained=Decimal("0.85")),
    )
    #: Share of the released pool that must go to the lowest-price winners.
    pool_lowest_share: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.3")
    #: How rule percentages become whole units.
    rounding: Literal["ceil", "half_up"] = "ceil"
    #: Purchase cycle (采购周期) in years; agreements are signed yearly.
    cycle_years: int = Field(default=2, ge=1, le=3)

    @model_validator(mode="after")
    def _tables(self) -> ProcurementRuleParams:
        steps = [s.min_winners for s in self.agreed_ratios]
        if not steps or steps[0] != 1 or steps != sorted(set(steps)):
            raise ValueError("agreed_ratios must start at 1 winner and rise strictly")
        bands = self.retention_bands
        if not bands or bands[-1].max_ratio is not None:
            raise ValueError("retention_bands must end with a band without max_ratio")
        bounded = [b.max_ratio for b in bands[:-1]]
        if None in bounded or bounded != sorted(set(bounded)):  # type: ignore[type-var]
            raise ValueError("retention_bands must rise strictly before the last band")
        return self

    def agreed_ratio(self, winners: int) -> Decimal:
        """The agreed-volume ratio for a product with ``winners`` winners (0 for none)."""
        ratio = Decimal(0)
        for step in self.agreed_ratios:
            if winners >= step.min_winners:
                ratio = step.ratio
        return ratio

    def entrant_cap(self, bidders: int) -> int:
        """How many bidders may win at most: min(cap, N − k), at least ``min_winners``."""
        cap = min(self.entrant_cap_max, bidders - self.entrant_cap_k)
        return max(0, min(bidders, max(cap, self.min_winners)))

    def retained_share(self, price: Decimal, lowest: Decimal) -> Decimal:
        for band in self.retention_bands:
            if band.max_ratio is None or price <= band.max_ratio * lowest:
                return band.retained
        raise AssertionError("the last band has no bound")


DEFAULT_PROCUREMENT_RULES = ProcurementRuleParams()
