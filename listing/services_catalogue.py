"""The product catalogue (产品目录) and reference prices (参考价格): bulk import by bureau staff.

An upload (.xlsx or CSV, read by :mod:`core.tabular`) is validated whole: every row and field is
checked and every problem is reported with its line number. Any error → nothing is written but
the failed :class:`ImportBatch` (导入批次), whose error report can be downloaded. Otherwise the
rows are upserted in bulk through SQLAlchemy Core (chunked queries, executemany), never one ORM
object or one query per row: a province's 100,000 products import in seconds.

Services only ``flush()``; the caller owns the transaction.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core import audit, codes, rules
from core.errors import Conflict, ErrorCollector, Forbidden, Invalid
from core.models import Organisation, OrgKind
from core.money import MAX_PRICE, PRICE_PLACES, to_price
from core.permissions import Actor
from core.scoping import get_readable, readable_by
from core.services import Page, paginate
from core.tabular import Column, errors_csv, read_table, template_xlsx, whole_number
from core.types import local_today, utcnow
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
from listing.permissions import CATALOGUE_IMPORT, CATALOGUE_READ

__all__ = [
    "PRODUCT_COLUMNS",
    "REFERENCE_PRICE_COLUMNS",
    "get_import_batch",
    "import_products",
    "import_reference_prices",
    "import_report_csv",
    "list_import_batches",
    "list_products",
    "product_template_xlsx",
    "reference_template_xlsx",
]

#: Rows per query or executemany call in the bulk phases.
CHUNK = 5_000
#: A product file with at least this many rows is matched against one full read of the table.
FULL_READ_ROWS = 20_000
#: After inserting this many rows on PostgreSQL the table is ANALYZEd.
ANALYZE_AFTER_ROWS = 10_000
#: At most this many errors are stored on a failed batch (``error_count`` has the total).
MAX_REPORTED_ERRORS = 10_000
#: Days a listing has to follow a lower price elsewhere, used only while the "listing" rule set
#: is not registered (see :func:`_linkage_days`).
DEFAULT_LINKAGE_FOLLOW_DAYS = 30

# --- columns of the uploads ------------------------------------------------------------------

PRODUCT_COLUMNS: tuple[Column, ...] = (
    Column("code", ("医保代码", "医保编码", "国家医保代码"), required=True),
    Column("kind", ("类别", "产品类别")),
    Column("generic_name", ("通用名", "通用名称"), required=True),
    Column("trade_name", ("商品名", "商品名称")),
    Column("category", ("分类",)),
    Column("dosage_form", ("剂型",)),
    Column("spec", ("规格",), required=True),
    Column("content_value", ("含量",)),
    Column("content_unit", ("含量单位",)),
    Column("volume_ml", ("装量(ml)", "装量")),
    Column("units_per_package", ("转换比", "转换系数"), required=True),
    Column("min_unit", ("最小单位", "最小制剂单位")),
    Column("package_unit", ("包装单位",)),
    Column("package_material", ("包装材质",)),
    Column("package_form", ("包装形式",)),
    Column("manufacturer_name", ("生产企业", "生产企业名称"), required=True),
    Column("manufacturer_code", ("生产企业统一社会信用代码",)),
    Column("mah_name", ("上市许可持有人",)),
    Column("mah_code", ("上市许可持有人统一社会信用代码",)),
    Column("approval_number", ("批准文号", "注册证号", "批准文号/注册证号")),
    Column("consistency_passed", ("过评", "通过一致性评价")),
    Column("reference_preparation", ("参比制剂",)),
    Column("vbp_winner", ("集采中选",)),
    Column("negotiated", ("国谈", "国家谈判")),
)

REFERENCE_PRICE_COLUMNS: tuple[Column, ...] = (
    Column("product_code", ("医保代码", "医保编码"), required=True),
    Column("province", ("省份",), required=True),
    Column("price", ("价格", "价格(元)"), required=True),
    Column("price_date", ("日期", "价格日期"), required=True),
    Column("source", ("来源", "价格来源"), required=True),
)

_KINDS = {
    "药品": ProductKind.drug, "西药": ProductKind.drug, "中成药": ProductKind.drug,
    "drug": ProductKind.drug,
    "耗材": ProductKind.consumable, "医用耗材": ProductKind.consumable,
    "consumable": ProductKind.consumable,
}
_KIND_BY_PREFIX = {"X": ProductKind.drug, "Z": ProductKind.drug, "C": ProductKind.consumable}
_CONTENT_UNITS = {"mg": "mg", "g": "g", "μg": "μg", "ug": "μg", "mcg": "μg",
                  "iu": "IU", "万iu": "万IU"}
_TRUE = frozenset({"是", "y", "yes", "1", "true", "√"})
_FALSE = frozenset({"否", "n", "no", "0", "false", ""})
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+", re.ASCII)
_DATE = re.compile(r"([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?"
                   r"(?:[ T][0-9:.]+)?", re.ASCII)
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01 in Excel's (leap-year bug) calendar
_MAX_UNITS_PER_PACKAGE = 1_000_000

_TEXT_FIELDS = ("generic_name", "trade_name", "category", "dosage_form", "spec", "min_unit",
                "package_unit", "package_material", "package_form", "manufacturer_name",
                "mah_name", "approval_number")
_REQUIRED_TEXT = frozenset({"generic_name", "spec", "manufacturer_name"})
_BOOL_FIELDS = ("consistency_passed", "reference_preparation", "vbp_winner", "negotiated")
#: Product columns an import sets and compares (everything but the key and bookkeeping).
_COMPARED = ("kind", "status", *_TEXT_FIELDS, "content_value", "content_unit", "volume_ml",
             "units_per_package", "manufacturer_code", "manufacturer_org_id", "mah_code",
             "mah_org_id", *_BOOL_FIELDS, "group_code")
#: Product fields copied onto listings (kept in sync when a product changes).
_LISTING_COPY = {"product_code": "code", "generic_name": "generic_name", "spec": "spec",
                 "dosage_form": "dosage_form"}


def _max_length(table: sa.Table, name: str) -> int | None:
    return getattr(table.c[name].type, "length", None)


_PRODUCT_LENGTHS = {name: _max_length(Product.__table__, name) for name in _TEXT_FIELDS}


# --- permissions and small helpers -----------------------------------------------------------

def _require_import(actor: Actor) -> None:
    if not (actor.is_bureau and actor.can(CATALOGUE_IMPORT)):
        raise Forbidden("only bureau staff may import the catalogue and reference prices")


def _require_bureau_reader(actor: Actor) -> None:
    if not (actor.is_bureau and actor.can(CATALOGUE_READ)):
        raise Forbidden("only bureau staff see import batches")


def _batch_org_id(session: Session, actor: Actor) -> int:
    """The organisation an import batch belongs to: the actor's, or for the system actor (CLI,
    jobs) the first bureau organisation."""
    if actor.org_id is not None:
        return actor.org_id
    org_id = session.execute(
        sa.select(Organisation.id).where(Organisation.kind == OrgKind.bureau)
        .order_by(Organisation.id).limit(1)
    ).scalar()
    if org_id is None:
        raise Conflict("there is no bureau organisation to own the import")
    return org_id


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _positive_decimal(text: str, field: str, what: str, errors: ErrorCollector,
                      line: int) -> Decimal | None:
    """A positive decimal with at most 4 places (stored in a ``Numeric(18, 4)``)."""
    value = _nfkc(text)
    if not _PLAIN_DECIMAL.fullmatch(value):
        errors.add(field, f"The {what} must be a plain decimal number, such as 12.5.", line)
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:  # pragma: no cover - excluded by the pattern
        errors.add(field, f"The {what} is not a number.", line)
        return None
    if number <= 0:
        errors.add(field, f"The {what} must be greater than 0.", line)
        return None
    if number > MAX_PRICE:
        errors.add(field, f"The {what} is too large.", line)
        return None
    if number.quantize(PRICE_PLACES) != number:
        errors.add(field, f"The {what} may have at most 4 decimal places.", line)
        return None
    return number


def _parse_bool(text: str, field: str, errors: ErrorCollector, line: int) -> bool:
    value = _nfkc(text).casefold()
    if value in _TRUE:
        return True
    if value not in _FALSE:
        errors.add(field, "Enter 是 or 否 (Y/N, 1/0, true/false).", line)
    return False


def _parse_date(text: str, field: str, errors: ErrorCollector, line: int) -> date | None:
    value = _nfkc(text)
    day: date | None = None
    if value.isdigit() and len(value) == 5:
        # An Excel date serial number (a date cell saved as a number).
        serial = int(value)
        if 20_000 <= serial <= 80_000:
            day = _EXCEL_EPOCH + timedelta(days=serial)
    else:
        match = _DATE.fullmatch(value)
        if match:
            try:
                day = date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                day = None
        elif len(value) == 8 and value.isdigit():
            try:
                day = date.fromisoformat(value)  # 20260115
            except ValueError:
                day = None
    if day is None:
        errors.add(field, "Enter a date such as 2026-01-15.", line)
        return None
    if day > local_today():
        errors.add(field, "The date must not be in the future.", line)
        return None
    return day


class _UsccCache:
    """Validates credit codes once each: a file repeats a few thousand manufacturers."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str | None, str | None]] = {}

    def check(self, text: str, field: str, errors: ErrorCollector, line: int) -> str | None:
        hit = self._seen.get(text)
        if hit is None:
            try:
                hit = (codes.validate_uscc(text, field), None)
            except Invalid as exc:
                hit = (None, exc.errors[0].message)
            self._seen[text] = hit
        code, message = hit
        if message is not None:
            errors.add(field, message, line)
        return code


