"""Award (中选) operations: stored winner selection and its publicity, disqualification, supply
regions picked in ucp order with backups, and hospitals' ranked choices (DOMAIN §2).

Every function takes a ``Session`` and the acting ``Actor``, flushes and never commits.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, delete, func, select

from core import audit
from core.codes import region_name
from core.errors import Conflict, ErrorCollector, Forbidden, Invalid, NotFound
from core.labels import model_term, status_term
from core.models import Organisation, OrgKind, OrgStatus
from core.money import round_price
from core.permissions import Actor, require
from core.scoping import get_readable, readable_by
from core.services import Page, paginate
from core.states import Move, Workflow, check_version
from core.types import utcnow
from procurement import selection as sel
from procurement import services
from procurement.models import (
    PUBLIC_RESULT_STATUSES,
    AwardStage,
    Batch,
    BatchProduct,
    BatchStatus,
    Bid,
    BidStatus,
    Choice,
    RegionPick,
    Selection,
    SupplyRole,
    VolumeReport,
    Winner,
)
from procurement.permissions import BATCH_MANAGE, CHOICE_EDIT, REGION_PICK, REPORT_OVERVIEW

B = BatchStatus
A = AwardStage

#: Steps of a batch while it is ``allocating``: winners pick regions, hospitals choose and the
#: bureau runs the allocation, then the agreements go out for signing.
AWARD_FLOW = Workflow("vbp_award", AwardStage, [
    Move.of("close_regions", A.regions, A.choice, BATCH_MANAGE),
    Move.of("publish_allocation", A.choice, A.agreements, BATCH_MANAGE),
], status_attr="award_stage")

#: Batch statuses from which the award's steps are settled or under way.
_AWARDED = (B.allocating, B.executing, B.closed)
_STAGE_ORDER = [A.regions, A.choice, A.agreements]


# --- where a batch's award stands: the rules the pages, the API and the services share ------

def results_shown(batch: Batch, actor: Actor) -> bool:
    """Whether ``actor`` may read the batch's results now: the bureau from evaluation on,
    everyone from the proposed-winner publicity on."""
    return batch.status in PUBLIC_RESULT_STATUSES or (
        actor.is_bureau and batch.status == B.evaluating)


def stage_reached(batch: Batch, stage: AwardStage) -> bool:
    """Whether the award has reached ``stage`` (a batch that executes or is closed has passed
    every stage)."""
    if batch.status in (B.executing, B.closed):
        return True
    return batch.status == B.allocating and batch.award_stage is not None and \
        _STAGE_ORDER.index(batch.award_stage) >= _STAGE_ORDER.index(stage)


def at_stage(batch: Batch, stage: AwardStage) -> bool:
    """Whether the allocation is at exactly this step now."""
    return batch.status == B.allocating and batch.award_stage == stage


def choice_closed(batch: Batch, now: datetime | None = None) -> bool:
    """Whether the bureau's choice deadline has passed."""
    return batch.choice_deadline is not None and (now or utcnow()) > batch.choice_deadline


@dataclass(frozen=True)
class ResultsNotice:
    """Where the batch's results stand, for the results pages: whether the winners are still
    being selected (the bureau's step), in publicity until ``publicity_until``, or final."""

    selecting: bool
    in_publicity: bool
    publicity_until: date | None


def results_notice(batch: Batch) -> ResultsNotice:
    publicity = batch.status == B.publicizing
    return ResultsNotice(batch.status == B.evaluating, publicity,
                         batch.publicity_ends_on if publicity else None)


