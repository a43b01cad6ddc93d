"""Procurement's to-do items on the home pages: products to report, to bid on, regions to
pick, winners to rank, agreements to confirm, and the bureau's batches whose next step is
due — each counted within the actor's scope and linked to its batch's page."""
from __future__ import annotations

from decimal import Decimal

from core.todo import todos_for
from procurement import services
from tests.listing.factories import product
from tests.procurement.test_views import Cast, move, new_batch
from tests.procurement.test_views_award import World
from tests.support import login


def _items(session, actor) -> dict[str, tuple[int, str, dict]]:
    return {t.label: (t.count, t.endpoint, t.args) for t in todos_for(session, actor)}


REPORT = "Products waiting for your volume report"


def test_a_hospital_sees_the_products_it_has_not_reported(client, session):
    c = Cast(session)
    batch = new_batch(c, products=2)
    move(c, batch, "open_reporting")
    hosp = c.actor(c.hosp_op)
    assert _items(session, hosp)[REPORT] == (2, "procurement.report", {"batch_id": batch.id})
    (first, _second) = services.batch_products(session, hosp, batch.id)
    services.submit_report(session, hosp, first.id, services.ReportIn(
        usage_last_year=100, usage_year_before=100, demand=100))
    assert _items(session, hosp)[REPORT][0] == 1
    assert _items(session, c.actor(c.other_hosp_op))[REPORT][0] == 2
    assert REPORT not in _items(session, c.actor(c.co_op))

    login(client, c.hosp_op.username)
    html = client.get("/home").get_data(as_text=True)
    assert "待报量的集采品种" in html and f"批次 {batch.code}" in html
    assert f'href="/procurement/batches/{batch.id}/report"' in html


def test_a_company_sees_the_products_it_makes_and_has_not_bid_on(session):
    c = Cast(session)
    batch = new_batch(c, products=1)
    move(c, batch, "open_reporting", "open_bidding")
    label = "Products open for bids that you have not bid on"
    assert label not in _items(session, c.actor(c.co_op))  # it makes no such product yet
    prod = product(session, c.co, content="10", units=1)
    co = c.actor(c.co_op)
    assert _items(session, co)[label] == (1, "procurement.bids", {"batch_id": batch.id})
    (bp,) = services.batch_products(session, co, batch.id)
    services.submit_bid(session, co, bp.id, services.BidIn(product_id=prod.id,
                                                           package_price=Decimal("1.00")))
    assert label not in _items(session, co)


def test_the_award_steps_wait_on_the_bureau_and_the_winners(session):
    w = World(session)
    step = "Batches with bids opened: select the winners and publicize them"
    assert _items(session, w.manager)[step] == (1, "procurement.batch_detail",
                                                {"batch_id": w.batch.id})
    assert step not in _items(session, w.viewer)

    w.allocate()
    regions = "Winning products whose supply regions you pick"
    assert _items(session, w.w1.op)[regions] == (1, "procurement.regions",
                                                 {"batch_id": w.batch.id})
    assert regions not in _items(session, w.loser.op)



def test_a_hospital_sees_the_products_whose_winners_it_has_not_ranked(session):
    w = World(session)
    w.choosing()
    rank = "Products whose winners you have not ranked yet"
    assert _items(session, w.h1.op)[rank] == (1, "procurement.choices",
                                              {"batch_id": w.batch.id})



def test_both_sides_see_the_agreements_waiting_for_them(app, session):
    w = World(session)
    w.published(app)
    label = "Purchase agreements waiting for your confirmation"
    count, endpoint, args = _items(session, w.h1.op)[label]
    assert count >= 1 and endpoint == "procurement.agreements"
    assert args == {"batch_id": w.batch.id}
    assert _items(session, w.w1.op)[label][0] >= 1
    assert label not in _items(session, w.loser.op)
