"""Transition tables of the batch lifecycle and its award steps, written out by hand: every
status × action pair either moves (or is refused by a business check) or is an illegal
transition — a 409 that changes nothing."""
from __future__ import annotations

import pytest
from sqlmodel import select

from core.errors import DomainError
from core.models import AuditLog
from core.states import IllegalTransition
from procurement import services
from procurement import services_award as award
from procurement.models import AwardStage, BatchStatus
from tests.procurement.factories import AFTER, batch_in_bidding, cast

B = BatchStatus
LIFECYCLE = {  # action → (sources, target), as DOMAIN §2 lists them
    "open_reporting": ({B.draft}, B.reporting),
    "open_bidding": ({B.reporting}, B.bidding),
    "close_bidding": ({B.bidding}, B.evaluating),
    "publicize": ({B.evaluating}, B.publicizing),
    "start_allocation": ({B.publicizing}, B.allocating),
    "execute": ({B.allocating}, B.executing),
    "close": ({B.executing}, B.closed),
    "cancel": ({B.draft, B.reporting, B.bidding, B.evaluating, B.publicizing}, B.cancelled),
}


def test_the_table_is_the_workflow():
    merged: dict[str, tuple[set, object]] = {}
    for m in services.BATCH_FLOW.moves:
        sources, _ = merged.get(m.action, (set(), None))
        merged[m.action] = (sources | set(m.sources), m.target)
    assert merged == LIFECYCLE


@pytest.mark.parametrize("status", list(BatchStatus))
@pytest.mark.parametrize("action", list(LIFECYCLE))
def test_batch_moves(session, status, action):
    c = cast(session)
    batch, _ = batch_in_bidding(session, c)  # reporting, with a product and dates
    batch.status = status
    session.add(batch)
    session.flush()
    version = batch.version
    sources, target = LIFECYCLE[action]
    audits = len(session.exec(select(AuditLog.id)).all())
    if status in sources:
        try:
            services.move_batch(session, c.manager, batch.id, action, now=AFTER)
        except IllegalTransition:  # pragma: no cover - the failure this test looks for
            pytest.fail(f"{action} from {status.value} is in the table")
        except DomainError:
            # A business check (no selection yet, no agreements …) refused it: unchanged.
            session.refresh(batch)
            assert batch.status == status
        else:
            assert batch.status == target and batch.version == version + 1
    else:
        with pytest.raises(IllegalTransition) as exc:
            services.move_batch(session, c.manager, batch.id, action, now=AFTER)
        assert exc.value.status == 409
        assert exc.value.problem()["current_status"] == status.value
        session.refresh(batch)
        assert batch.status == status and batch.version == version
        assert len(session.exec(select(AuditLog.id)).all()) == audits


STAGES = {"close_regions": (AwardStage.regions, AwardStage.choice),
          "publish_allocation": (AwardStage.choice, AwardStage.agreements)}


def test_award_steps_table():
    got = {m.action: (set(m.sources), m.target) for m in award.AWARD_FLOW.moves}
    assert got == {a: ({s}, t) for a, (s, t) in STAGES.items()}


@pytest.mark.parametrize("stage", list(AwardStage))
def test_closing_regions_only_from_the_regions_step(session, stage):
    c = cast(session)
    batch, _ = batch_in_bidding(session, c)
    batch.status, batch.award_stage = B.allocating, stage
    session.add(batch)
    session.flush()
    if stage == AwardStage.regions:
        award.close_regions(session, c.manager, batch.id)
        assert batch.award_stage == AwardStage.choice
    else:
        with pytest.raises(DomainError) as exc:
            award.close_regions(session, c.manager, batch.id)
        assert exc.value.status == 409
        assert batch.award_stage == stage


def test_a_bids_status_changes_are_transitions_with_their_records(session):
    """Withdrawn, bid again, disqualified: every move of a bid is its workflow's, with one
    audit record naming the status before and after, and none carries the price."""
    from datetime import timedelta

    from tests.procurement.factories import OPENS, bid

    c = cast(session)
    batch, (bp,) = batch_in_bidding(session, c)
    services.move_batch(session, c.manager, batch.id, "open_bidding",
                        reason="报量截止前开始投标（测试）")
    first = bid(session, c.companies[0], bp, "0.50")
    bid(session, c.companies[1], bp, "0.60")
    during = OPENS + timedelta(hours=2)
    services.withdraw_bid(session, c.companies[0].op, first.id, now=during)
    again = bid(session, c.companies[0], bp, "0.55")
    assert again.id == first.id
    services.move_batch(session, c.manager, batch.id, "close_bidding", now=AFTER)
    award.run_selection(session, c.manager, batch.id, now=AFTER)
    award.disqualify_bid(session, c.manager, first.id, "提供虚假材料")
    moves = [(a.action, a.before, a.after) for a in session.exec(
        select(AuditLog).where(AuditLog.object_type == "vbp_bid",
                               AuditLog.object_id == str(first.id),
                               AuditLog.action != "vbp_bid.submit").order_by(AuditLog.id))]
    assert moves == [
        ("vbp_bid.withdraw", {"status": "submitted"}, {"status": "withdrawn"}),
        ("vbp_bid.resubmit", {"status": "withdrawn"}, {"status": "submitted"}),
        ("vbp_bid.disqualify", {"status": "submitted"},
         {"status": "disqualified", "reason": "提供虚假材料"}),
    ]
    with pytest.raises(IllegalTransition):
        services.BID_FLOW.transition(session, session.get(type(first), first.id), "withdraw",
                                     c.companies[0].op)


def test_the_bureau_follows_the_choice_only_once_the_award_has_started(session):
    """The stage rule is the service's, so the page and any other caller obey it alike."""
    c = cast(session)
    batch, _ = batch_in_bidding(session, c)
    with pytest.raises(DomainError) as exc:
        award.choice_counts(session, c.manager, batch.id)
    assert exc.value.status == 409
    batch.status, batch.award_stage = B.allocating, AwardStage.regions
    session.add(batch)
    session.flush()
    assert award.choice_counts(session, c.manager, batch.id) == {}
    assert "choice_deadline" in award.award_actions(batch, c.manager)
    assert "choose" not in award.award_actions(batch, c.hospitals[0].op)