def award_actions(batch: Batch, actor: Actor, now: datetime | None = None) -> frozenset[str]:
    """What ``actor`` may do on the award pages of the batch now (the services check the same
    rules again): ``select`` and ``disqualify`` winners, ``pick`` and ``close`` regions,
    ``choose`` winners and set the ``choice_deadline``, ``start`` and ``publish`` allocation
    runs."""
    can = actor.can
    out = set()
    if can(BATCH_MANAGE) and batch.status == B.evaluating:
        out.add("select")
    if can(BATCH_MANAGE) and batch.status in (B.evaluating, B.publicizing):
        out.add("disqualify")
    if at_stage(batch, A.regions):
        out |= {a for a, p in (("pick", REGION_PICK), ("close", BATCH_MANAGE)) if can(p)}
    if can(CHOICE_EDIT) and actor.org_kind == OrgKind.hospital and at_stage(batch, A.choice) \
            and not choice_closed(batch, now):
        out.add("choose")
    if can(BATCH_MANAGE) and batch.status == B.allocating and \
            batch.award_stage in (A.regions, A.choice):
        out.add("choice_deadline")
    if can(BATCH_MANAGE) and at_stage(batch, A.choice):
        out |= {"start", "publish"}
    return frozenset(out)


# --- winner selection -------------------------------------------------------------------------

def _org_codes(session: Session, ids: set[int]) -> dict[int, Organisation]:
    if not ids:
        return {}
    return {o.id: o for o in session.exec(select(Organisation).where(
        Organisation.id.in_(ids)))}  # type: ignore[union-attr]


def _select_product(session: Session, actor: Actor, batch: Batch, bp: BatchProduct,
                    params) -> Selection:
    """(Re)compute one product's selection from its valid bids and store it with its winners."""
    bids = list(session.exec(select(Bid).where(Bid.batch_product_id == bp.id,
                                               Bid.status == BidStatus.submitted)
                             .order_by(Bid.sequence)))
    orgs = _org_codes(session, {b.org_id for b in bids})
    session.exec(delete(Winner).where(Winner.batch_product_id == bp.id))
    stored = session.exec(select(Selection).where(
        Selection.batch_product_id == bp.id)).first()
    if stored is None:
        stored = Selection(batch_id=batch.id, batch_product_id=bp.id, rule_version=0,
                           bidders=0, winners=0, agreed_ratio=0)
    stored.rule_version = batch.rule_version
    stored.computed_by, stored.computed_at = actor.user_id, utcnow()
    if not bids:
        # 流标: no valid bid, nobody wins this product.
        stored.bidders = stored.winners = 0
        stored.anchor = stored.threshold = None
        stored.agreed_ratio = 0
        stored.detail = {"bidders": 0, "verdicts": []}
    else:
        by_code = {orgs[b.org_id].code: b for b in bids}
        result = sel.select_winners(
            [sel.Bid(orgs[b.org_id].code, b.ucp, b.sequence) for b in bids], params)
        detail = result.to_dict()
        for v in detail["verdicts"]:
            bid = by_code[v["bidder"]]
            v.update(bid_id=bid.id, org_id=bid.org_id, org_name=orgs[bid.org_id].name,
                     package_price=format(bid.package_price, "f"))
        winners = result.winners
        stored.bidders, stored.winners = result.bidders, len(winners)
        stored.anchor, stored.threshold = round_price(result.anchor), \
            round_price(result.threshold)
        stored.agreed_ratio = params.agreed_ratio(len(winners))
        stored.detail = detail
        for v in winners:
            bid = by_code[v.bidder]
            session.add(Winner(batch_id=batch.id, batch_product_id=bp.id, bid_id=bid.id,
                               org_id=bid.org_id, product_id=bid.product_id, rank=v.rank,
                               ucp=bid.ucp, package_price=bid.package_price,
                               capacity=bid.capacity, zero_volume=v.zero_volume))
    session.add(stored)
    session.flush()
    return stored


def run_selection(session: Session, actor: Actor, batch_id: int, *,
                  now: datetime | None = None) -> list[Selection]:
    """Open the bids and select the proposed winners (拟中选) of every product of the batch by
    its rule-set version; running it again gives the same result."""
    require(actor, BATCH_MANAGE)
    batch = services.get_batch(session, actor, batch_id)
    if batch.status != B.evaluating:
        raise Conflict("winners of vbp_batch %(id)s are selected while evaluating",
                       params={"id": batch.id}, current_status=batch.status.value)
    if services.bids_sealed(batch, now):
        raise Conflict("the bids of vbp_batch %(id)s are sealed until bidding closes",
                       params={"id": batch.id}, current_status=batch.status.value)
    params = services.batch_rules(session, batch)
    out = [_select_product(session, actor, batch, bp, params)
           for bp in services.batch_products(session, actor, batch_id)]
    audit.record(session, actor, "vbp_batch.select", "vbp_batch", batch.id,
                 after={"rule_version": batch.rule_version,
                        "winners": {s.batch_product_id: s.winners for s in out}})
    return out


