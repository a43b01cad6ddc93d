"""Public listing search (挂网查询) over 100,000 listed products: per-request latency, warm.

    python -m bench.listing_search [--products 100000] [--runs 3] [--requests 200]

Builds a scratch database (DATABASE_URL if set — PostgreSQL — else a temporary SQLite file),
imports the products through the catalogue import, lists every one of them, then times the
public search page and API with typical queries against the health check as the in-process
baseline. Prints one JSON line: per query, the median over runs of each run's median and p95.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from urllib.parse import quote

import sqlalchemy as sa

from bench.common import emit, summary_ms, time_calls


def _populate(app, n: int) -> dict[str, float]:
    from bench.listing_data import generate_products, products_csv
    from core.demo import load_core_demo
    from core.permissions import Actor
    from listing.models import Listing, ListingCategory, Product
    from listing.services_catalogue import import_products

    db = app.extensions["yaocai.db"]
    data = products_csv(generate_products(n, seed=7))
    with db.unit_of_work() as s:
        load_core_demo(s)
    t0 = time.perf_counter()
    with app.app_context(), db.unit_of_work() as s:
        batch = import_products(s, Actor.system_actor("bench"), "bench.csv", data)
        assert batch.status.value == "succeeded", batch.errors[:5]
    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    with db.unit_of_work() as s:
        # Every product becomes a listing of its manufacturer (categories spread by id).
        p = Product.__table__
        cats = [c.value for c in ListingCategory]
        category = sa.case(*[(p.c.id % len(cats) == i, c) for i, c in enumerate(cats)])
        bureau = s.execute(sa.text("select id from organisation where kind = 'bureau'")).scalar()
        s.execute(sa.insert(Listing.__table__).from_select(
            ["product_id", "org_id", "status", "category", "price", "product_code",
             "product_kind", "generic_name", "dosage_form", "spec", "company_name", "listed_at",
             "updated_at", "version"],
            sa.select(p.c.id, sa.func.coalesce(p.c.manufacturer_org_id, bureau),
                      sa.literal("listed"), category,
                      # a price from the id: 1.00–100.99 yuan (scaled ints on SQLite)
                      (p.c.id % 10000 + 100) * (100 if db.engine.dialect.name == "sqlite"
                                                else sa.literal(0.01)),
                      p.c.code, p.c.kind, p.c.generic_name, p.c.dosage_form, p.c.spec,
                      p.c.manufacturer_name, p.c.created_at, p.c.created_at, sa.literal(1))))
        s.execute(sa.text(
            "insert into listing_search_name (kind, name) "
            "select distinct 'generic', generic_name from listing union "
            "select distinct 'company', company_name from listing"))
    listed = time.perf_counter() - t0
    # PostgreSQL: statistics and the visibility map as autovacuum leaves a settled table.
    # SQLite gathers no statistics by itself, so it is measured without any.
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return {"import_s": round(imported, 2), "list_s": round(listed, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--products", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="yaocai-bench-")
    base_url = os.environ.get("DATABASE_URL")
    from core.app import create_app
    from core.migrate import upgrade
    from tests.support import drop_scratch_database, scratch_database

    if base_url:
        os.environ["TEST_DATABASE_URL"] = base_url  # the scratch database goes beside it
    url = scratch_database(tmp, "search") if base_url else f"sqlite:///{tmp}/bench.db"
    try:
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "YAOCAI_ENV": "testing", "YAOCAI_INSTANCE": tmp,
                          "SECRET_KEY": "bench-secret-key-0123456789abcdef0123"})
        setup = _populate(app, args.products)
        client = app.test_client()
        with app.extensions["yaocai.db"].unit_of_work() as s:
            row = s.execute(sa.text(
                "select generic_name, product_code, company_name from listing "
                "order by id limit 1 offset 5000")).one()
        name, code, company = row
        targets = {
            "baseline_health": "/api/v1/health",
            "page_no_filter": "/listing/search",
            "page_generic_name": f"/listing/search?q={quote(name)}",
            "page_generic_name_fragment": f"/listing/search?q={quote(name[1:3])}",
            "page_code_prefix": f"/listing/search?q={code[:10]}",
            "page_company": f"/listing/search?company={quote(company[:4])}",
            "page_category_kind": "/listing/search?category=consistency_passed&kind=drug",
            "page_deep_page": f"/listing/search?q={quote(name)}&page=5",
            "api_generic_name": f"/api/v1/listing/listings?q={quote(name)}",
            "api_code_exact": f"/api/v1/listing/listings?q={code}",
        }
        runs: dict[str, list[dict]] = {k: [] for k in targets}
        hits: dict[str, int] = {}
        for _ in range(args.runs):
            for key, path in targets.items():
                response = client.get(path)  # warm
                assert response.status_code == 200, (path, response.status_code)
                if key.startswith("api_"):
                    hits[key] = response.get_json()["total"]
                samples = time_calls(lambda p=path: client.get(p), args.requests)
                runs[key].append(summary_ms(samples))
        base = statistics.median(r["median_ms"] for r in runs["baseline_health"])
        result = {"benchmark": "listing_search", "database": url.split(":", 1)[0],
                  "products": args.products, "runs": args.runs,
                  "requests_per_run": args.requests, "setup": setup, "api_totals": hits,
                  "results": {}}
        for key, rs in runs.items():
            med = statistics.median(r["median_ms"] for r in rs)
            result["results"][key] = {
                "median_ms": med, "p95_ms": statistics.median(r["p95_ms"] for r in rs),
                "ratio_to_baseline": round(med / base, 2)}
        result["worst_p95_ms"] = max(v["p95_ms"] for k, v in result["results"].items())
        emit(result)
        app.extensions["yaocai.db"].dispose()
    finally:
        if base_url:
            drop_scratch_database(url)


if __name__ == "__main__":
    main()