def _code_validator(kind: ProductKind) -> Callable[[str, str], str]:
    return codes.validate_drug_code if kind == ProductKind.drug else \
        codes.validate_consumable_code


# --- parsing product rows --------------------------------------------------------------------

def _parse_product(line: int, values: dict[str, str], errors: ErrorCollector,
                   usccs: _UsccCache) -> dict[str, Any] | None:
    """Validate one row of the product file; return the product's column values or None."""
    n_errors = len(errors.errors)
    row: dict[str, Any] = {}

    raw_code = _nfkc(values["code"]).upper()
    inferred = _KIND_BY_PREFIX.get(raw_code[:1])
    kind: ProductKind | None = None
    kind_text = _nfkc(values["kind"]).casefold()
    if kind_text:
        kind = _KINDS.get(kind_text)
        if kind is None:
            errors.add("kind", "Enter 药品 or 耗材 (drug or consumable).", line)
        elif inferred is not None and inferred != kind:
            errors.add("kind", f"The kind {values['kind']} does not agree with the code "
                       f"{raw_code}: codes starting with {raw_code[:1]} are "
                       f"{inferred.value}s.", line)
            kind = None
    else:
        kind = inferred
    code: str | None = None
    if not raw_code:
        errors.add("code", "Enter the insurance code.", line)
    elif (kind or inferred) is not None:
        try:
            code = _code_validator(kind or inferred)(raw_code, "code")
        except Invalid as exc:
            errors.add("code", exc.errors[0].message, line)
    else:
        errors.add("code", "The code must start with X or Z (drug) or C (consumable).", line)
    row["code"] = code
    row["kind"] = kind

    for name in _TEXT_FIELDS:
        text = values[name]
        limit = _PRODUCT_LENGTHS[name]
        if not text:
            if name in _REQUIRED_TEXT:
                errors.add(name, "This field is required.", line)
            row[name] = None
        elif limit is not None and len(text) > limit:
            errors.add(name, f"At most {limit} characters.", line)
        else:
            row[name] = text

    content_value = values["content_value"]
    content_unit = values["content_unit"]
    row["content_value"] = row["content_unit"] = None
    if content_value:
        row["content_value"] = _positive_decimal(content_value, "content_value", "content",
                                                 errors, line)
    if content_unit:
        unit = _CONTENT_UNITS.get(_nfkc(content_unit).casefold().replace(" ", ""))
        if unit is None:
            errors.add("content_unit", "The content unit must be one of mg, g, μg, IU, 万IU.",
                       line)
        row["content_unit"] = unit
    if content_value and not content_unit:
        errors.add("content_unit", "Enter the unit of the content.", line)
    elif content_unit and not content_value:
        errors.add("content_value", "Enter the content for its unit.", line)

    row["volume_ml"] = None
    if values["volume_ml"]:
        row["volume_ml"] = _positive_decimal(values["volume_ml"], "volume_ml", "fill volume",
                                             errors, line)

    units = _nfkc(values["units_per_package"])
    if not units:
        errors.add("units_per_package", "This field is required.", line)
    else:
        ratio = "The conversion ratio must be a whole number greater than 0."
        row["units_per_package"] = whole_number(units, "units_per_package", line, errors,
                                                minimum=1, maximum=_MAX_UNITS_PER_PACKAGE,
                                                message=ratio, range_message=ratio)

    for name in ("manufacturer_code", "mah_code"):
        row[name] = usccs.check(values[name], name, errors, line) if values[name] else None

    for name in _BOOL_FIELDS:
        row[name] = _parse_bool(values[name], name, errors, line)

    if len(errors.errors) > n_errors:
        return None
    row["status"] = ProductStatus.active
    row["group_code"] = (codes.consumable_group_code(code)
                         if kind == ProductKind.consumable else None)
    return row


