"""Catalogue and reference-price imports: all or nothing, idempotent, reported by line number."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from bench.listing_data import generate_products, products_csv
from core import rules
from core.auth import actor_for_user
from core.errors import Conflict, Forbidden, NotFound
from core.models import AuditLog, Organisation, OrgKind, RuleSet
from core.permissions import Actor
from core.types import local_today
from listing import services_catalogue as cat
from listing.models import (
    ImportBatch,
    ImportKind,
    ImportStatus,
    Listing,
    ListingStatus,
    Product,
    ProductKind,
    ProductStatus,
    ReferencePrice,
)
from tests.support import make_org, make_user

N = 40


@pytest.fixture
def bureau(session) -> Actor:
    org = make_org(session, OrgKind.bureau, name="省医保局")
    return actor_for_user(session, make_user(session, org, "catalogue_manager"))


@pytest.fixture
def company(session) -> Actor:
    org = make_org(session, OrgKind.enterprise)
    return actor_for_user(session, make_user(session, org, "org_admin"))


FOLLOW_DAYS = 17  # deliberately not the default 30, so the test proves the rule set is read


@pytest.fixture
def listing_rules(session):
    """The "listing" rule set (registered by listing.services; registered here if not yet),
    in force with ``linkage_follow_days`` = FOLLOW_DAYS."""
    if "listing" not in rules.registered():
        try:
            from listing.price_rules import DEFAULT_LISTING_RULES, ListingRuleParams
        except ImportError:  # pragma: no cover - the fallback of _linkage_days applies
            return
        rules.register("listing", ListingRuleParams, DEFAULT_LISTING_RULES)
    _, defaults = rules._SCHEMAS["listing"]
    params = {**defaults.model_dump(mode="json"), "linkage_follow_days": FOLLOW_DAYS}
    # Stored directly rather than through rules.publish(): the row is dated 2000-01-01 so it is
    # in force now whatever the clock says.
    last = session.execute(sa.select(sa.func.max(RuleSet.version))
                           .where(RuleSet.name == "listing")).scalar()
    session.add(RuleSet(name="listing", version=(last or 0) + 1, params=params, note="test",
                        effective_from=datetime(2000, 1, 1, tzinfo=UTC)))
    session.flush()


def _products(session) -> dict[str, dict]:
    t = Product.__table__
    return {r.code: r._asdict() for r in session.execute(sa.select(t)).all()}


def _audits(session, action: str) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(AuditLog)
                           .where(AuditLog.action == action)).scalar_one()


def _csv_bytes(rows: list[dict[str, str]]) -> bytes:
    return products_csv(rows)


def _report_rows(batch: ImportBatch) -> list[list[str]]:
    text = cat.import_report_csv(batch).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def _listing(session, product_code: str, org_id: int, price: str, **kw) -> Listing:
    product = session.execute(sa.select(Product).where(Product.code == product_code)).scalar_one()
    listing = Listing(product_id=product.id, org_id=org_id, price=Decimal(price),
                      product_code=product.code, product_kind=product.kind,
                      generic_name=product.generic_name, dosage_form=product.dosage_form,
                      spec=product.spec, company_name="某药业", **kw)
    session.add(listing)
    session.flush()
    return listing


# --- products --------------------------------------------------------------------------------

def test_good_import_creates_every_product(session, bureau):
    rows = generate_products(N, seed=3)
    data = _csv_bytes(rows)
    batch = cat.import_products(session, bureau, "目录.csv", data)
    assert batch.status == ImportStatus.succeeded, batch.errors
    assert (batch.total_rows, batch.created, batch.updated, batch.unchanged,
            batch.error_count) == (N, N, 0, 0, 0)
    assert batch.kind == ImportKind.products and batch.org_id == bureau.org_id
    assert len(batch.sha256) == 64 and batch.errors == []
    stored = _products(session)
    assert set(stored) == {r["code"] for r in rows}
    first = rows[0]
    p = stored[first["code"]]
    assert p["generic_name"] == first["generic_name"] and p["spec"] == first["spec"]
    assert p["units_per_package"] == int(first["units_per_package"])
    assert p["status"] == ProductStatus.active and p["version"] == 1
    assert p["import_batch_id"] == batch.id
    assert p["manufacturer_code"] == first["manufacturer_code"]
    kinds = {p["kind"] for p in stored.values()}
    assert kinds == {ProductKind.drug, ProductKind.consumable}
    for code, p in stored.items():
        if p["kind"] == ProductKind.consumable:
            assert p["group_code"] == code[:20]
        else:
            assert p["group_code"] is None
            src = next(r for r in rows if r["code"] == code)
            assert p["content_value"] == Decimal(src["content_value"])
            assert p["consistency_passed"] is (src["consistency_passed"] == "是")
    assert _audits(session, "catalogue.import") == 1


def test_reimport_changes_nothing(session, bureau):
    data = _csv_bytes(generate_products(N, seed=4))
    cat.import_products(session, bureau, "a.csv", data)
    before = _products(session)
    again = cat.import_products(session, bureau, "a.csv", data)
    assert again.status == ImportStatus.succeeded
    assert (again.created, again.updated, again.unchanged) == (0, 0, N)
    after = _products(session)
    assert after == before  # updated_at, version and import_batch_id untouched
    assert _audits(session, "catalogue.import") == 2  # one per batch, not per row


def test_changed_row_updates_exactly_it_and_its_listings(session, bureau):
    rows = generate_products(N, seed=5)
    cat.import_products(session, bureau, "a.csv", _csv_bytes(rows))
    target = rows[7]
    company = make_org(session, OrgKind.enterprise)
    listing = _listing(session, target["code"], company.id, "12.5")
    other = _listing(session, rows[8]["code"], company.id, "3")
    before = _products(session)

    changed = [dict(r) for r in rows]
    changed[7]["spec"] = target["spec"] + "（新包装）"
    changed[7]["generic_name"] = target["generic_name"] + "片"
    batch = cat.import_products(session, bureau, "b.csv", _csv_bytes(changed))
    assert (batch.created, batch.updated, batch.unchanged) == (0, 1, N - 1)
    after = _products(session)
    for code in after:
        if code == target["code"]:
            continue
        assert after[code] == before[code]
    p = after[target["code"]]
    assert p["spec"] == changed[7]["spec"] and p["version"] == 2
    assert p["updated_at"] > before[target["code"]]["updated_at"]
    assert p["import_batch_id"] == batch.id

    session.expire_all()
    synced = session.get(Listing, listing.id)
    assert (synced.spec, synced.generic_name) == (changed[7]["spec"],
                                                  changed[7]["generic_name"])
    assert synced.version == 2
    untouched = session.get(Listing, other.id)
    assert untouched.version == 1 and untouched.spec == rows[8]["spec"]


def test_three_bad_rows_import_nothing_and_are_reported(session, bureau):
    rows = generate_products(60, seed=6)
    rows[4] = {**rows[4], "code": "X123"}                                 # line 6
    rows[19] = {**rows[19], "manufacturer_code": "91350100M000100Y44"}    # line 21
    rows[44] = {**rows[44], "units_per_package": "0"}                     # line 46
    batch = cat.import_products(session, bureau, "bad.csv", _csv_bytes(rows))
    assert batch.status == ImportStatus.failed
    assert batch.error_count == 3 and batch.total_rows == 60
    assert [(e["row"], e["field"]) for e in batch.errors] == [
        (6, "code"), (21, "manufacturer_code"), (46, "units_per_package")]
    assert _products(session) == {}
    # The failed batch itself is written so its report can be downloaded.
    stored = session.execute(sa.select(ImportBatch).where(ImportBatch.id == batch.id)
                             ).scalar_one()
    assert stored.status == ImportStatus.failed and stored.error_count == 3
    report = _report_rows(stored)
    assert report[0] == ["row", "field", "message"]
    assert [r[:2] for r in report[1:]] == [["6", "code"], ["21", "manufacturer_code"],
                                           ["46", "units_per_package"]]
    assert "23 characters" in report[1][2]
    assert "check character" in report[2][2]
    assert cat.import_report_csv(stored).startswith(b"\xef\xbb\xbf")


def test_duplicate_code_names_both_rows(session, bureau):
    rows = generate_products(10, seed=7)
    rows[6] = {**rows[6], "code": rows[2]["code"], "kind": rows[2]["kind"]}
    batch = cat.import_products(session, bureau, "dup.csv", _csv_bytes(rows))
    assert batch.status == ImportStatus.failed
    assert [(e["row"], e["field"]) for e in batch.errors] == [(8, "code")]
    assert "row 4" in batch.errors[0]["message"] and "row 8" in batch.errors[0]["message"]


def test_kind_must_agree_with_code(session, bureau):
    rows = generate_products(10, seed=8)
    drug = next(i for i, r in enumerate(rows) if r["kind"] == "药品")
    rows[drug] = {**rows[drug], "kind": "耗材"}
    batch = cat.import_products(session, bureau, "k.csv", _csv_bytes(rows))
    assert [(e["row"], e["field"]) for e in batch.errors] == [(drug + 2, "kind")]


def test_kind_defaults_from_code_prefix(session, bureau):
    rows = [{**r, "kind": ""} for r in generate_products(10, seed=9)]
    batch = cat.import_products(session, bureau, "k.csv", _csv_bytes(rows))
    assert batch.status == ImportStatus.succeeded
    stored = _products(session)
    for r in rows:
        expected = ProductKind.consumable if r["code"].startswith("C") else ProductKind.drug
        assert stored[r["code"]]["kind"] == expected


def test_invalid_uscc_and_field_rules(session, bureau):
    rows = generate_products(6, seed=10)
    rows[0] = {**rows[0], "mah_code": "9135010"}                           # too short
    rows[1] = {**rows[1], "content_value": "10", "content_unit": ""}       # unit missing
    rows[2] = {**rows[2], "content_unit": "kg", "content_value": "1"}      # unknown unit
    rows[3] = {**rows[3], "vbp_winner": "maybe"}
    rows[4] = {**rows[4], "generic_name": ""}
    rows[5] = {**rows[5], "volume_ml": "1.23456"}
    batch = cat.import_products(session, bureau, "f.csv", _csv_bytes(rows))
    assert [(e["row"], e["field"]) for e in batch.errors] == [
        (2, "mah_code"), (3, "content_unit"), (4, "content_unit"), (5, "vbp_winner"),
        (6, "generic_name"), (7, "volume_ml")]


def test_missing_required_column_fails_the_batch(session, bureau):
    data = "医保代码,通用名\r\nXA,阿莫西林\r\n".encode()
    batch = cat.import_products(session, bureau, "x.csv", data)
    assert batch.status == ImportStatus.failed
    assert {e["field"] for e in batch.errors} == {"spec", "units_per_package",
                                                  "manufacturer_name"}


def test_manufacturer_linked_to_organisation(session, bureau):
    rows = generate_products(5, seed=11)
    maker = make_org(session, OrgKind.enterprise)
    rows[0] = {**rows[0], "manufacturer_code": maker.code, "mah_code": maker.code,
               "mah_name": maker.name}
    cat.import_products(session, bureau, "m.csv", _csv_bytes(rows))
    p = _products(session)[rows[0]["code"]]
    assert p["manufacturer_org_id"] == maker.id and p["mah_org_id"] == maker.id
    assert _products(session)[rows[1]["code"]]["manufacturer_org_id"] is None


def test_xlsx_import_with_chinese_headers(session, bureau):
    rows = generate_products(5, seed=12)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([c.title for c in cat.PRODUCT_COLUMNS])
    for r in rows:
        ws.append([int(r[c.key]) if c.key == "units_per_package" else r[c.key]
                   for c in cat.PRODUCT_COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    batch = cat.import_products(session, bureau, "目录.xlsx", buf.getvalue())
    assert batch.status == ImportStatus.succeeded, batch.errors
    assert batch.created == 5


def test_company_cannot_import(session, company):
    with pytest.raises(Forbidden):
        cat.import_products(session, company, "a.csv", _csv_bytes(generate_products(2)))
    with pytest.raises(Forbidden):
        cat.import_reference_prices(session, company, "a.csv", b"x")
    with pytest.raises(Forbidden):
        cat.list_import_batches(session, company)


def test_bureau_viewer_cannot_import(session):
    org = make_org(session, OrgKind.bureau)
    viewer = actor_for_user(session, make_user(session, org, "viewer"))
    with pytest.raises(Forbidden):
        cat.import_products(session, viewer, "a.csv", _csv_bytes(generate_products(2)))
    assert cat.list_import_batches(session, viewer).total == 0


def test_batches_listed_and_scoped(session, bureau):
    batch = cat.import_products(session, bureau, "a.csv", _csv_bytes(generate_products(3)))
    cat.import_products(session, bureau, "bad.csv", b"nothing useful")
    page = cat.list_import_batches(session, bureau)
    assert page.total == 2 and page.items[-1].id == batch.id
    assert cat.list_import_batches(session, bureau, kind="reference_prices").total == 0
    assert cat.get_import_batch(session, bureau, batch.id).id == batch.id
    other_bureau = actor_for_user(session, make_user(session, make_org(session, OrgKind.bureau)))
    with pytest.raises(NotFound):
        cat.get_import_batch(session, other_bureau, batch.id)


def test_list_products_search_and_kind(session, bureau, company):
    rows = generate_products(30, seed=13)
    cat.import_products(session, bureau, "a.csv", _csv_bytes(rows))
    consumables = [r for r in rows if r["kind"] == "耗材"]
    page = cat.list_products(session, company, kind="consumable", per_page=100)
    assert {p.code for p in page.items} == {r["code"] for r in consumables}
    name = rows[0]["generic_name"]
    page = cat.list_products(session, company, q=name, per_page=100)
    assert page.total == sum(name in r["generic_name"] for r in rows)
    assert cat.list_products(session, company, q=rows[0]["code"][:12]).total >= 1


def test_templates_have_chinese_headers():
    for data, first in ((cat.product_template_xlsx(), "医保代码"),
                        (cat.reference_template_xlsx(), "医保代码")):
        ws = openpyxl.load_workbook(io.BytesIO(data)).active
        assert ws["A1"].value == first
    ws = openpyxl.load_workbook(io.BytesIO(cat.reference_template_xlsx())).active
    assert [c.value for c in ws[1]] == ["医保代码", "省份", "价格", "日期", "来源"]


# --- reference prices ------------------------------------------------------------------------

def _prices_csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["医保代码", "省份", "价格", "日期", "来源"])
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _expected_follow_days() -> int:
    return FOLLOW_DAYS if "listing" in rules.registered() else cat.DEFAULT_LINKAGE_FOLLOW_DAYS


def test_reference_prices_upsert_and_linkage_deadline(session, bureau, listing_rules):
    rows = generate_products(4, seed=14)
    cat.import_products(session, bureau, "p.csv", _csv_bytes(rows))
    a, b = rows[0]["code"], rows[1]["code"]
    company = make_org(session, OrgKind.enterprise)
    rival = make_org(session, OrgKind.enterprise)
    above = _listing(session, a, company.id, "9.0000")
    equal = _listing(session, a, rival.id, "8.5000")
    earlier = local_today() - timedelta(days=3)
    already = _listing(session, b, company.id, "20", linkage_deadline=earlier)
    suspended = _listing(session, b, rival.id, "30", status=ListingStatus.suspended)

    data = _prices_csv([
        [a, "浙江", "8.50", "2026-01-10", "浙江省医保局挂网价格公告"],
        [a, "江苏", "9.20", "2026-01-12", "江苏省阳光采购平台"],
        [b, "广东", "10.1234", "2026/1/5", "广东省药交所"],
    ])
    batch = cat.import_reference_prices(session, bureau, "ref.csv", data)
    assert batch.status == ImportStatus.succeeded, batch.errors
    assert (batch.created, batch.updated, batch.unchanged) == (3, 0, 0)
    assert batch.kind == ImportKind.reference_prices
    prices = session.execute(sa.select(ReferencePrice.province, ReferencePrice.price)
                             .order_by(ReferencePrice.province)).all()
    assert sorted(prices) == sorted([("浙江", Decimal("8.5000")), ("江苏", Decimal("9.2000")),
                                     ("广东", Decimal("10.1234"))])

    session.expire_all()
    deadline = local_today() + timedelta(days=_expected_follow_days())
    assert session.get(Listing, above.id).linkage_deadline == deadline
    assert session.get(Listing, above.id).version == 2
    assert session.get(Listing, equal.id).linkage_deadline is None  # not above the lowest
    assert session.get(Listing, already.id).linkage_deadline == earlier  # kept
    assert session.get(Listing, suspended.id).linkage_deadline is None  # not listed

    # Same file again: unchanged. A changed price and a new date: one update, one insert.
    again = cat.import_reference_prices(session, bureau, "ref.csv", data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    data2 = _prices_csv([
        [a, "浙江", "8.40", "2026-01-10", "浙江省医保局挂网价格公告（更正）"],
        [a, "浙江", "8.30", "2026-02-01", "浙江省医保局第二批"],
    ])
    third = cat.import_reference_prices(session, bureau, "ref2.csv", data2)
    assert (third.created, third.updated, third.unchanged) == (1, 1, 0)
    assert session.execute(sa.select(sa.func.count()).select_from(ReferencePrice)
                           ).scalar_one() == 4
    assert _audits(session, "catalogue.import_reference_prices") == 3


def test_reference_prices_linkage_uses_latest_price_per_province(session, bureau,
                                                                 listing_rules):
    rows = generate_products(2, seed=15)
    cat.import_products(session, bureau, "p.csv", _csv_bytes(rows))
    code = rows[0]["code"]
    company = make_org(session, OrgKind.enterprise)
    listing = _listing(session, code, company.id, "9")
    # Zhejiang was 5 in 2025 but raised to 9.5 since; the current lowest is 9.5: no linkage.
    data = _prices_csv([[code, "浙江", "5", "2025-03-01", "旧公告"],
                        [code, "浙江", "9.5", "2026-01-01", "新公告"]])
    batch = cat.import_reference_prices(session, bureau, "r.csv", data)
    assert batch.status == ImportStatus.succeeded
    session.expire_all()
    assert session.get(Listing, listing.id).linkage_deadline is None


def test_reference_price_errors(session, bureau):
    rows = generate_products(2, seed=16)
    cat.import_products(session, bureau, "p.csv", _csv_bytes(rows))
    code = rows[0]["code"]
    future = (local_today() + timedelta(days=10)).isoformat()
    data = _prices_csv([
        [code, "浙江", "8.5", "2026-01-10", "公告"],
        ["XNOSUCHCODE0000000000001", "浙江", "1", "2026-01-10", "公告"],   # line 3
        [code, "江苏", "0", "2026-01-10", "公告"],                          # line 4
        [code, "江苏", "1.23456", "2026-01-10", "公告"],                    # line 5
        [code, "江苏", "1", "someday", "公告"],                             # line 6
        [code, "江苏", "1", future, "公告"],                                # line 7
        [code, "江苏", "1", "2026-01-10", ""],                              # line 8
        [code, "浙江", "8.6", "2026-01-10", "重复"],                        # line 9
    ])
    batch = cat.import_reference_prices(session, bureau, "r.csv", data)
    assert batch.status == ImportStatus.failed
    assert [(e["row"], e["field"]) for e in batch.errors] == [
        (3, "product_code"), (4, "price"), (5, "price"), (6, "price_date"),
        (7, "price_date"), (8, "source"), (9, "price_date")]
    assert "row 2" in batch.errors[-1]["message"]
    assert session.execute(sa.select(sa.func.count()).select_from(ReferencePrice)
                           ).scalar_one() == 0


def test_reference_price_excel_date_serial(session, bureau):
    rows = generate_products(1, seed=17)
    cat.import_products(session, bureau, "p.csv", _csv_bytes(rows))
    data = _prices_csv([[rows[0]["code"], "浙江", "8.5", "46032", "公告"]])  # 2026-01-10
    batch = cat.import_reference_prices(session, bureau, "r.csv", data)
    assert batch.status == ImportStatus.succeeded, batch.errors
    stored = session.execute(sa.select(ReferencePrice.price_date)).scalar_one()
    assert stored.isoformat() == "2026-01-10"


def test_large_file_paths(session, bureau, monkeypatch):
    """The paths taken for big files (one full read instead of IN lists; ANALYZE after COPY on
    PostgreSQL) give the same results."""
    monkeypatch.setattr(cat, "FULL_READ_ROWS", 1)
    monkeypatch.setattr(cat, "ANALYZE_AFTER_ROWS", 1)
    rows = generate_products(N, seed=18)
    other = generate_products(3, seed=19)  # stored, but not in the file
    cat.import_products(session, bureau, "o.csv", _csv_bytes(other))
    assert cat.import_products(session, bureau, "a.csv", _csv_bytes(rows)).created == N
    again = cat.import_products(session, bureau, "a.csv", _csv_bytes(rows))
    assert (again.created, again.updated, again.unchanged) == (0, 0, N)
    rows[3] = {**rows[3], "trade_name": "新商品名"}
    changed = cat.import_products(session, bureau, "a.csv", _csv_bytes(rows))
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, N - 1)
    assert _products(session)[rows[3]["code"]]["trade_name"] == "新商品名"


def test_concurrent_creation_is_a_conflict(session, bureau, monkeypatch):
    rows = generate_products(5, seed=20)
    cat.import_products(session, bureau, "a.csv", _csv_bytes(rows))
    # As if another import committed these products after this one looked them up.
    monkeypatch.setattr(cat, "_existing_products", lambda s, c: {})
    with pytest.raises(Conflict):
        cat.import_products(session, bureau, "a.csv", _csv_bytes(rows))


def test_system_actor_imports_for_the_bureau(session, system_actor, monkeypatch):
    bureau_org = make_org(session, OrgKind.bureau)
    batch = cat.import_products(session, system_actor, "a.csv", _csv_bytes(generate_products(2)))
    assert batch.status == ImportStatus.succeeded
    assert batch.org_id == bureau_org.id or session.get(Organisation, batch.org_id).kind \
        == OrgKind.bureau
    # A huge number of errors: the stored report is capped and says so.
    monkeypatch.setattr(cat, "MAX_REPORTED_ERRORS", 2)
    rows = [{**r, "code": f"bad{i}"} for i, r in enumerate(generate_products(4, seed=21))]
    failed = cat.import_products(session, system_actor, "b.csv", _csv_bytes(rows))
    assert failed.error_count == 4 and len(failed.errors) == 3
    assert "2 more errors" in failed.errors[-1]["message"]
