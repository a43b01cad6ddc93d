"""Catalogue import (产品目录导入) of a province's products from one CSV file.

    python -m bench.listing_import [--rows 100000] [--runs 3] [--database-url URL]

Builds a fresh scratch database (beside ``--database-url`` / ``DATABASE_URL`` on PostgreSQL,
else a temporary SQLite file), migrates it, and times through ``import_products``:

* ``import``: the file into an emptied product table (median of ``--runs``), commit included;
* ``reimport``: the same file again right after (every row unchanged, nothing written);
* ``update_1pct``: the file with 1 % of the rows changed (those rows updated);
* ``parse``: reading the file alone (``core.tabular.read_table``), for reference.

Prints one JSON line. The target is < 60 s for 100,000 rows on PostgreSQL.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import sqlalchemy as sa

from bench.common import emit, scratch_url
from tests.support import drop_scratch_database

TARGET_S = 60.0


def _seconds(samples: list[float]) -> dict[str, Any]:
    return {"median_s": round(statistics.median(samples), 3),
            "runs_s": [round(s, 3) for s in samples]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = ap.parse_args()

    from bench.listing_data import generate_products, manufacturers, products_csv
    from core.codes import make_uscc
    from core.db import Database
    from core.migrate import upgrade
    from core.models import Organisation, OrgKind
    from core.permissions import Actor
    from core.tabular import read_table
    from listing.models import ImportStatus, Product
    from listing.permissions import CATALOGUE_IMPORT, CATALOGUE_READ
    from listing.services_catalogue import PRODUCT_COLUMNS, import_products

    url = scratch_url(args.database_url, "listing_import")
    try:
        upgrade(url)
        db = Database(url)
        products = generate_products(args.rows, args.seed)
        data = products_csv(products)
        changed = [dict(p) for p in products]
        for p in changed[::100]:
            p["spec"] += "（新包装）"
        changed_data = products_csv(changed)

        with db.unit_of_work() as s:
            bureau = Organisation(kind=OrgKind.bureau, name="省医疗保障局",
                                  code=make_uscc("1", "1", "330000", "MB000000"),
                                  region_code="330000")
            s.add(bureau)
            # A tenth of the manufacturers are registered on the platform (linked on import).
            makers = manufacturers(max(1, min(3000, args.rows // 30)), args.seed)
            s.execute(sa.insert(Organisation.__table__), [
                {"kind": OrgKind.enterprise, "name": m.name, "code": m.code,
                 "region_code": m.code[2:8], "status": "active", "version": 1}
                for m in makers[::10]])
            s.flush()
            actor = Actor(org_id=bureau.id, org_kind=OrgKind.bureau, name="bench",
                          user_id=None, permissions=frozenset({CATALOGUE_IMPORT, CATALOGUE_READ}))

        t0 = time.perf_counter()
        parsed = read_table("products.csv", data, PRODUCT_COLUMNS)
        parse_s = time.perf_counter() - t0
        assert len(parsed) == args.rows

        def timed(payload: bytes, expect: dict[str, int]) -> float:
            t0 = time.perf_counter()
            with db.unit_of_work() as s:
                batch = import_products(s, actor, "products.csv", payload)
            elapsed = time.perf_counter() - t0
            assert batch.status == ImportStatus.succeeded, batch.errors[:5]
            got = {k: getattr(batch, k) for k in expect}
            assert got == expect, got
            return elapsed

        imports, reimports, updates = [], [], []
        for _ in range(args.runs):
            with db.unit_of_work() as s:
                if db.dialect == "postgresql":
                    s.execute(sa.text("TRUNCATE product CASCADE"))
                else:
                    s.execute(sa.delete(Product))
            if db.dialect == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.exec_driver_sql("VACUUM ANALYZE product")
            imports.append(timed(data, {"created": args.rows}))
            reimports.append(timed(data, {"unchanged": args.rows}))
            n_changed = len(changed[::100])
            updates.append(timed(changed_data, {"updated": n_changed,
                                                "unchanged": args.rows - n_changed}))
        import_median = statistics.median(imports)
        emit({
            "benchmark": "listing_import", "database": db.dialect, "rows": args.rows,
            "file_mb": round(len(data) / 1e6, 1), "runs": args.runs,
            "parse_s": round(parse_s, 3),
            "import": _seconds(imports), "reimport": _seconds(reimports),
            "update_1pct": _seconds(updates),
            "rows_per_s": round(args.rows / import_median),
            "target_s": TARGET_S, "meets_target": import_median < TARGET_S,
        })
        db.dispose()
    finally:
        if not args.keep:
            drop_scratch_database(url)


if __name__ == "__main__":
    main()