def _parse_products(table: list[tuple[int, dict[str, str]]],
                    errors: ErrorCollector) -> list[dict[str, Any]]:
    usccs = _UsccCache()
    first_line: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for line, values in table:
        row = _parse_product(line, values, errors, usccs)
        code = row["code"] if row else None
        if code is None:
            # Still catch a duplicate whose other fields are wrong.
            code = _nfkc(values["code"]).upper() or None
        if code is not None:
            first = first_line.setdefault(code, line)
            if first != line:
                errors.add("code", f"The code {code} appears more than once: on row {first} "
                           f"and on row {line}.", line)
                continue
        if row is not None:
            rows.append(row)
    return rows


# --- batches ---------------------------------------------------------------------------------

@dataclass
class _Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _error_dicts(errors: list[Any]) -> list[dict[str, Any]]:
    out = [{"row": e.row, "field": e.field, "message": e.message}
           for e in errors[:MAX_REPORTED_ERRORS]]
    if len(errors) > MAX_REPORTED_ERRORS:
        out.append({"row": None, "field": "file",
                    "message": f"{len(errors) - MAX_REPORTED_ERRORS:,} more errors are not "
                               "listed; correct these and import the file again."})
    return out


def _new_batch(session: Session, actor: Actor, kind: ImportKind, filename: str,
               data: bytes) -> ImportBatch:
    return ImportBatch(kind=kind, status=ImportStatus.succeeded,
                       org_id=_batch_org_id(session, actor), filename=(filename or "")[:255],
                       sha256=hashlib.sha256(data).hexdigest(), created_by=actor.user_id)


