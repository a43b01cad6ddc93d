"""Tests of the listing demo data (listing.demo): loaded after the kernel's, as `flask demo load`
does, into the rolled-back test transaction."""
from __future__ import annotations

import struct
import zlib
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import select

from core import codes
from core.cli import DEMO_LOADERS
from core.demo import load_core_demo
from core.models import AuditLog, Organisation, User
from listing import demo, services
from listing.models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    Attachment,
    Holiday,
    Listing,
    ListingReason,
    ListingStatus,
    Objection,
    ObjectionStatus,
    PriceCheck,
    Product,
    ProductKind,
    ProductStatus,
    ReferencePrice,
)
from listing.storage import LocalStore, sniff

S = ApplicationStatus


def _count(session, model, *where) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(model).where(*where))
               .scalar_one())


@pytest.fixture
def store(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "attachments")


@pytest.fixture
def loaded(session, store) -> dict:
    load_core_demo(session)
    return demo.load(session, store)


def _user(session, username: str) -> User:
    return session.exec(select(User).where(User.username == username)).one()


def test_the_loader_is_registered() -> None:
    assert ("listing", demo.load) in DEMO_LOADERS


def test_the_catalogue(session, loaded) -> None:
    assert loaded["created"] is True
    drugs = list(session.exec(select(Product).where(Product.kind == ProductKind.drug,
                                                    Product.status == ProductStatus.active)))
    consumables = list(session.exec(select(Product).where(
        Product.kind == ProductKind.consumable)))
    assert len(drugs) + len(consumables) >= 200
    assert 25 <= len(consumables) <= 40
    generic_names = {p.generic_name for p in drugs}
    assert len(generic_names) >= 40 and loaded["generic_names"] == len(generic_names)
    assert {"阿莫西林", "阿托伐他汀钙", "注射用头孢曲松钠", "氯化钠注射液", "乳果糖"} <= generic_names
    forms = {p.dosage_form for p in drugs}
    assert {"普通片", "肠溶片", "分散片", "硬胶囊", "软胶囊", "口服溶液", "注射液"} <= forms
    for p in drugs:
        assert codes.validate_drug_code(p.code) == p.code and len(p.code) == 23
        assert p.approval_number.startswith("国药准字H")
        assert p.units_per_package >= 1 and p.min_unit and p.package_unit and p.package_material
    for p in consumables:
        assert codes.validate_consumable_code(p.code) == p.code and len(p.code) == 27
        assert p.group_code == p.code[:20] and p.category
    # Several strengths and pack sizes per generic and company, so 差比价 shows.
    atorvastatin = [p for p in drugs if p.generic_name == "阿托伐他汀钙"
                    and p.mah_org_id == _user(session, "pharma").org_id]
    assert {p.spec for p in atorvastatin} >= {"10mg×14片", "20mg×14片", "20mg×28片", "40mg×7片"}
    solution = {p.volume_ml for p in drugs if p.generic_name == "乳果糖"}
    assert solution == {100, 200}
    # MAH and manufacturer are the demo companies, so they may apply to list their products.
    orgs = {o.id: o for o in session.exec(select(Organisation))}
    for p in drugs + consumables:
        org = orgs[p.mah_org_id]
        assert (p.mah_code, p.mah_name) == (org.code, org.name)
        assert (p.manufacturer_org_id, p.manufacturer_code) == (org.id, org.code)
    pharma = _user(session, "pharma")
    assert sum(p.mah_org_id == pharma.org_id for p in drugs) >= 40


def test_listings_and_reference_prices(session, loaded) -> None:
    assert loaded["reference_prices"] == _count(session, ReferencePrice) >= 200
    listed = _count(session, Listing, Listing.status == ListingStatus.listed)
    assert listed >= 170
    assert loaded["listings"]["suspended"] >= 3 and loaded["listings"]["delisted"] >= 2
    # Listings priced above another province's price carry a linkage deadline.
    flagged = list(session.exec(select(Listing).where(Listing.linkage_deadline.is_not(None),
                                                      Listing.status == ListingStatus.listed)))
    assert len(flagged) >= 5
    for listing in flagged:
        lowest = session.execute(sa.select(sa.func.min(ReferencePrice.price)).where(
            ReferencePrice.product_id == listing.product_id)).scalar_one()
        assert lowest < listing.price
    barred = session.exec(select(Listing).where(
        Listing.reason_code == ListingReason.refused_linkage)).one()
    assert barred.status == ListingStatus.delisted and barred.relist_barred_until > date.today()
    # The migrated listings are found by the public search (through its name dictionary).
    for q, company in (("阿莫西林", None), ("沙坦", None), (None, "钱塘康和")):
        found = services.search_listings(session, services.SearchQuery(q=q, company=company))
        assert found.total >= 5, (q, company)
    years = {listing.listed_at.year for listing in session.exec(
        select(Listing).where(Listing.application_id.is_(None)))}
    assert {2024, 2025, 2026} <= years


