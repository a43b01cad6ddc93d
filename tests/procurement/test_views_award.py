"""The award, allocation and agreement pages through the test client with real logins: the
winner selection and its explanation, the public results board, region picking in turn, the
hospitals' choice, allocation runs run as the job, and agreements confirmed by both sides.
The pages are read in English (the ``lang`` cookie) so the assertions do not depend on the
Chinese catalogue."""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import select

from core import jobs, rules
from core.models import User
from core.permissions import PUBLIC
from core.web import PERMISSION_ATTR
from procurement import services
from procurement import services_allocation as alloc
from procurement import services_award as award
from procurement.models import (
    Agreement,
    AgreementStatus,
    AllocationRun,
    AwardStage,
    Batch,
    Bid,
    BidStatus,
    Choice,
    RunStatus,
)
from procurement.rules import ProcurementRuleParams
from tests.listing.factories import actor as make_actor
from tests.procurement.factories import (
    AFTER,
    after_publicity,
    batch_in_bidding,
    bid,
    cast,
    report,
    to_evaluating,
)
from tests.support import csrf_token, login


class World:
    """Winners W1 (ucp 0.50) and W2 (ucp 0.80, capacity 200) of one product, a loser L
    (ucp 1.20, beyond the threshold 0.90); hospitals H1 in 杭州 (reports 1,000) and H2 in 宁波
    (reports 500); a batch manager and a bureau viewer."""

    def __init__(self, session):
        self.session = session
        c = cast(session, cities=("330106", "330203"), companies=3)
        self.c = c
        current = rules.current(session, services.RULE_SET)
        rules.publish(session, c.manager, services.RULE_SET, ProcurementRuleParams(
            **(current.params.model_dump() | {"entrant_cap_k": 0})))
        batch, (bp,) = batch_in_bidding(session, c)
        batch.cycle_start = date(2027, 1, 1)
        self.batch, self.bp = batch, bp
        c.hospitals[0].org.address = "杭州市西湖区文三路 218 号"
        c.hospitals[1].org.address = "宁波市海曙区中山西路 402 号"
        report(session, c, bp, [1000, 500])
        services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
        self.bids = [bid(session, c.companies[0], bp, "0.50"),
                     bid(session, c.companies[1], bp, "0.80", capacity=200),
                     bid(session, c.companies[2], bp, "1.20")]
        to_evaluating(session, c, batch)
        self.h1, self.h2 = c.hospitals
        self.w1, self.w2, self.loser = c.companies
        self.manager, self.viewer = c.manager, c.viewer
        session.flush()

    # --- steps through the services ---
    def select(self):
        award.run_selection(self.session, self.manager, self.batch.id, now=AFTER)

    def publicize(self):
        self.select()
        services.move_batch(self.session, self.manager, self.batch.id, "publicize")

    def allocate(self):
        self.publicize()
        services.move_batch(self.session, self.manager, self.batch.id, "start_allocation",
                            now=after_publicity(self.batch))

    def regions_picked(self):
        self.allocate()
        s, bp = self.session, self.bp.id
        award.pick_region(s, self.w1.op, bp, "330100")
        award.pick_region(s, self.w2.op, bp, "330200")
        award.pick_region(s, self.w1.op, bp, "330200")
        award.finish_regions(s, self.w2.op, bp)

    def choosing(self):
        self.regions_picked()
        award.close_regions(self.session, self.manager, self.batch.id)

    def winner_ids(self) -> dict[int, int]:
        (res,) = award.results(self.session, self.manager, self.batch.id)
        return {w.org_id: w.id for w in res.winners}

    def run(self, app) -> AllocationRun:
        r = _start_and_run(app, self.session, self)
        return r

    def published(self, app) -> list[Agreement]:
        self.choosing()
        r = self.run(app)
        return alloc.publish_run(self.session, self.manager, r.id)

    def reload(self, model, obj_id):
        self.session.expire_all()
        return self.session.get(model, obj_id)