def _audit_batch(session: Session, actor: Actor, action: str, batch: ImportBatch,
                 **extra: Any) -> None:
    audit.record(session, actor, action, "import_batch", batch.id, org_id=batch.org_id,
                 after={"kind": batch.kind, "status": batch.status, "filename": batch.filename,
                        "sha256": batch.sha256, "total_rows": batch.total_rows,
                        "created": batch.created, "updated": batch.updated,
                        "unchanged": batch.unchanged, "error_count": batch.error_count,
                        **extra})


def _fail(session: Session, actor: Actor, action: str, batch: ImportBatch,
          errors: list[Any]) -> ImportBatch:
    batch.status = ImportStatus.failed
    batch.error_count = len(errors)
    batch.errors = _error_dicts(errors)
    session.add(batch)
    session.flush()
    _audit_batch(session, actor, action, batch)
    return batch


def _read(filename: str, data: bytes, columns: Sequence[Column],
          errors: ErrorCollector) -> list[tuple[int, dict[str, str]]]:
    try:
        table = read_table(filename, data, columns)
    except Invalid as exc:
        errors.errors.extend(exc.errors)
        return []
    if not table:
        errors.add("file", "The file has no data rows.", None)
    return table


# --- product import --------------------------------------------------------------------------

def _org_ids_by_code(session: Session, org_codes: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(org_codes)):
        found.update(session.execute(
            sa.select(Organisation.code, Organisation.id).where(Organisation.code.in_(chunk))
        ).all())
    return found


