"""Stored winner selection, publicity, disqualification, supply regions and hospital choice."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import select

from core import rules
from core.errors import Conflict, Forbidden, Invalid
from core.models import AuditLog
from procurement import services
from procurement import services_award as award
from procurement.models import AwardStage, BatchStatus, BidStatus, RegionPick
from procurement.rules import ProcurementRuleParams
from tests.procurement.factories import (
    AFTER,
    CLOSES,
    batch_in_bidding,
    bid,
    cast,
    report,
    to_allocating,
    to_evaluating,
)

D = Decimal


@pytest.fixture
def five(session):
    """Five bidders at ucp 0.50, 0.80, 0.85, 1.00, 1.20: the cap is min(10, 5 − 3) = 2."""
    c = cast(session, companies=5)
    batch, (bp,) = batch_in_bidding(session, c)
    report(session, c, bp, [1000, 500])
    services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    bids = [bid(session, party, bp, price)
            for party, price in zip(c.companies, ["0.50", "0.80", "0.85", "1.00", "1.20"],
                                    strict=True)]
    services.move_batch(session, c.manager, batch.id, "close_bidding", now=CLOSES)
    return c, batch, bp, bids


def test_selection_is_stored_with_its_explanation(session, five):
    c, batch, bp, bids = five
    (sel,) = award.run_selection(session, c.manager, batch.id, now=AFTER)
    assert (sel.bidders, sel.winners, sel.rule_version) == (5, 2, batch.rule_version)
    assert sel.anchor == D("0.5000") and sel.threshold == D("0.9000")
    assert sel.agreed_ratio == D("0.6")  # two winners → 60 %
    rules = [(v["rank"], v["ucp"], v["won"], v["rule"], v["ratio_to_anchor"], v["bid_id"])
             for v in sel.detail["verdicts"]]
    assert rules == [
        (1, "0.5000", True, "won_multiplier", "1.0000", bids[0].id),
        (2, "0.8000", True, "won_multiplier", "1.6000", bids[1].id),
        (3, "0.8500", False, "lost_cap", "1.7000", bids[2].id),
        (4, "1.0000", False, "lost_cap", "2.0000", bids[3].id),
        (5, "1.2000", False, "lost_cap", "2.4000", bids[4].id),
    ]
    (result,) = award.results(session, c.manager, batch.id)
    assert [(w.rank, w.org_id, w.ucp) for w in result.winners] == [
        (1, c.companies[0].org.id, D("0.5000")), (2, c.companies[1].org.id, D("0.8000"))]
    # Running it again changes nothing.
    award.run_selection(session, c.manager, batch.id, now=AFTER)
    (again,) = award.results(session, c.manager, batch.id)
    assert [w.bid_id for w in again.winners] == [bids[0].id, bids[1].id]
    assert session.exec(select(AuditLog).where(AuditLog.action == "vbp_batch.select")).all()


def test_results_are_public_only_from_the_publicity(session, five):
    c, batch, _, _ = five
    with pytest.raises(Conflict):  # nothing selected yet
        services.move_batch(session, c.manager, batch.id, "publicize")
    award.run_selection(session, c.manager, batch.id, now=AFTER)
    for party in (c.hospitals[0], c.companies[2]):
        with pytest.raises(Conflict):
            award.results(session, party.op, batch.id)
    with pytest.raises(Forbidden):
        award.run_selection(session, c.viewer, batch.id, now=AFTER)
    services.move_batch(session, c.manager, batch.id, "publicize")
    (result,) = award.results(session, c.companies[2].op, batch.id)
    assert len(result.winners) == 2
    with pytest.raises(Conflict):  # selection is over once the publicity starts
        award.run_selection(session, c.manager, batch.id, now=AFTER)


def test_selection_waits_for_the_bids_to_open(session):
    c = cast(session)
    batch, (bp,) = batch_in_bidding(session, c)
    services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    with pytest.raises(Conflict):  # still bidding
        award.run_selection(session, c.manager, batch.id, now=AFTER)


def test_disqualifying_a_winner_during_publicity_selects_again(session, five):
    c, batch, bp, bids = five
    award.run_selection(session, c.manager, batch.id, now=AFTER)
    services.move_batch(session, c.manager, batch.id, "publicize")
    with pytest.raises(Invalid):
        award.disqualify_bid(session, c.manager, bids[0].id, "  ")
    sel = award.disqualify_bid(session, c.manager, bids[0].id, "提供虚假材料")
    # Four bidders left: cap = min(10, 4 − 3) = 1; anchor 0.80, the next lowest wins alone.
    assert (sel.bidders, sel.winners, sel.anchor) == (4, 1, D("0.8000"))
    (result,) = award.results(session, c.manager, batch.id)
    assert [w.bid_id for w in result.winners] == [bids[1].id]
    assert session.get(type(bids[0]), bids[0].id).status == BidStatus.disqualified
    with pytest.raises(Conflict):
        award.disqualify_bid(session, c.manager, bids[0].id, "again")


def test_a_product_without_bids_has_no_winner(session):
    c = cast(session)
    batch, (bp,) = batch_in_bidding(session, c)
    to_evaluating(session, c, batch)
    (sel,) = award.run_selection(session, c.manager, batch.id, now=AFTER)
    assert (sel.bidders, sel.winners, sel.agreed_ratio) == (0, 0, 0)


# --- supply regions ---------------------------------------------------------------------------

def publish_rules(session, c, **params):
    """A new version of the procurement rule set; batches created after it bind to it."""
    current = rules.current(session, services.RULE_SET)
    return rules.publish(session, c.manager, services.RULE_SET,
                         ProcurementRuleParams(**(current.params.model_dump() | params)))


@pytest.fixture
def regions(session):
    """Two winners (ucp 0.50 and 0.80) and hospitals in three cities. With two bidders the
    default cap min(10, N − 3) would leave only min_winners = 1; this rule version has k = 0."""
    c = cast(session, cities=("330106", "330203", "330302"), companies=2)
    version = publish_rules(session, c, entrant_cap_k=0).version
    batch, (bp,) = batch_in_bidding(session, c)
    assert batch.rule_version == version
    report(session, c, bp, [1000, 500, 300])
    services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    bid(session, c.companies[0], bp, "0.50")
    bid(session, c.companies[1], bp, "0.80")
    to_allocating(session, c, batch)
    return c, batch, bp


def test_winners_pick_regions_in_ucp_order(session, regions):
    c, batch, bp = regions
    w1, w2 = c.companies
    assert batch.award_stage == AwardStage.regions
    board = award.region_board(session, w1.op, bp.id)
    assert board.regions == ["330100", "330200", "330300"]
    assert board.turn.org_id == w1.org.id
    with pytest.raises(Conflict):  # not its turn
        award.pick_region(session, w2.op, bp.id, "330200")
    with pytest.raises(Invalid):
        award.pick_region(session, w1.op, bp.id, "320100")
    award.pick_region(session, w1.op, bp.id, "330100")
    with pytest.raises(Conflict):
        award.pick_region(session, w1.op, bp.id, "330200")
    award.pick_region(session, w2.op, bp.id, "330100")  # several winners may share a region
    award.pick_region(session, w1.op, bp.id, "330200")
    award.finish_regions(session, w2.op, bp.id)
    with pytest.raises(Conflict):
        award.finish_regions(session, w2.op, bp.id)
    board = award.region_board(session, w1.op, bp.id)
    assert board.turn.org_id == w1.org.id  # w2 finished: w1 goes on alone
    award.finish_regions(session, w1.op, bp.id)
    assert award.region_board(session, w1.op, bp.id).turn is None
    with pytest.raises(Forbidden):
        award.pick_region(session, c.hospitals[0].op, bp.id, "330300")

    award.close_regions(session, c.manager, batch.id)
    assert batch.award_stage == AwardStage.choice
    picks = session.exec(select(RegionPick).where(RegionPick.batch_product_id == bp.id)
                         .order_by(RegionPick.turn)).all()
    got = sorted((p.region_code, p.role.value, p.assigned, p.org_id) for p in picks)
    # 330300 was picked by nobody: assigned to the lowest ucp; each region's backup is the
    # lowest-ucp winner not already supplying it (330100 has both, so none).
    assert got == sorted([
        ("330100", "primary", False, w1.org.id), ("330100", "primary", False, w2.org.id),
        ("330200", "primary", False, w1.org.id), ("330300", "primary", True, w1.org.id),
        ("330200", "backup", True, w2.org.id), ("330300", "backup", True, w2.org.id)])
    with pytest.raises(Conflict):
        award.pick_region(session, w2.op, bp.id, "330300")


def test_hospitals_choose_among_the_winners_serving_their_city(session, regions):
    c, batch, bp = regions
    w1, w2 = c.companies
    award.pick_region(session, w1.op, bp.id, "330100")
    award.pick_region(session, w2.op, bp.id, "330200")
    award.pick_region(session, w1.op, bp.id, "330200")
    award.finish_regions(session, w2.op, bp.id)
    award.finish_regions(session, w1.op, bp.id)
    h1, h2, h3 = c.hospitals
    with pytest.raises(Conflict):  # regions are still open
        award.set_choices(session, h2.op, bp.id, {1: 1})
    award.close_regions(session, c.manager, batch.id)
    (opt,) = award.choice_options(session, h2.op, batch.id)
    assert [w.org_id for w in opt.winners] == [w1.org.id, w2.org.id] and opt.ranks is None
    ids = {w.org_id: w.id for w in opt.winners}
    (opt1,) = award.choice_options(session, h1.op, batch.id)
    assert [w.org_id for w in opt1.winners] == [w1.org.id]
    with pytest.raises(Invalid) as exc:  # w2 does not serve h1's city
        award.set_choices(session, h1.op, bp.id, {ids[w2.org.id]: 1})
    assert exc.value.errors[0].field == f"rank_{ids[w2.org.id]}"
    with pytest.raises(Invalid):
        award.set_choices(session, h2.op, bp.id, {ids[w1.org.id]: 0})
    with pytest.raises(Forbidden):
        award.set_choices(session, w1.op, bp.id, {ids[w1.org.id]: 1})
    award.set_choices(session, h2.op, bp.id, {ids[w2.org.id]: 1, ids[w1.org.id]: 2})
    (opt,) = award.choice_options(session, h2.op, batch.id)
    assert opt.ranks == {ids[w2.org.id]: 1, ids[w1.org.id]: 2}
    assert award.choice_counts(session, c.manager, batch.id) == {bp.id: 1}
    award.set_choices(session, h2.op, bp.id, {})  # back to the default
    assert award.choice_options(session, h2.op, batch.id)[0].ranks is None


def test_the_batch_reaches_allocating_only_with_final_results(session, regions):
    c, batch, _ = regions
    assert batch.status == BatchStatus.allocating
    with pytest.raises(Conflict):  # the agreements are not out yet
        services.move_batch(session, c.manager, batch.id, "execute")


def test_unpicked_regions_go_to_a_winner_that_can_supply_them(session):
    """W1 (ucp 0.50) can supply 250 units a year and picks 330300 (180 agreed);
    nobody picks 330100 (600 agreed) or 330200 (300). Turn order alone would give 330100 to
    W1, which could never deliver it: both go to W2, whose capacity is unlimited."""
    c = cast(session, cities=("330106", "330203", "330302"), companies=2)
    publish_rules(session, c, entrant_cap_k=0)
    batch, (bp,) = batch_in_bidding(session, c)
    report(session, c, bp, [1000, 500, 300])  # agreed at 60 %: 600, 300, 180
    services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    bid(session, c.companies[0], bp, "0.50", capacity=250)
    bid(session, c.companies[1], bp, "0.80")
    to_allocating(session, c, batch)
    w1, w2 = c.companies
    assert award.region_volumes(session, bp) == {"330100": 1000, "330200": 500, "330300": 300}
    award.pick_region(session, w1.op, bp.id, "330300")
    award.finish_regions(session, w2.op, bp.id)
    award.finish_regions(session, w1.op, bp.id)
    award.close_regions(session, c.manager, batch.id)
    primary = sorted((p.region_code, p.org_id, p.assigned) for p in session.exec(
        select(RegionPick).where(RegionPick.batch_product_id == bp.id,
                                 RegionPick.role == "primary")))
    assert primary == [("330100", w2.org.id, True), ("330200", w2.org.id, True),
                       ("330300", w1.org.id, False)]