@pytest.fixture
def world(session) -> World:
    return World(session)


@pytest.fixture(autouse=True)
def english(client):
    client.set_cookie("lang", "en")


def _start_and_run(app, session, w: World) -> AllocationRun:
    with app.app_context():
        r = alloc.start_run(session, w.manager, w.batch.id)
    session.flush()
    jobs.run_job(app, jobs.registered_jobs()[alloc.JOB_NAME], r.job_id)
    session.expire_all()
    return session.get(AllocationRun, r.id)


def as_(client, session, who) -> None:
    """Log in as the user behind an actor (or a ``Party``)."""
    a = getattr(who, "op", who)
    login(client, session.get(User, a.user_id).username)


def post(client, path: str, data: dict | None = None, **kw):
    return client.post(path, data={"csrf_token": csrf_token(client), **(data or {})}, **kw)


def html(resp) -> str:
    return resp.get_data(as_text=True)


def statuses(client, session, who, paths) -> dict[str, int]:
    as_(client, session, who)
    return {p: client.get(p).status_code for p in paths}


# --- every route declares its permission ------------------------------------------------------

AWARD_ENDPOINTS = {
    "results", "select_winners", "bid_disqualify", "publicity", "publicity_detail", "regions",
    "region_pick", "region_finish", "regions_close", "choices", "choices_save",
    "choices_deadline", "allocation",
    "allocation_run", "allocation_start", "allocation_publish", "agreements", "agreement_sign",
    "agreements_sign_all", "agreements_renew", "agreement_volume"}


def test_every_award_route_declares_its_permission(app):
    seen = {}
    for rule in app.url_map.iter_rules():
        module, _, name = rule.endpoint.partition(".")
        if module == "procurement" and name in AWARD_ENDPOINTS:
            seen[name] = getattr(app.view_functions[rule.endpoint], PERMISSION_ATTR, None)
    assert set(seen) == AWARD_ENDPOINTS
    assert all(seen.values()), seen
    assert {n for n, p in seen.items() if p == PUBLIC} == {"publicity", "publicity_detail"}


# --- selection and results ----------------------------------------------------------------------

def test_the_bureau_selects_and_reads_every_verdict(client, session, world):
    b = f"/procurement/batches/{world.batch.id}"
    as_(client, session, world.manager)
    page = html(client.get(f"{b}/results"))
    assert "Not selected yet." in page and 'id="select-winners"' in page
    resp = post(client, f"{b}/results/select")
    assert resp.status_code == 302
    page = html(client.get(f"{b}/results"))
    for party in (world.w1, world.w2, world.loser):
        assert party.org.name in page
    assert "Won: not above 1.8 × the anchor price" in page
    assert "Not won: above 1.8 × the anchor price and the price floor" in page
    assert "¥0.5000" in page and "¥0.9000" in page  # anchor and threshold
    assert "60%" in page  # two winners: agreed ratio 60 %
    assert "2.4000" in page  # the loser's ratio to the anchor
    assert "Rule set version" in page and str(world.batch.rule_version) in page
    # The bureau viewer reads it but may not select; the other parties see nothing yet.
    as_(client, session, world.viewer)
    page = html(client.get(f"{b}/results"))
    assert world.loser.org.name in page and 'id="select-winners"' not in page
    assert post(client, f"{b}/results/select").status_code == 403
    for who in (world.h1, world.w1):
        as_(client, session, who)
        resp = client.get(f"{b}/results")
        assert resp.status_code == 200
        assert world.w2.org.name not in html(resp)
        assert "published with the proposed-winner publicity" in html(resp)
        assert post(client, f"{b}/results/select").status_code == 403


def test_after_publicity_the_parties_see_the_winners_only(client, session, world):
    world.publicize()
    b = f"/procurement/batches/{world.batch.id}"
    as_(client, session, world.h1)
    page = html(client.get(f"{b}/results"))
    assert world.w1.org.name in page and world.w2.org.name in page
    assert world.loser.org.name not in page
    as_(client, session, world.loser)
    page = html(client.get(f"{b}/results"))
    assert world.loser.org.name in page  # its own bid, and why it lost
    assert "Not won" in page