def _existing_products(session: Session, product_codes: list[str]) -> dict[str, Any]:
    """The stored products with these codes (id, version and the compared columns)."""
    t = Product.__table__
    cols = [t.c.id, t.c.code, t.c.version, *(t.c[name] for name in _COMPARED)]
    found: dict[str, Any] = {}
    if len(product_codes) >= FULL_READ_ROWS:
        # A file with a large part of the catalogue: one streamed sequential read is cheaper
        # than tens of thousands of index probes, and it does not depend on the planner's
        # statistics being fresh (IN lists against a just-loaded table can turn into repeated
        # sequential scans).
        wanted = set(product_codes)
        for rec in session.execute(sa.select(*cols).execution_options(yield_per=CHUNK)):
            if rec.code in wanted:
                found[rec.code] = rec
        return found
    for chunk in _chunks(product_codes):
        for rec in session.execute(sa.select(*cols).where(t.c.code.in_(chunk))):
            found[rec.code] = rec
    return found


def _bulk_insert(session: Session, table: sa.Table, rows: list[dict[str, Any]],
                 conflict: str) -> None:
    """Insert ``rows`` (dicts with the same keys): ``COPY`` on PostgreSQL (psycopg), else a
    chunked Core executemany. A unique-key clash (a concurrent import) is a ``Conflict``."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    try:
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            _copy_rows(conn, table, rows)
            if len(rows) >= ANALYZE_AFTER_ROWS:
                # Fresh statistics, so the next lookups by code use the index at once instead
                # of waiting for autovacuum.
                conn.exec_driver_sql(f"ANALYZE {dialect.identifier_preparer.format_table(table)}")
        else:
            for chunk in _chunks(rows):
                session.execute(sa.insert(table), list(chunk))
    except sa.exc.IntegrityError:
        raise Conflict(conflict) from None


def _copy_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    import psycopg

    dialect = conn.dialect
    names = list(rows[0])
    quote = dialect.identifier_preparer.quote
    # The columns' own bind processing (Price → Decimal, EnumStr → value, UTCDateTime → aware
    # UTC), exactly as an INSERT would bind them.
    procs = [table.c[name].type.bind_processor(dialect) for name in names]
    sql = (f"COPY {dialect.identifier_preparer.format_table(table)} "
           f"({', '.join(quote(n) for n in names)}) FROM STDIN")
    driver_conn = conn.connection.driver_connection
    try:
        with driver_conn.cursor() as cur, cur.copy(sql) as copy:
            for row in rows:
                copy.write_row([row[n] if proc is None else proc(row[n])
                                for n, proc in zip(names, procs, strict=True)])
    except psycopg.errors.UniqueViolation as exc:
        raise sa.exc.IntegrityError(sql, None, exc) from exc


def _product_update_statement() -> sa.Update:
    t = Product.__table__
    return (
        sa.update(t)
        .where(t.c.id == sa.bindparam("b_id"), t.c.version == sa.bindparam("b_version"))
        .values({**{t.c[name]: sa.bindparam(f"b_{name}", type_=t.c[name].type)
                    for name in _COMPARED},
                 t.c.import_batch_id: sa.bindparam("b_import_batch_id"),
                 t.c.updated_at: sa.bindparam("b_now", type_=t.c.updated_at.type),
                 t.c.version: t.c.version + 1})
    )


def _listing_sync_statement() -> sa.Update:
    t = Listing.__table__
    differs = sa.or_(*(t.c[col].is_distinct_from(sa.bindparam(f"b_{col}", type_=t.c[col].type))
                       for col in _LISTING_COPY))
    return (
        sa.update(t)
        .where(t.c.product_id == sa.bindparam("b_product_id"), differs)
        .values({**{t.c[col]: sa.bindparam(f"b_{col}", type_=t.c[col].type)
                    for col in _LISTING_COPY},
                 t.c.updated_at: sa.bindparam("b_now", type_=t.c.updated_at.type),
                 t.c.version: t.c.version + 1})
    )


def _executemany(session: Session, stmt: Any, params: list[dict[str, Any]]) -> int:
    affected = 0
    for chunk in _chunks(params):
        affected += session.execute(stmt, list(chunk)).rowcount
    return affected


def import_products(session: Session, actor: Actor, filename: str, data: bytes) -> ImportBatch:
    """Import the product catalogue (产品目录导入) from an .xlsx or CSV file, all or nothing.

    Every row is validated and every problem collected; with any error nothing but the failed
    batch (with its error report) is written. Otherwise products are upserted by code: new ones
    inserted, changed ones updated (``version`` and ``updated_at`` bumped, listings' copies of
    code, name, spec and form kept in sync), identical ones left alone.
    """
    _require_import(actor)
    action = "catalogue.import"
    batch = _new_batch(session, actor, ImportKind.products, filename, data)
    errors = ErrorCollector()
    table = _read(filename, data, PRODUCT_COLUMNS, errors)
    batch.total_rows = len(table)
    rows = _parse_products(table, errors) if table else []
    if errors:
        return _fail(session, actor, action, batch, errors.errors)

    session.add(batch)
    session.flush()
    now = utcnow()
    org_ids = _org_ids_by_code(
        session, {r[k] for r in rows for k in ("manufacturer_code", "mah_code") if r[k]})
    for row in rows:
        row["manufacturer_org_id"] = org_ids.get(row["manufacturer_code"] or "")
        row["mah_org_id"] = org_ids.get(row["mah_code"] or "")

    existing = _existing_products(session, [r["code"] for r in rows])
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    listing_syncs: list[dict[str, Any]] = []
    outcome = _Outcome()
    for row in rows:
        old = existing.get(row["code"])
        if old is None:
            inserts.append({**row, "import_batch_id": batch.id, "proposed_by_org_id": None,
                            "version": 1, "created_at": now, "updated_at": now})
            continue
        if tuple(old[3:]) == tuple(row[name] for name in _COMPARED):  # id, code, version first
            outcome.unchanged += 1
            continue
        params = {f"b_{name}": row[name] for name in _COMPARED}
        params.update(b_id=old.id, b_version=old.version, b_import_batch_id=batch.id, b_now=now)
        updates.append(params)
        if any(getattr(old, src) != row[src] for src in _LISTING_COPY.values() if src != "code"):
            listing_syncs.append({"b_product_id": old.id, "b_now": now,
                                  **{f"b_{col}": row[src] for col, src in _LISTING_COPY.items()}})

    _bulk_insert(session, Product.__table__, inserts,
                 "some of these products were created by another import at the same time; "
                 "import the file again")
    outcome.created = len(inserts)
    if updates:
        done = _executemany(session, _product_update_statement(), updates)
        if done != len(updates):
            raise Conflict("some of these products were changed at the same time; import the "
                           "file again")
        outcome.updated = len(updates)
    synced = _executemany(session, _listing_sync_statement(), listing_syncs) \
        if listing_syncs else 0

    batch.created, batch.updated, batch.unchanged = (outcome.created, outcome.updated,
                                                     outcome.unchanged)
    session.add(batch)
    session.flush()
    _audit_batch(session, actor, action, batch, listings_synced=synced)
    return batch


# --- reference prices ------------------------------------------------------------------------

def _linkage_days(session: Session) -> int:
    """Days a listing has to follow a lower reference price (价格联动跟进期限).

    FALLBACK: read from the "listing" rule set (``linkage_follow_days``) when it is registered
    (by ``listing.services``); until then the documented default of 30 days applies.
    """
    if "listing" not in rules.registered():
        return DEFAULT_LINKAGE_FOLLOW_DAYS
    return int(rules.current(session, "listing").params.linkage_follow_days)


def _product_ids_by_code(session: Session, product_codes: set[str]) -> dict[str, int]:
    t = Product.__table__
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(product_codes)):
        found.update(session.execute(
            sa.select(t.c.code, t.c.id).where(t.c.code.in_(chunk))).all())
    return found


def _parse_reference_prices(session: Session, table: list[tuple[int, dict[str, str]]],
                            errors: ErrorCollector) -> list[dict[str, Any]]:
    product_ids = _product_ids_by_code(
        session, {_nfkc(v["product_code"]).upper() for _, v in table if v["product_code"]})
    province_limit = _max_length(ReferencePrice.__table__, "province")
    source_limit = _max_length(ReferencePrice.__table__, "source")
    first_line: dict[tuple[int, str, date], int] = {}
    rows: list[dict[str, Any]] = []
    for line, values in table:
        n_errors = len(errors.errors)
        code = _nfkc(values["product_code"]).upper()
        product_id = product_ids.get(code)
        if not code:
            errors.add("product_code", "Enter the insurance code.", line)
        elif product_id is None:
            errors.add("product_code", f"No product with the code {code} is in the catalogue.",
                       line)
        province = _nfkc(values["province"])
        if not province:
            errors.add("province", "This field is required.", line)
        elif province_limit and len(province) > province_limit:
            errors.add("province", f"At most {province_limit} characters.", line)
        price: Decimal | None = None
        if not values["price"]:
            errors.add("price", "This field is required.", line)
        else:
            try:
                price = to_price(_nfkc(values["price"]), field="price")
            except Invalid as exc:
                errors.add("price", exc.errors[0].message, line)
            else:
                if price <= 0:
                    errors.add("price", "The price must be greater than 0.", line)
        price_date = None
        if not values["price_date"]:
            errors.add("price_date", "This field is required.", line)
        else:
            price_date = _parse_date(values["price_date"], "price_date", errors, line)
        source = values["source"]
        if not source:
            errors.add("source", "Enter the source, e.g. the title of the price notice.", line)
        elif source_limit and len(source) > source_limit:
            errors.add("source", f"At most {source_limit} characters.", line)
        if len(errors.errors) > n_errors:
            continue
        key = (product_id, province, price_date)
        first = first_line.setdefault(key, line)
        if first != line:
            errors.add("price_date", f"The price of {code} in {province} on {price_date} "
                       f"appears more than once: on row {first} and on row {line}.", line)
            continue
        rows.append({"product_id": product_id, "province": province, "price": price,
                     "price_date": price_date, "source": source})
    return rows


def _lowest_reference_prices(session: Session, product_ids: list[int]) -> dict[int, Decimal]:
    """The lowest current reference price per product: each province's latest price, then the
    lowest of those (the national lowest price 全国最低价 for linkage)."""
    rp = ReferencePrice.__table__
    lowest: dict[int, Decimal] = {}
    for chunk in _chunks(product_ids):
        latest = (sa.select(rp.c.product_id, rp.c.province,
                            sa.func.max(rp.c.price_date).label("latest"))
                  .where(rp.c.product_id.in_(chunk))
                  .group_by(rp.c.product_id, rp.c.province).subquery())
        stmt = (sa.select(rp.c.product_id, sa.func.min(rp.c.price))
                .join(latest, sa.and_(rp.c.product_id == latest.c.product_id,
                                      rp.c.province == latest.c.province,
                                      rp.c.price_date == latest.c.latest))
                .group_by(rp.c.product_id))
        lowest.update(session.execute(stmt).all())
    return lowest


def _flag_linkage(session: Session, product_ids: list[int], now: datetime) -> list[int]:
    """Set the linkage deadline (联动期限) on listed listings priced above the new lowest
    reference price that have none yet; return their ids."""
    lowest = _lowest_reference_prices(session, product_ids)
    lt = Listing.__table__
    flagged: list[int] = []
    for chunk in _chunks(sorted(lowest)):
        for listing_id, product_id, price in session.execute(
                sa.select(lt.c.id, lt.c.product_id, lt.c.price)
                .where(lt.c.product_id.in_(chunk), lt.c.status == ListingStatus.listed,
                       lt.c.linkage_deadline.is_(None))):
            if price > lowest[product_id]:
                flagged.append(listing_id)
    if not flagged:
        return []
    deadline = local_today() + timedelta(days=_linkage_days(session))
    for chunk in _chunks(flagged):
        session.execute(
            sa.update(lt).where(lt.c.id.in_(chunk), lt.c.linkage_deadline.is_(None))
            .values({lt.c.linkage_deadline: deadline, lt.c.updated_at: now,
                     lt.c.version: lt.c.version + 1}))
    return flagged


def import_reference_prices(session: Session, actor: Actor, filename: str,
                            data: bytes) -> ImportBatch:
    """Import reference prices (参考价格: other provinces' listing or winning prices), all or
    nothing, upserting on (product, province, date).

    Afterwards every listed listing of the products concerned that is priced above the lowest
    current reference price and has no linkage deadline gets one: today (Asia/Shanghai) plus
    the rule set's ``linkage_follow_days``.
    """
    _require_import(actor)
    action = "catalogue.import_reference_prices"
    batch = _new_batch(session, actor, ImportKind.reference_prices, filename, data)
    errors = ErrorCollector()
    table = _read(filename, data, REFERENCE_PRICE_COLUMNS, errors)
    batch.total_rows = len(table)
    rows = _parse_reference_prices(session, table, errors) if table else []
    if errors:
        return _fail(session, actor, action, batch, errors.errors)

    session.add(batch)
    session.flush()
    now = utcnow()
    rp = ReferencePrice.__table__
    product_ids = sorted({r["product_id"] for r in rows})
    existing: dict[tuple[int, str, date], Any] = {}
    for chunk in _chunks(product_ids):
        for rec in session.execute(
                sa.select(rp.c.id, rp.c.product_id, rp.c.province, rp.c.price_date,
                          rp.c.price, rp.c.source).where(rp.c.product_id.in_(chunk))):
            existing[(rec.product_id, rec.province, rec.price_date)] = rec
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row in rows:
        old = existing.get((row["product_id"], row["province"], row["price_date"]))
        if old is None:
            inserts.append({**row, "import_batch_id": batch.id, "created_at": now})
        elif old.price != row["price"] or old.source != row["source"]:
            updates.append({"b_id": old.id, "b_price": row["price"], "b_source": row["source"],
                            "b_import_batch_id": batch.id})
        else:
            batch.unchanged += 1
    _bulk_insert(session, rp, inserts, "some of these prices were imported by another upload "
                 "at the same time; import the file again")
    if updates:
        _executemany(session, sa.update(rp).where(rp.c.id == sa.bindparam("b_id")).values({
            rp.c.price: sa.bindparam("b_price", type_=rp.c.price.type),
            rp.c.source: sa.bindparam("b_source"),
            rp.c.import_batch_id: sa.bindparam("b_import_batch_id")}), updates)
    batch.created, batch.updated = len(inserts), len(updates)
    flagged = _flag_linkage(session, product_ids, now)
    session.add(batch)
    session.flush()
    _audit_batch(session, actor, action, batch, linkage_deadlines_set=len(flagged),
                 linkage_listing_ids=flagged[:1000])
    return batch


# --- reading batches and products ------------------------------------------------------------

def list_import_batches(session: Session, actor: Actor, kind: ImportKind | str | None = None,
                        page: int = 1, per_page: int = 50) -> Page:
    """Import batches of the actor's bureau, newest first (bureau staff only)."""
    _require_bureau_reader(actor)
    stmt = readable_by(ImportBatch, actor)
    if kind is not None:
        stmt = stmt.where(ImportBatch.kind == ImportKind(kind))
    return paginate(session, stmt.order_by(ImportBatch.created_at.desc(), ImportBatch.id.desc()),
                    page, per_page)


def get_import_batch(session: Session, actor: Actor, batch_id: int) -> ImportBatch:
    _require_bureau_reader(actor)
    return get_readable(session, ImportBatch, batch_id, actor)


def import_report_csv(batch: ImportBatch) -> bytes:
    """The batch's error report as a downloadable CSV (``row,field,message``)."""
    return errors_csv(batch.errors or [])


def list_products(session: Session, actor: Actor, q: str | None = None,
                  kind: ProductKind | str | None = None, page: int = 1,
                  per_page: int = 50) -> Page:
    """Products of the catalogue the actor may read, by code; ``q`` matches a code prefix or
    part of the generic, trade or manufacturer name."""
    if not actor.can(CATALOGUE_READ):
        raise Forbidden("not allowed to browse the catalogue")
    stmt = readable_by(Product, actor)
    if kind is not None:
        stmt = stmt.where(Product.kind == ProductKind(kind))
    text = _nfkc(q or "")
    if text:
        stmt = stmt.where(sa.or_(Product.code.startswith(text.upper(), autoescape=True),
                                 Product.generic_name.contains(text, autoescape=True),
                                 Product.trade_name.contains(text, autoescape=True),
                                 Product.manufacturer_name.contains(text, autoescape=True)))
    return paginate(session, stmt.order_by(Product.code), page, per_page)


def product_template_xlsx() -> bytes:
    return template_xlsx(PRODUCT_COLUMNS, sheet_title="products")


def reference_template_xlsx() -> bytes:
    return template_xlsx(REFERENCE_PRICE_COLUMNS, sheet_title="reference_prices")