def disqualify_bid(session: Session, actor: Actor, bid_id: int, reason: str, *,
                   batch_id: int | None = None) -> Selection:
    """Exclude a bid (e.g. after a complaint upheld during publicity) and select that product's
    winners again without it. With ``batch_id``, a bid of another batch is not found."""
    require(actor, BATCH_MANAGE)
    bid = get_readable(session, Bid, bid_id, actor)
    if batch_id is not None and bid.batch_id != batch_id:
        raise NotFound("%(object)s %(id)s not found",
                       params={"object": model_term(Bid), "id": bid_id})
    reason = (reason or "").strip()
    if not reason:
        raise Invalid.one("reason", "Give the reason.")
    batch = services.get_batch(session, actor, bid.batch_id)
    if batch.status not in (B.evaluating, B.publicizing):
        raise Conflict("bids of vbp_batch %(id)s can be disqualified only while evaluating or "
                       "in publicity", params={"id": batch.id},
                       current_status=batch.status.value)
    if bid.status != BidStatus.submitted:
        raise Conflict("vbp_bid %(id)s is %(status)s", params={"id": bid.id,
                                                               "status": status_term("vbp_bid", bid.status)},
                       current_status=bid.status.value)
    bid.status_reason = reason
    services.BID_FLOW.transition(session, bid, "disqualify", actor, reason=reason)
    bp = session.get(BatchProduct, bid.batch_product_id)
    return _select_product(session, actor, batch, bp, services.batch_rules(session, batch))


def disqualified_bids(session: Session, actor: Actor, batch_id: int) -> dict[int, list[Bid]]:
    """The batch's disqualified bids with their reasons, by batch product (the bureau's: a
    company reads only its own bids)."""
    services.get_batch(session, actor, batch_id)
    out: dict[int, list[Bid]] = defaultdict(list)
    for b in session.exec(readable_by(Bid, actor).where(
            Bid.batch_id == batch_id, Bid.status == BidStatus.disqualified).order_by(Bid.id)):
        out[b.batch_product_id].append(b)
    return out


@dataclass(frozen=True)
class SelectionView:
    """What one party may read of a product's selection (拟中选结果): the one place that
    decides it, for the pages and the API alike.

    The bureau reads the whole explanation. Anyone else reads the counts, the cap, the agreed
    ratio, the winners' verdicts and their own bid's, and never a figure computed from the
    losing bids (a losing company's price is not published): the mean and SD are withheld, and
    so are the anchor, the threshold and every ratio to the anchor unless the anchor is a
    winner's own price (the lowest ucp, and that bid won). With the mean, or the mean − SD
    anchor, and the number of bids, one or two losers' prices would follow from the winners'.
    ``None`` marks a withheld figure. What a verdict's rule says (e.g. "above the threshold")
    stays: an inequality, not a price."""

    rule_version: int
    computed_at: datetime
    bidders: int
    winners: int
    agreed_ratio: Decimal
    cap: int | None
    anchor_rule: str | None
    anchor: Decimal | None
    threshold: Decimal | None
    mean: Decimal | None
    sd: Decimal | None
    verdicts: list[dict]
    complete: bool  # the bureau's complete explanation


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def selection_view(selection: Selection, actor: Actor) -> SelectionView:
    """``selection`` as ``actor`` may read it (see ``SelectionView``)."""
    detail = selection.detail or {}
    verdicts = [dict(v) for v in detail.get("verdicts", [])]
    complete = actor.is_bureau
    anchor_public = complete or (detail.get("anchor_rule") == "min" and any(
        v["rank"] == 1 and v["won"] for v in verdicts))
    if not complete:
        verdicts = [v for v in verdicts if v["won"] or v.get("org_id") == actor.org_id]
    if not anchor_public:
        for v in verdicts:
            v["ratio_to_anchor"] = None
    return SelectionView(
        rule_version=selection.rule_version, computed_at=selection.computed_at,
        bidders=selection.bidders, winners=selection.winners,
        agreed_ratio=selection.agreed_ratio, cap=detail.get("cap"),
        anchor_rule=detail.get("anchor_rule"),
        anchor=selection.anchor if anchor_public else None,
        threshold=selection.threshold if anchor_public else None,
        mean=_decimal(detail.get("mean")) if complete else None,
        sd=_decimal(detail.get("sd")) if complete else None,
        verdicts=verdicts, complete=complete)