def test_disqualifying_needs_a_reason_and_selects_again(client, session, world):
    world.select()
    b = f"/procurement/batches/{world.batch.id}"
    first = world.bids[0]
    as_(client, session, world.manager)
    resp = post(client, f"{b}/results/bids/{first.id}/disqualify", {"reason": "  "})
    assert resp.status_code == 422 and "Give the reason." in html(resp)
    assert world.reload(Bid, first.id).status == BidStatus.submitted
    resp = post(client, f"{b}/results/bids/{first.id}/disqualify", {"reason": "提供虚假材料"})
    assert resp.status_code == 302
    assert world.reload(Bid, first.id).status == BidStatus.disqualified
    page = html(client.get(f"{b}/results"))
    assert "提供虚假材料" in page  # listed with its reason
    (res,) = award.results(session, world.manager, world.batch.id)
    # Anchor 0.80 now, threshold 1.44: the former loser at 1.20 wins too.
    assert [w.org_id for w in res.winners] == [world.w2.org.id, world.loser.org.id]
    # Twice is a conflict, shown on the page.
    resp = post(client, f"{b}/results/bids/{first.id}/disqualify", {"reason": "again"})
    assert resp.status_code == 409 and "is disqualified" in html(resp)
    as_(client, session, world.w2)
    assert post(client, f"{b}/results/bids/{first.id}/disqualify",
                {"reason": "x"}).status_code == 403


# --- the public board -------------------------------------------------------------------------

def test_the_public_board_says_nothing_before_the_publicity(client, session, world):
    world.select()
    pub = f"/procurement/publicity/{world.batch.id}"
    resp = client.get(pub)  # nobody logged in
    assert resp.status_code == 200
    page = html(resp)
    assert "not public yet" in page
    for party in (world.w1, world.w2, world.loser):
        assert party.org.name not in page
    assert "0.5000" not in page
    assert world.batch.code not in html(client.get("/procurement/publicity"))

    services.move_batch(session, world.manager, world.batch.id, "publicize")
    session.flush()
    listing = html(client.get("/procurement/publicity"))
    assert world.batch.code in listing and pub in listing
    page = html(client.get(pub))
    assert world.w1.org.name in page and world.w2.org.name in page
    assert world.loser.org.name not in page  # only the winners are published
    assert "¥0.5000" in page and "¥0.8000" in page


def test_the_public_board_hides_drafts(client, session, world):
    draft = services.create_batch(session, world.manager, services.BatchIn(
        code="DRAFT-1", name="草稿"))
    session.flush()
    assert client.get(f"/procurement/publicity/{draft.id}").status_code == 404
    assert client.get("/procurement/publicity/999999").status_code == 404


# --- supply regions ---------------------------------------------------------------------------

def test_region_board_and_picking_in_turn(client, session, world):
    world.allocate()
    b = f"/procurement/batches/{world.batch.id}"
    paths = [f"{b}/regions"]
    for who in (world.manager, world.viewer, world.w1, world.h1, world.loser):
        assert statuses(client, session, who, paths) == {paths[0]: 200}
    as_(client, session, world.w1)
    page = html(client.get(f"{b}/regions"))
    assert "330100" in page and "330200" in page
    assert "杭州市" in page and "宁波市" in page  # names from the hospitals' addresses
    assert "Pick this region" in page  # W1 (lowest ucp) picks first
    # W2 out of turn: the 409 and why.
    as_(client, session, world.w2)
    assert "Pick this region" not in html(client.get(f"{b}/regions"))
    resp = post(client, f"{b}/regions/{world.bp.id}/pick", {"region_code": "330200"})
    assert resp.status_code == 409
    assert f"it is {world.w1.org.name}&#39;s turn to pick a region" in html(resp)
    # W1 picks; a region outside the province is a field error.
    as_(client, session, world.w1)
    resp = post(client, f"{b}/regions/{world.bp.id}/pick", {"region_code": "320100"})
    assert resp.status_code == 422 and "Choose a region of the province." in html(resp)
    resp = post(client, f"{b}/regions/{world.bp.id}/pick", {"region_code": "330100"})
    assert resp.status_code == 302
    as_(client, session, world.w2)
    assert post(client, f"{b}/regions/{world.bp.id}/pick",
                {"region_code": "330200"}).status_code == 302
    assert post(client, f"{b}/regions/{world.bp.id}/finish").status_code == 302
    page = html(client.get(f"{b}/regions"))
    assert "Your company finished picking" in page
    # Hospitals and the loser may not pick.
    as_(client, session, world.h1)
    assert post(client, f"{b}/regions/{world.bp.id}/pick",
                {"region_code": "330200"}).status_code == 403
    as_(client, session, world.loser)
    assert post(client, f"{b}/regions/{world.bp.id}/pick",
                {"region_code": "330200"}).status_code == 403