def test_applications_cover_every_status_and_kind(session, loaded) -> None:
    assert set(loaded["applications"]) == {s.value for s in ApplicationStatus}
    assert set(loaded["application_kinds"]) == {k.value for k in ApplicationKind}
    assert loaded["applications"]["draft"] >= 3
    pharma = _user(session, "pharma")
    own = list(session.exec(select(Application).where(Application.org_id == pharma.org_id)))
    assert len(own) >= 8 and len({a.status for a in own}) >= 6
    # An open objection with evidence files, one upheld (→ rejected), one dismissed (→ listed).
    open_objection = session.exec(select(Objection).where(
        Objection.status == ObjectionStatus.open)).one()
    assert session.get(Application, open_objection.application_id).status == S.publicizing
    files = list(session.exec(select(Attachment).where(
        Attachment.objection_id == open_objection.id)))
    assert {f.content_type for f in files} == {"application/pdf", "image/png"}
    assert loaded["objections"] == {"dismissed": 1, "open": 1, "upheld": 1}
    assert _count(session, Application, Application.status == S.publicizing) >= 2
    # The price-difference rule ran with numbers (a representative product was given).
    assert session.exec(select(PriceCheck).where(PriceCheck.governing_rule == "diff_ratio")
                        ).first() is not None
    returned = list(session.exec(select(Application).where(Application.status == S.returned)))
    assert returned and all(a.decision_reason for a in returned)
    # Relisting of a suspended listing: one listed again, one under review.
    relist = list(session.exec(select(Application).where(
        Application.kind == ApplicationKind.relisting)))
    assert {a.status for a in relist} == {S.listed, S.under_review}


def test_the_reviewer_queue_has_items_of_different_ages(session, loaded) -> None:
    reviewer = _user(session, "reviewer")
    mine = list(session.exec(select(Application).where(
        Application.assigned_to == reviewer.id,
        Application.status.in_((S.submitted, S.under_review)))))
    assert len(mine) >= 5
    ages = sorted(services.application_age(a).days for a in mine)
    assert len(set(ages)) >= 4 and ages[-1] >= 7
    queue = _count(session, Application, Application.status.in_((S.submitted, S.under_review)))
    assert queue >= 8


def test_evidence_files_are_valid_and_stored(session, loaded, store) -> None:
    attachments = list(session.exec(select(Attachment)))
    assert len(attachments) >= 20
    for att in attachments:
        data = store.get(att.storage_key)
        assert len(data) == att.size and sniff(data)[0] == att.content_type
    pdf = demo.make_pdf("Hello (world)")
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    xref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[xref:xref + 4] == b"xref"
    png = demo.make_png(8, 6)
    length, tag = struct.unpack(">I4s", png[8:16])
    assert tag == b"IHDR" and struct.unpack(">II", png[16:24]) == (8, 6)
    idat_at = png.index(b"IDAT")
    size = struct.unpack(">I", png[idat_at - 4:idat_at])[0]
    assert len(zlib.decompress(png[idat_at + 4:idat_at + 4 + size])) == 6 * (1 + 8 * 3)


def test_the_holiday_calendar(session, loaded) -> None:
    def day(d: date) -> Holiday:
        return session.get(Holiday, d)

    assert loaded["holidays"] == _count(session, Holiday) >= 50
    assert day(date(2026, 2, 17)).name == "春节" and not day(date(2026, 2, 17)).workday
    assert day(date(2026, 2, 14)).workday and day(date(2026, 10, 10)).workday
    assert day(date(2026, 10, 8)) is None  # an ordinary Thursday
    assert "省医保局预置" in day(date(2027, 2, 6)).name


def test_a_second_load_changes_nothing(session, loaded, store) -> None:
    tables = (Product, ReferencePrice, Listing, Application, Objection, Attachment, Holiday,
              PriceCheck, AuditLog)
    before = [_count(session, t) for t in tables]
    versions = session.execute(sa.select(sa.func.sum(Application.version))).scalar_one()
    again = demo.load(session, store)
    assert again.pop("created") is False
    assert again == {k: v for k, v in loaded.items() if k != "created"}
    assert [_count(session, t) for t in tables] == before
    assert session.execute(sa.select(sa.func.sum(Application.version))).scalar_one() == versions


def test_the_plan_is_deterministic() -> None:
    first, second = demo.plan(), demo.plan()
    assert [(p.key, p.values["code"], p.price, [(r.province, r.price) for r in p.refs])
            for p in first.products] == [
        (p.key, p.values["code"], p.price, [(r.province, r.price) for r in p.refs])
        for p in second.products]
    assert first.linkage == second.linkage