@dataclass
class ProductResult:
    """One product's selection as the caller may read it (``SelectionView``; None: not
    selected yet) with its winners."""

    product: BatchProduct
    selection: SelectionView | None
    winners: list[Winner] = field(default_factory=list)

    @property
    def verdicts(self) -> list[dict]:
        return self.selection.verdicts if self.selection is not None else []


def public_batches(session: Session, actor: Actor, *, page: int = 1,
                   per_page: int = 20) -> Page:
    """The batches whose results are public (拟中选结果公示 and later), the newest first."""
    stmt = readable_by(Batch, actor).where(
        Batch.status.in_(PUBLIC_RESULT_STATUSES)).order_by(Batch.id.desc())  # type: ignore[attr-defined]
    return paginate(session, stmt, page, per_page)


def results(session: Session, actor: Actor, batch_id: int) -> list[ProductResult]:
    """The selection of every product: the bureau's from evaluation on, everyone's from the
    proposed-winner publicity on (拟中选结果公示), each as ``selection_view`` lets the caller
    read it."""
    batch = services.get_batch(session, actor, batch_id)
    if not results_shown(batch, actor):
        raise Conflict("the results of vbp_batch %(id)s are not public yet",
                       params={"id": batch.id}, current_status=batch.status.value)
    products = services.batch_products(session, actor, batch_id)
    selections = {s.batch_product_id: selection_view(s, actor) for s in session.exec(
        select(Selection).where(Selection.batch_id == batch_id))}
    winners: dict[int, list[Winner]] = defaultdict(list)
    for w in session.exec(select(Winner).where(Winner.batch_id == batch_id)
                          .order_by(Winner.batch_product_id, Winner.rank)):
        winners[w.batch_product_id].append(w)
    return [ProductResult(p, selections.get(p.id), winners.get(p.id, [])) for p in products]


# --- supply regions ---------------------------------------------------------------------------

def city_of(region_code: str) -> str:
    """The prefecture-level region (地市) a district or county code belongs to."""
    return region_code[:4] + "00"


def supply_regions(session: Session, batch_id: int) -> list[str]:
    """The regions winners supply: the cities of the hospitals that reported demand in the
    batch. Reports are fixed once reporting closes, so the regions (and the turns) cannot
    change under the winners while they pick."""
    codes = session.exec(select(Organisation.region_code).join(
        VolumeReport, VolumeReport.org_id == Organisation.id).where(
        VolumeReport.batch_id == batch_id, VolumeReport.demand > 0).distinct()).all()
    return sorted({city_of(c) for c in codes})


def _allocating(batch: Batch, stage: AwardStage) -> None:
    if not at_stage(batch, stage):
        raise Conflict("vbp_batch %(id)s is not at this step of the allocation",
                       params={"id": batch.id}, current_status=batch.status.value,
                       award_stage=batch.award_stage.value if batch.award_stage else None)