def test_the_bureau_closes_region_selection_from_the_version_it_saw(client, session, world):
    world.regions_picked()
    b = f"/procurement/batches/{world.batch.id}"
    batch = world.reload(Batch, world.batch.id)
    as_(client, session, world.manager)
    page = html(client.get(f"{b}/regions"))
    assert f"{b}/regions/close" in page and f'name="version" value="{batch.version}"' in page
    resp = post(client, f"{b}/regions/close", {"version": batch.version - 1, "confirm": "yes"})
    assert resp.status_code == 409
    assert world.reload(Batch, world.batch.id).award_stage == AwardStage.regions
    as_(client, session, world.w1)
    assert post(client, f"{b}/regions/close", {"version": batch.version, "confirm": "yes"}).status_code == 403
    as_(client, session, world.manager)
    resp = post(client, f"{b}/regions/close", {"version": batch.version, "confirm": "yes"})
    assert resp.status_code == 302
    assert world.reload(Batch, world.batch.id).award_stage == AwardStage.choice
    page = html(client.get(f"{b}/regions"))
    assert "Region selection is closed" in page and f"{b}/regions/close" not in page


# --- hospital choice --------------------------------------------------------------------------

def test_hospital_choice_and_the_bureaus_counts(client, session, world):
    world.choosing()
    ids = world.winner_ids()
    w1, w2 = ids[world.w1.org.id], ids[world.w2.org.id]
    b = f"/procurement/batches/{world.batch.id}"
    path = f"{b}/choices"
    for who, code in ((world.h1, 200), (world.manager, 200), (world.w1, 403),
                      (world.viewer, 200)):  # a bureau viewer reads the counts
        assert statuses(client, session, who, [path]) == {path: code}, who
    as_(client, session, world.h1)
    page = html(client.get(path))
    assert f'name="rank_{w1}"' in page and f'name="rank_{w2}"' not in page  # 杭州: W1 only
    assert "Default ranking" in page
    # W2 does not serve H1's city: the field error.
    resp = post(client, f"{b}/choices/{world.bp.id}", {f"rank_{w2}": "1"})
    assert resp.status_code == 422
    assert "This winner does not supply your region." in html(resp)
    assert not session.exec(select(Choice).where(Choice.org_id == world.h1.org.id)).all()
    # H2 in 宁波 ranks W2 first; a rank that is not a whole number is refused by name.
    as_(client, session, world.h2)
    page = html(client.get(path))
    assert f'name="rank_{w1}"' in page and f'name="rank_{w2}"' in page
    resp = post(client, f"{b}/choices/{world.bp.id}", {f"rank_{w2}": "x", f"rank_{w1}": "2"})
    assert resp.status_code == 422 and "A rank is a whole number from 1." in html(resp)
    resp = post(client, f"{b}/choices/{world.bp.id}", {f"rank_{w2}": "1", f"rank_{w1}": "2"})
    assert resp.status_code == 302
    page = html(client.get(path))
    assert "Your own ranking" in page and f'name="rank_{w2}" inputmode="numeric" value="1"' in page
    as_(client, session, world.manager)
    page = html(client.get(path))
    assert re.search(r'<td class="num"><b>1</b></td>', page)  # one hospital ranked
    # Back to the default.
    as_(client, session, world.h2)
    assert post(client, f"{b}/choices/{world.bp.id}", {"reset": "1",
                                                        f"rank_{w2}": "1"}).status_code == 302
    assert award.choice_counts(session, world.manager, world.batch.id) == {}
    as_(client, session, world.w1)
    assert post(client, f"{b}/choices/{world.bp.id}", {f"rank_{w1}": "1"}).status_code == 403


