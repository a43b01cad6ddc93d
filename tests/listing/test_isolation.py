"""Tenant isolation: a company sees only its own applications, evidence and files; the
bureau sees everything; the public pages show only what is public."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import Invalid, NotFound
from core.permissions import Actor
from listing import services
from listing.models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    Attachment,
    ListingReason,
    ListingStatus,
    PriceEvidence,
    Product,
)
from listing.storage import LocalStore
from tests.listing.factories import (
    PDF,
    PNG,
    actor,
    company,
    count,
    draft,
    drive,
    evidence,
    hospital,
    list_product,
    product,
    world,
)

S = ApplicationStatus


@pytest.fixture
def two(session, tmp_path):
    """Company A (with a draft carrying evidence and a file) and company B, one bureau."""
    w = world(session)
    store = LocalStore(tmp_path / "attachments")
    a_app = draft(session, w.op)  # a proposed product: not in the public catalogue yet
    att = services.add_application_attachment(session, w.op, store, a_app.id, "江苏公告.pdf",
                                              PDF)
    services.set_evidence(session, w.op, a_app.id, [
        services.EvidenceIn(province="江苏", price="9.00", evidence_date="2026-01-15",
                            document="苏医保〔2026〕1号", attachment_id=att.id)])
    b = company(session)
    b_op = actor(session, b, "operator")
    b_app = draft(session, b_op, product(session, b))
    return w, store, a_app, att, b_op, b_app


def test_other_company_cannot_read_anything_of_a_draft(session, two):
    w, store, a_app, att, b_op, _ = two
    for call in (
        lambda: services.get_application(session, b_op, a_app.id),
        lambda: services.evidence_lines(session, b_op, a_app.id),
        lambda: services.price_checks(session, b_op, a_app.id),
        lambda: services.read_attachment(session, b_op, store, att.id),
    ):
        with pytest.raises(NotFound):
            call()
    assert services.attachments_of(session, b_op, application_id=a_app.id) == []
    # The owner reads them all.
    assert services.get_application(session, w.op, a_app.id).id == a_app.id
    assert len(services.evidence_lines(session, w.op, a_app.id)) == 1
    got, data = services.read_attachment(session, w.op, store, att.id)
    assert got.id == att.id and data == PDF


def test_other_company_cannot_change_anything_of_a_draft(session, two):
    w, store, a_app, _, b_op, _ = two
    version = a_app.version
    data = services.ApplicationIn(kind=ApplicationKind.new_listing, product_id=a_app.product_id,
                                  proposed_price="1.00")
    for call in (
        lambda: services.update_application(session, b_op, a_app.id, data),
        lambda: services.set_evidence(session, b_op, a_app.id, [evidence("1.00")]),
        lambda: services.add_application_attachment(session, b_op, store, a_app.id, "x.png",
                                                    PNG),
        lambda: services.submit(session, b_op, a_app.id),
        lambda: services.withdraw(session, b_op, a_app.id),
    ):
        with pytest.raises(NotFound):
            with session.begin_nested():
                call()
    session.expire_all()
    a = session.get(Application, a_app.id)
    assert a.status == S.draft and a.version == version and a.proposed_price == 5
    assert count(session, PriceEvidence, PriceEvidence.application_id == a_app.id) == 1
    assert count(session, Attachment, Attachment.application_id == a_app.id) == 1


def test_proposed_products_are_private_to_their_proposer(session, two):
    w, _, a_app, _, b_op, _ = two
    proposed = session.get(Product, a_app.product_id)
    with pytest.raises(Invalid) as exc:
        services.create_application(session, b_op, services.ApplicationIn(
            kind=ApplicationKind.new_listing, product_id=proposed.id, proposed_price="1.00"))
    assert [e.field for e in exc.value.errors] == ["product_id"]
    assert proposed.id not in {p.id for p in services.listable_products(session, b_op)}
    assert proposed.id in {p.id for p in services.own_products(session, w.op)}
    # Its proposer's application is in progress: offered only on that application's form.
    assert proposed.id in {p.id for p in services.listable_products(session, w.op,
                                                                       app_id=a_app.id)}


def test_evidence_may_only_cite_this_applications_files(session, two):
    w, store, a_app, att, b_op, b_app = two
    b_att = services.add_application_attachment(session, b_op, store, b_app.id, "b.pdf", PDF)
    for attachment_id in (b_att.id, 999999):
        with pytest.raises(Invalid) as exc:
            services.set_evidence(session, w.op, a_app.id, [services.EvidenceIn(
                province="浙江", price="8.00", evidence_date="2026-02-01", document="x",
                attachment_id=attachment_id)])
        assert exc.value.errors[0].field == "attachment_id" and exc.value.errors[0].row == 1
    assert [e.attachment_id for e in services.evidence_lines(session, w.op, a_app.id)] \
        == [att.id]


def test_lists_are_scoped_and_the_bureau_sees_all(session, two):
    w, store, a_app, att, b_op, b_app = two
    mine = services.list_applications(session, w.op)
    assert [a.id for a, _, _ in mine.items] == [a_app.id]
    theirs = services.list_applications(session, b_op)
    assert [a.id for a, _, _ in theirs.items] == [b_app.id]
    # Filtering by the other company's id does not widen the scope.
    assert services.list_applications(session, b_op, org_id=w.company.id).items == []
    assert services.status_counts(session, b_op) == {"draft": 1}
    everything = services.list_applications(session, w.reviewer)
    assert {a_app.id, b_app.id} <= {a.id for a, _, _ in everything.items}
    assert services.get_application(session, w.viewer, a_app.id).id == a_app.id
    assert services.evidence_lines(session, w.reviewer, a_app.id)[0].province == "江苏"
    got, data = services.read_attachment(session, w.reviewer, store, att.id)
    assert data == PDF
    assert [x.id for x in services.attachments_of(session, w.reviewer,
                                                  application_id=a_app.id)] == [att.id]
    hosp = actor(session, hospital(session), "operator")
    assert services.list_applications(session, hosp).items == []
    with pytest.raises(NotFound):
        services.get_application(session, hosp, a_app.id)


def test_delisted_history_is_the_holders_and_the_bureaus(session, tmp_path):
    w = world(session)
    lst = list_product(session, w, product(session, w.company), "5.00")
    services.change_listing(session, w.reviewer, None, lst.id, "delist",
                            ListingReason.company_request, "停产")
    other = actor(session, company(session), "operator")
    with pytest.raises(NotFound):
        services.get_listing(session, other, lst.id)
    assert services.get_listing(session, w.op, lst.id).status == ListingStatus.delisted
    assert lst.id in [x.id for x in services.list_listings(session, w.op).items]
    assert lst.id not in [x.id for x in services.list_listings(session, other).items]
    assert lst.id in [x.id for x in services.list_listings(
        session, w.reviewer, org_id=w.company.id).items]


def test_public_pages_show_only_listed_and_publicizing(session, tmp_path):
    w = world(session)
    name = "依折麦布片"
    listed = list_product(session, w, product(session, w.company, generic_name=name), "5.00")
    suspended = list_product(session, w, product(session, w.company, generic_name=name), "5.00")
    delisted = list_product(session, w, product(session, w.company, generic_name=name), "5.00")
    services.change_listing(session, w.reviewer, None, suspended.id, "suspend",
                            ListingReason.supply_failure, "断供")
    services.change_listing(session, w.reviewer, None, delisted.id, "delist",
                            ListingReason.supply_failure, "断供")
    apps = {}
    for status in (S.draft, S.submitted, S.under_review, S.publicizing, S.rejected):
        apps[status] = drive(session, draft(session, w.op, product(
            session, w.company, generic_name=name)), status, w.op, w.reviewer)
    found = services.search_listings(session, services.SearchQuery(q=name))
    assert [x.id for x in found.items] == [listed.id]
    assert services.search_listings(session, services.SearchQuery(
        company=w.company.name)).total == 1
    board = services.publicity_board(session)
    on_board = {a.id for a, _, _ in board.items}
    assert apps[S.publicizing].id in on_board
    assert on_board.isdisjoint({apps[s].id for s in apps if s != S.publicizing})
    assert listed.application_id not in on_board
    # Anyone may read a publicized application; not a draft.
    assert services.publicized_application(session, apps[S.publicizing].id).id \
        == apps[S.publicizing].id
    with pytest.raises(NotFound):
        services.publicized_application(session, apps[S.draft].id)
    # Once the window ends, it leaves the board and its listing appears in the search.
    services.end_publicity(session, Actor.system_actor("test"),
                           as_of=apps[S.publicizing].publicity_end + timedelta(days=1))
    assert apps[S.publicizing].id not in {a.id for a, _, _ in services.publicity_board(
        session).items}
    assert services.search_listings(session, services.SearchQuery(q=name)).total == 2