def region_summary(session: Session, cities: list[str]) -> dict[str, dict[str, Any]]:
    """Per city code (地市): its GB/T 2260 name and how many active hospitals it has (an
    aggregate: no organisation is named)."""
    wanted = set(cities)
    count: dict[str, int] = defaultdict(int)
    for region, n in session.exec(select(Organisation.region_code, func.count()).where(
            Organisation.kind == OrgKind.hospital, Organisation.status == OrgStatus.active)
            .group_by(Organisation.region_code)):
        if city_of(region) in wanted:
            count[city_of(region)] += n
    return {city: {"name": region_name(city), "hospitals": count.get(city, 0)}
            for city in cities}


def _volume_winners(session: Session, batch_product_id: int) -> list[Winner]:
    """Winners that receive volume (zero-volume winners pick no region), by rank."""
    return list(session.exec(select(Winner).where(Winner.batch_product_id == batch_product_id,
                                                  Winner.zero_volume.is_(False))  # type: ignore[attr-defined]
                             .order_by(Winner.rank)))


@dataclass
class RegionBoard:
    """The state of one product's region picking (供应地区选择)."""

    product: BatchProduct
    regions: list[str]
    winners: list[Winner]
    picks: list[RegionPick]
    turn: Winner | None  # whose turn it is; None when picking is over

    def suppliers(self, region: str, role: SupplyRole = SupplyRole.primary) -> list[int]:
        return [p.winner_id for p in self.picks if p.region_code == region and p.role == role]

    def regions_of(self, winner_id: int) -> list[str]:
        return [p.region_code for p in self.picks
                if p.winner_id == winner_id and p.role == SupplyRole.primary]


def _turn(winners: list[Winner], picks: list[RegionPick], regions: list[str]) -> Winner | None:
    """Winners pick in ucp order, one region per turn: the next is the active winner with the
    fewest picks, the lowest ucp first. A winner that passed, or serves every region, is out."""
    held: dict[int, int] = defaultdict(int)
    for p in picks:
        if p.role == SupplyRole.primary:
            held[p.winner_id] += 1
    active = [w for w in winners if w.regions_done_at is None and held[w.id] < len(regions)]
    if not active:
        return None
    return min(active, key=lambda w: (held[w.id], w.rank))


def region_board(session: Session, actor: Actor, batch_product_id: int) -> RegionBoard:
    batch, bp = services._batch_product(session, actor, batch_product_id)
    if batch.status not in _AWARDED:
        raise Conflict("supply regions of vbp_batch %(id)s are picked once results are final",
                       params={"id": batch.id}, current_status=batch.status.value)
    return _board(session, batch, bp, supply_regions(session, batch.id))


def region_boards(session: Session, actor: Actor, batch_id: int) -> list[RegionBoard]:
    """The board of every product of the batch (the regions are read once)."""
    batch = services.get_batch(session, actor, batch_id)
    if batch.status not in _AWARDED:
        raise Conflict("supply regions of vbp_batch %(id)s are picked once results are final",
                       params={"id": batch.id}, current_status=batch.status.value)
    regions = supply_regions(session, batch.id)
    return [_board(session, batch, bp, regions)
            for bp in services.batch_products(session, actor, batch_id)]


def _board(session: Session, batch: Batch, bp: BatchProduct, regions: list[str]) -> RegionBoard:
    winners = _volume_winners(session, bp.id)
    picks = list(session.exec(select(RegionPick).where(RegionPick.batch_product_id == bp.id)
                              .order_by(RegionPick.turn)))
    turn = _turn(winners, picks, regions) if batch.award_stage == A.regions else None
    return RegionBoard(bp, regions, winners, picks, turn)


def _own_winner(board: RegionBoard, actor: Actor) -> Winner:
    for w in board.winners:
        if w.org_id == actor.org_id:
            return w
    raise Forbidden("your company is not a winner of this product")