# --- allocation runs --------------------------------------------------------------------------

def test_an_allocation_run_from_the_page_to_its_figures(app, client, session, world):
    world.choosing()
    ids = world.winner_ids()
    award.set_choices(session, world.h2.op, world.bp.id,
                      {ids[world.w2.org.id]: 1, ids[world.w1.org.id]: 2})
    session.flush()
    b = f"/procurement/batches/{world.batch.id}"
    for who in (world.h1, world.w1):
        assert statuses(client, session, who, [f"{b}/allocation"]) == {f"{b}/allocation": 403}
    # A bureau viewer reads the runs but cannot start or publish one.
    assert statuses(client, session, world.viewer, [f"{b}/allocation"]) == {
        f"{b}/allocation": 200}
    assert 'id="start-run"' not in html(client.get(f"{b}/allocation"))
    assert post(client, f"{b}/allocation/start").status_code == 403
    as_(client, session, world.manager)
    page = html(client.get(f"{b}/allocation"))
    assert "No allocation run yet." in page and 'id="start-run"' in page
    resp = post(client, f"{b}/allocation/start")
    assert resp.status_code == 302
    run = session.exec(select(AllocationRun).where(
        AllocationRun.batch_id == world.batch.id)).one()
    assert resp.headers["Location"].endswith(f"{b}/allocation/{run.id}")
    page = html(client.get(f"{b}/allocation/{run.id}"))
    assert '<meta http-equiv="refresh" content="2">' in page  # queued: it refreshes itself
    assert "0 of 1 products" in page and 'id="start-run"' not in page
    assert post(client, f"{b}/allocation/start").status_code == 409  # one at a time

    jobs.run_job(app, jobs.registered_jobs()[alloc.JOB_NAME], run.job_id)
    run = world.reload(AllocationRun, run.id)
    assert run.status == RunStatus.optimal
    page = html(client.get(f"{b}/allocation/{run.id}"))
    assert 'http-equiv="refresh"' not in page
    assert "1 of 1 products" in page
    assert "¥510.00" in page  # 600 × 0.50 + 200 × 0.80 + 100 × 0.50
    assert ">100<" in page and ">900<" in page  # rank penalty, agreed units
    assert world.h1.org.name in page and world.w2.org.name in page  # the lines
    assert "600" in page and "200" in page
    filtered = html(client.get(f"{b}/allocation/{run.id}?product={world.bp.id}"))
    assert world.h2.org.name in filtered
    assert "3 in all" in filtered
    assert 'id="lines-csv"' in filtered
    export = client.get(f"{b}/allocation/{run.id}/lines.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "attachment; filename*=UTF-8''" in export.headers["Content-Disposition"]
    assert export.get_data(as_text=True).count("\r\n") == 4  # the header and 3 lines
    # Publishing from a stale page is a 409; from the page as it is, the agreements go out.
    resp = post(client, f"{b}/allocation/{run.id}/publish", {"version": run.version - 1, "confirm": "yes"})
    assert resp.status_code == 409
    resp = post(client, f"{b}/allocation/{run.id}/publish", {"version": run.version, "confirm": "yes"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"{b}/agreements")
    assert world.reload(Batch, world.batch.id).award_stage == AwardStage.agreements
    assert len(session.exec(select(Agreement).where(
        Agreement.batch_id == world.batch.id)).all()) == 3


def test_an_infeasible_run_shows_its_diagnosis(app, client, session, world):
    world.choosing()
    ids = world.winner_ids()
    # H2 accepts only W2, whose capacity (200) is below H2's 300 units.
    award.set_choices(session, world.h2.op, world.bp.id, {ids[world.w2.org.id]: 1})
    run = world.run(app)
    assert run.status == RunStatus.infeasible
    b = f"/procurement/batches/{world.batch.id}"
    as_(client, session, world.manager)
    page = html(client.get(f"{b}/allocation"))
    assert "Why the allocation is infeasible" in page
    for line in run.diagnosis:
        assert line.split(":")[0] in page
    assert "action:publish_allocation" not in page and "/publish" not in page
    assert post(client, f"{b}/allocation/{run.id}/publish",
                {"version": run.version, "confirm": "yes"}).status_code == 409


# --- agreements -------------------------------------------------------------------------------

def test_agreements_are_confirmed_by_both_sides(app, client, session, world):
    agreements = world.published(app)
    b = f"/procurement/batches/{world.batch.id}"
    path = f"{b}/agreements"
    for who in (world.manager, world.viewer, world.h1, world.w1, world.loser):
        assert statuses(client, session, who, [path]) == {path: 200}, who
    mine = next(a for a in agreements if a.hospital_id == world.h1.org.id)
    as_(client, session, world.h2)
    page = html(client.get(path))
    assert world.h1.org.name not in page  # another hospital's agreements are not shown
    as_(client, session, world.h1)
    page = html(client.get(path))
    assert world.h1.org.name in page and world.w1.org.name in page
    assert "¥300.00" in page and "600" in page and "2027-01-01" in page
    assert f'{path}/{mine.id}/sign' in page
    # A stale page: 409 with the reason; nothing signed.
    resp = post(client, f"{path}/{mine.id}/sign", {"version": mine.version + 1})
    assert resp.status_code == 409 and "is at version" in html(resp)
    assert world.reload(Agreement, mine.id).status == AgreementStatus.proposed
    resp = post(client, f"{path}/{mine.id}/sign", {"version": mine.version})
    assert resp.status_code == 302
    a = world.reload(Agreement, mine.id)
    assert a.status == AgreementStatus.hospital_signed
    page = html(client.get(path))
    assert session.get(User, world.h1.op.user_id).display_name in page  # who confirmed
    # Signing again is refused with the current status.
    assert post(client, f"{path}/{mine.id}/sign", {"version": a.version}).status_code == 409
    # The bureau is no party: no sign buttons, and the route is refused.
    as_(client, session, world.manager)
    page = html(client.get(path))
    assert "/sign" not in page and "Summary" in page
    assert post(client, f"{path}/{mine.id}/sign", {"version": a.version}).status_code == 403
    # The company confirms everything of year 1 at once.
    as_(client, session, world.w1)
    page = html(client.get(path))
    assert "Confirm all of year 1 (2 waiting)" in page
    resp = post(client, f"{path}/sign-all", {"year": "1"})
    assert resp.status_code == 302
    assert world.reload(Agreement, mine.id).status == AgreementStatus.signed
    page = html(client.get(path))
    assert "Nothing waits for your confirmation." in page


def test_renewals_and_the_volume_floor(app, client, session, world):
    world.published(app)
    for party in (world.h1, world.h2, world.w1, world.w2):
        alloc.sign_all(session, party.op, world.batch.id, 1)
    services.move_batch(session, world.manager, world.batch.id, "execute")
    session.flush()
    path = f"/procurement/batches/{world.batch.id}/agreements"
    as_(client, session, world.h1)
    assert post(client, f"{path}/renew", {"year": "2"}).status_code == 403
    as_(client, session, world.manager)
    page = html(client.get(path))
    assert f"{path}/renew" in page
    resp = post(client, f"{path}/renew", {"year": "3"})  # the cycle is two years
    assert resp.status_code == 422
    resp = post(client, f"{path}/renew", {"year": "2"})
    assert resp.status_code == 302
    (renewal,) = alloc.list_agreements(session, world.h1.op, world.batch.id, year=2).items
    assert renewal.volume == 600
    as_(client, session, world.h1)
    page = html(client.get(f"{path}?year=2"))
    assert f"{path}/{renewal.id}/volume" in page and "at least 600" in page
    resp = post(client, f"{path}/{renewal.id}/volume",
                {"volume": "599", "version": renewal.version})
    assert resp.status_code == 422
    assert "The renewal volume may not be below last year&#39;s agreed volume." in html(resp)
    resp = post(client, f"{path}/{renewal.id}/volume",
                {"volume": "lots", "version": renewal.version})
    assert resp.status_code == 422 and "Enter a whole number" in html(resp)
    resp = post(client, f"{path}/{renewal.id}/volume",
                {"volume": "650", "version": renewal.version})
    assert resp.status_code == 302
    r = world.reload(Agreement, renewal.id)
    assert (r.volume, r.amount_fen) == (650, 32500)
    as_(client, session, world.w1)  # the company may not change it
    assert post(client, f"{path}/{renewal.id}/volume",
                {"volume": "700", "version": r.version}).status_code == 403


def test_tabs_follow_the_award_steps(app, client, session, world):
    b = f"/procurement/batches/{world.batch.id}"
    as_(client, session, world.manager)
    page = html(client.get(b))
    assert f"{b}/results" in page and f"{b}/regions" not in page
    world.choosing()
    page = html(client.get(b))
    for tab in ("results", "regions", "choices", "allocation"):
        assert f'href="{b}/{tab}"' in page, tab
    assert f'href="{b}/agreements"' not in page
    as_(client, session, world.w1)
    page = html(client.get(b))
    assert f'href="{b}/regions"' in page and f'href="{b}/choices"' not in page
    assert f'href="{b}/allocation"' not in page


def test_a_product_of_another_batch_is_not_found(client, session, world):
    world.allocate()
    other = make_actor(session, world.w1.org, "operator")
    session.flush()
    b = f"/procurement/batches/{world.batch.id}"
    as_(client, session, other)
    assert post(client, f"{b}/regions/999999/pick", {"region_code": "330100"}).status_code == 404


def test_the_bureau_sets_the_choice_deadline_in_beijing_time(client, session, world):
    world.choosing()
    ids = world.winner_ids()
    b = f"/procurement/batches/{world.batch.id}"
    as_(client, session, world.manager)
    assert f"{b}/choices/deadline" in html(client.get(f"{b}/choices"))
    resp = post(client, f"{b}/choices/deadline", {"choice_deadline": "tomorrow"})
    assert resp.status_code == 422 and "Enter a date and time." in html(resp)
    # 2026-05-20 17:00 in Beijing is 09:00 UTC; it has passed.
    assert post(client, f"{b}/choices/deadline",
                {"choice_deadline": "2026-05-20T17:00"}).status_code == 302
    batch = world.reload(Batch, world.batch.id)
    assert batch.choice_deadline.isoformat() == "2026-05-20T09:00:00+00:00"
    assert 'value="2026-05-20T17:00"' in html(client.get(f"{b}/choices"))
    as_(client, session, world.h2)
    page = html(client.get(f"{b}/choices"))
    assert "has passed" in page and "Save ranking" not in page
    resp = post(client, f"{b}/choices/{world.bp.id}", {f"rank_{ids[world.w2.org.id]}": "1"})
    assert resp.status_code == 409 and "deadline" in html(resp)
    assert post(client, f"{b}/choices/deadline", {"choice_deadline": ""}).status_code == 403
    as_(client, session, world.manager)
    assert post(client, f"{b}/choices/deadline", {"choice_deadline": ""}).status_code == 302
    assert world.reload(Batch, world.batch.id).choice_deadline is None