def pick_region(session: Session, actor: Actor, batch_product_id: int,
                region_code: str) -> RegionPick:
    """The winner whose turn it is picks one more region to supply."""
    require(actor, REGION_PICK)
    batch, _ = services._batch_product(session, actor, batch_product_id)
    _allocating(batch, A.regions)
    board = region_board(session, actor, batch_product_id)
    winner = _own_winner(board, actor)
    if board.turn is None or board.turn.id != winner.id:
        if board.turn is None:
            raise Conflict("the picking of regions for this product is over",
                           current_status=batch.status.value)
        turn = session.get(Organisation, board.turn.org_id)
        raise Conflict("it is %(name)s's turn to pick a region",
                       params={"name": turn.name if turn else "?"},
                       current_status=batch.status.value, turn=board.turn.org_id)
    if region_code not in board.regions:
        raise Invalid.one("region_code", "Choose a region of the province.")
    if region_code in board.regions_of(winner.id):
        raise Invalid.one("region_code", "Your company already supplies this region.")
    pick = RegionPick(batch_id=batch.id, batch_product_id=batch_product_id,
                      winner_id=winner.id, org_id=winner.org_id, region_code=region_code,
                      turn=len(board.picks) + 1, created_by=actor.user_id)
    session.add(pick)
    session.flush()
    audit.record(session, actor, "vbp_region.pick", "vbp_region_pick", pick.id,
                 after={"batch_product_id": batch_product_id, "region_code": region_code},
                 org_id=actor.org_id)
    return pick


def finish_regions(session: Session, actor: Actor, batch_product_id: int) -> Winner:
    """The winner picks no more regions for this product (it may pass at its turn or any
    time after its first pick)."""
    require(actor, REGION_PICK)
    batch, _ = services._batch_product(session, actor, batch_product_id)
    _allocating(batch, A.regions)
    board = region_board(session, actor, batch_product_id)
    winner = _own_winner(board, actor)
    if winner.regions_done_at is not None:
        raise Conflict("your company has already finished picking regions",
                       current_status=batch.status.value)
    winner.regions_done_at = utcnow()
    session.add(winner)
    session.flush()
    audit.record(session, actor, "vbp_region.finish", "vbp_winner", winner.id,
                 after={"regions": board.regions_of(winner.id)}, org_id=actor.org_id)
    return winner


def region_volumes(session: Session, bp: BatchProduct) -> dict[str, int]:
    """Reported demand per city of one product (the agreed volume is a fixed share of it)."""
    rows = session.exec(select(Organisation.region_code, VolumeReport.demand).join(
        VolumeReport, VolumeReport.org_id == Organisation.id).where(
        VolumeReport.batch_product_id == bp.id)).all()
    out: dict[str, int] = defaultdict(int)
    for region, demand in rows:
        out[city_of(region)] += demand
    return dict(out)


def _assign_unpicked(session: Session, bp: BatchProduct,
                     board: RegionBoard) -> list[tuple[str, Winner]]:
    """Who supplies the regions nobody picked. The largest region first; it goes to a winner
    whose spare capacity covers its agreed volume — winners still picking when the bureau
    closed before those that declined, then in ucp order, one region each in turn — and only
    when none can, to the winner with the most spare capacity. A picked region's volume counts
    against its suppliers in equal shares. So an unlimited or large winner is not passed over
    for one that could never deliver (the allocation would be infeasible)."""
    sel = session.exec(select(Selection).where(Selection.batch_product_id == bp.id)).first()
    ratio = sel.agreed_ratio if sel is not None else Decimal(1)
    volume = {r: int(v * ratio) for r, v in region_volumes(session, bp).items()}
    load: dict[int, Decimal] = defaultdict(Decimal)
    for region in board.regions:
        suppliers = board.suppliers(region)
        for w in suppliers:
            load[w] += Decimal(volume.get(region, 0)) / len(suppliers)
    order = sorted(board.winners, key=lambda w: (w.regions_done_at is not None, w.rank))
    assigned: dict[int, int] = defaultdict(int)

    def spare(w: Winner) -> Decimal:
        return Decimal("Infinity") if w.capacity is None else w.capacity - load[w.id]

    out = []
    uncovered = [r for r in board.regions if not board.suppliers(r)]
    for region in sorted(uncovered, key=lambda r: (-volume.get(r, 0), r)):
        need = volume.get(region, 0)
        fitting = [w for w in order if spare(w) >= need]
        if fitting:
            w = min(fitting, key=lambda w: (assigned[w.id], order.index(w)))
        else:
            w = max(order, key=lambda w: (spare(w), -order.index(w)))
        load[w.id] += need
        assigned[w.id] += 1
        out.append((region, w))
    return out


def close_regions(session: Session, actor: Actor, batch_id: int, *,
                  expected_version: int | None = None) -> Batch:
    """End the picking: each region nobody picked is assigned to a winner with the spare
    capacity to supply it (see ``_assign_unpicked``), and every region gets as backup
    supplier (备供企业) the lowest-ucp winner not already supplying it. Then hospitals
    choose."""
    require(actor, BATCH_MANAGE)
    batch = services.get_batch(session, actor, batch_id)
    _allocating(batch, A.regions)
    check_version("vbp_batch", batch, expected_version)
    for board in region_boards(session, actor, batch_id):
        bp = board.product
        if not board.winners:
            continue
        turn = len(board.picks)
        for region, w in _assign_unpicked(session, bp, board):
            turn += 1
            pick = RegionPick(batch_id=batch.id, batch_product_id=bp.id, winner_id=w.id,
                              org_id=w.org_id, region_code=region, assigned=True, turn=turn,
                              created_by=actor.user_id)
            session.add(pick)
            board.picks.append(pick)
        for region in board.regions:
            primary = set(board.suppliers(region))
            backup = next((w for w in board.winners if w.id not in primary), None)
            if backup is not None:
                turn += 1
                session.add(RegionPick(batch_id=batch.id, batch_product_id=bp.id,
                                       winner_id=backup.id, org_id=backup.org_id,
                                       region_code=region, role=SupplyRole.backup,
                                       assigned=True, turn=turn, created_by=actor.user_id))
    session.flush()
    return AWARD_FLOW.transition(session, batch, "close_regions", actor)


def serving(session: Session, batch_id: int) -> dict[tuple[int, str], list[int]]:
    """Primary suppliers by (batch product, city): winner ids in rank order."""
    rows = session.exec(select(RegionPick.batch_product_id, RegionPick.region_code,
                               RegionPick.winner_id, Winner.rank)
                        .join(Winner, Winner.id == RegionPick.winner_id)
                        .where(RegionPick.batch_id == batch_id,
                               RegionPick.role == SupplyRole.primary)
                        .order_by(Winner.rank)).all()
    out: dict[tuple[int, str], list[int]] = defaultdict(list)
    for bp_id, region, winner_id, _rank in rows:
        out[(bp_id, region)].append(winner_id)
    return out


# --- hospital choice --------------------------------------------------------------------------

@dataclass
class ChoiceOptions:
    """One product's winners serving the hospital's city, and the hospital's ranks (None:
    the default — every winner serving its city, all equally acceptable)."""

    product: BatchProduct
    winners: list[Winner]
    ranks: dict[int, int] | None


def hospital_of(session: Session, actor: Actor) -> Organisation:
    """The actor's own medical institution (医疗机构); anyone else may not choose."""
    org = session.get(Organisation, actor.org_id) if actor.org_id else None
    if org is None or org.kind != OrgKind.hospital:
        raise Forbidden("only medical institutions choose winners")
    return org


def _choosing(batch: Batch, *, supply_settled: bool = True) -> None:
    """Hospitals choose once the supply regions are settled; the bureau follows the choice
    from the region step on (``supply_settled=False``)."""
    if not stage_reached(batch, A.choice if supply_settled else A.regions):
        raise Conflict("hospitals choose once the supply regions of vbp_batch %(id)s are "
                       "settled", params={"id": batch.id}, current_status=batch.status.value)


def choice_options(session: Session, actor: Actor, batch_id: int) -> list[ChoiceOptions]:
    batch = services.get_batch(session, actor, batch_id)
    _choosing(batch)
    org = hospital_of(session, actor)
    city = city_of(org.region_code)
    serve = serving(session, batch_id)
    winners = {w.id: w for w in session.exec(select(Winner).where(Winner.batch_id == batch_id))}
    ranks: dict[int, dict[int, int]] = defaultdict(dict)
    for c in session.exec(select(Choice).where(Choice.batch_id == batch_id,
                                               Choice.org_id == org.id)):
        ranks[c.batch_product_id][c.winner_id] = c.rank
    return [ChoiceOptions(bp, [winners[i] for i in serve.get((bp.id, city), [])],
                          ranks.get(bp.id))
            for bp in services.batch_products(session, actor, batch_id)]


def set_choice_deadline(session: Session, actor: Actor, batch_id: int,
                        deadline: datetime | None) -> Batch:
    """The bureau sets (or clears) the time until which hospitals may change their ranking."""
    require(actor, BATCH_MANAGE)
    batch = services.get_batch(session, actor, batch_id)
    if batch.status != B.allocating or batch.award_stage not in (A.regions, A.choice):
        raise Conflict("the choice deadline of vbp_batch %(id)s can no longer change",
                       params={"id": batch.id}, current_status=batch.status.value)
    if deadline is not None and deadline.tzinfo is None:
        raise Invalid.one("choice_deadline", "Give the time with its time zone.")
    batch.choice_deadline, batch.updated_at = deadline, utcnow()
    session.add(batch)
    session.flush()
    audit.record(session, actor, "vbp_batch.choice_deadline", "vbp_batch", batch.id,
                 after={"choice_deadline": deadline.isoformat() if deadline else None})
    return batch


def set_choices(session: Session, actor: Actor, batch_product_id: int,
                ranks: dict[int, int], *, now: datetime | None = None) -> list[Choice]:
    """Rank the acceptable winners of one product (1 = first choice); winners left out are
    not accepted. An empty ranking goes back to the default."""
    require(actor, CHOICE_EDIT)
    org = hospital_of(session, actor)
    batch, bp = services._batch_product(session, actor, batch_product_id)
    _allocating(batch, A.choice)
    if choice_closed(batch, now):
        raise Conflict("the choice deadline of vbp_batch %(id)s has passed",
                       params={"id": batch.id}, current_status=batch.status.value)
    allowed = set(serving(session, batch.id).get((bp.id, city_of(org.region_code)), []))
    errors = ErrorCollector()
    for winner_id, rank in ranks.items():
        if winner_id not in allowed:
            errors.add(f"rank_{winner_id}", "This winner does not supply your region.")
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
            errors.add(f"rank_{winner_id}", "A rank is a whole number from 1.")
    errors.raise_if_any()
    session.exec(delete(Choice).where(Choice.batch_product_id == bp.id,
                                      Choice.org_id == org.id))
    rows = [Choice(batch_id=batch.id, batch_product_id=bp.id, org_id=org.id, winner_id=w,
                   rank=r, created_by=actor.user_id) for w, r in sorted(ranks.items())]
    session.add_all(rows)
    session.flush()
    audit.record(session, actor, "vbp_choice.set", "vbp_batch_product", bp.id,
                 after={"ranks": {str(w): r for w, r in sorted(ranks.items())}},
                 org_id=org.id)
    return rows


def choice_counts(session: Session, actor: Actor, batch_id: int) -> dict[int, int]:
    """Bureau view: how many hospitals set their own ranking, per product."""
    require(actor, REPORT_OVERVIEW)
    _choosing(services.get_batch(session, actor, batch_id), supply_settled=False)
    rows = session.exec(select(Choice.batch_product_id,
                               func.count(sa.distinct(Choice.org_id)))
                        .where(Choice.batch_id == batch_id)
                        .group_by(Choice.batch_product_id)).all()
    return {bp_id: n for bp_id, n in rows}


def get_winner(session: Session, actor: Actor, winner_id: int) -> Winner:
    w = session.get(Winner, winner_id)
    if w is None:
        raise NotFound("%(object)s %(id)s not found", params={"object": model_term(Winner),
                                                              "id": winner_id})
    services.get_batch(session, actor, w.batch_id)
    return w
