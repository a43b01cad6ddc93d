"""Confirming agreements (协议确认) in bulk: a company signs all of a year's agreements at once.

    python -m bench.agreements_sign [--agreements 20000] [--runs 3] [--sample 500]
                                    [--database-url URL]

Builds a scratch database (beside ``--database-url`` / ``DATABASE_URL`` on PostgreSQL, else a
temporary SQLite file), a batch in allocation through the services (one product, one winner),
then ``--agreements`` hospitals each with a proposed first-year agreement with that winner.
Each run resets the agreements to proposed and times, in one committed transaction each:

* ``per_row`` (the baseline): ``services_allocation.sign`` — one state-machine transition and
  one audit record per agreement — on ``--sample`` agreements;
* ``bulk``: ``services_allocation.sign_all`` on all the others (``Workflow.transition_all``:
  one UPDATE and one audit record per 1,000 agreements).

Prints one JSON line: medians of the runs, milliseconds per agreement for both, and their
ratio measured in the same process.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bench.common import emit, scratch_url
from tests.support import drop_scratch_database


def _world(db: Any, n: int) -> dict[str, Any]:
    """The batch, its winner and ``n`` hospitals with a proposed agreement each."""
    from core.codes import make_institution_code
    from core.models import Organisation, OrgKind
    from core.types import utcnow
    from procurement.models import Agreement, AgreementStatus, Winner
    from tests.procurement import factories as f

    with db.unit_of_work() as s:
        c = f.cast(s, cities=("330106",), companies=1)
        batch, (bp,) = f.batch_in_bidding(s, c)
        f.report(s, c, bp, [1000])
        f.services.move_batch(s, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
        f.bid(s, c.companies[0], bp, "0.50")
        f.to_allocating(s, c, batch)
        winner = s.exec(sa.select(Winner).where(Winner.batch_id == batch.id)).scalar_one()
        company = c.companies[0]
        now = utcnow()
        s.execute(sa.insert(Organisation), [
            {"kind": OrgKind.hospital, "name": f"医院{i}", "region_code": "330106",
             "code": make_institution_code("330106", 50000 + i), "status": "active",
             "version": 1, "created_at": now, "updated_at": now} for i in range(n)])
        hospitals = s.execute(sa.select(Organisation.id).where(
            Organisation.name.like("医院%")).order_by(Organisation.id)).scalars().all()
        s.execute(sa.insert(Agreement), [
            {"batch_id": batch.id, "batch_product_id": bp.id, "hospital_id": h,
             "enterprise_id": company.org.id, "winner_id": winner.id, "year": 1,
             "volume": 1000, "unit_price": Decimal("0.5000"), "amount_fen": 50000,
             "status": AgreementStatus.proposed, "rule_version": batch.rule_version,
             "created_at": now, "updated_at": now, "version": 1} for h in hospitals])
        return {"batch_id": batch.id, "user_id": company.op.user_id, "org_id": company.org.id}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agreements", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sample", type=int, default=500)
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = ap.parse_args()

    from core.auth import actor_for_user
    from core.db import Database
    from core.migrate import upgrade
    from core.models import User
    from procurement import services_allocation as alloc
    from procurement.models import Agreement, AgreementStatus

    url = scratch_url(args.database_url, "sign")
    upgrade(url)
    db = Database(url)
    try:
        world = _world(db, args.agreements)
        per_row, bulk = [], []
        for _ in range(args.runs):
            with db.unit_of_work() as s:
                s.execute(sa.update(Agreement).values(status=AgreementStatus.proposed,
                                                      enterprise_signed_at=None,
                                                      enterprise_signed_by=None))
            with db.unit_of_work() as s:
                actor = actor_for_user(s, s.get(User, world["user_id"]))
                ids = s.execute(sa.select(Agreement.id).order_by(Agreement.id)
                                .limit(args.sample)).scalars().all()
                t0 = time.perf_counter()
                for agreement_id in ids:
                    alloc.sign(s, actor, agreement_id)
                s.commit()
                per_row.append((time.perf_counter() - t0) / len(ids))
            with db.unit_of_work() as s:
                actor = actor_for_user(s, s.get(User, world["user_id"]))
                t0 = time.perf_counter()
                n = alloc.sign_all(s, actor, world["batch_id"], 1)
                s.commit()
                elapsed = time.perf_counter() - t0
                assert n == args.agreements - args.sample, n
                bulk.append(elapsed / n)
            with db.unit_of_work() as s:
                left = s.execute(sa.select(sa.func.count()).select_from(Agreement).where(
                    Agreement.status != AgreementStatus.enterprise_signed)).scalar_one()
                assert left == 0, left
        med_row, med_bulk = statistics.median(per_row), statistics.median(bulk)
        emit({"benchmark": "agreements_sign", "backend": db.dialect,
              "agreements": args.agreements, "sample": args.sample, "runs": args.runs,
              "per_row_ms": round(med_row * 1000, 4), "bulk_ms": round(med_bulk * 1000, 4),
              "bulk_total_s": round(med_bulk * (args.agreements - args.sample), 3),
              "per_row_over_bulk": round(med_row / med_bulk, 1),
              "per_row_runs_ms": [round(x * 1000, 4) for x in per_row],
              "bulk_runs_ms": [round(x * 1000, 4) for x in bulk]})
    finally:
        db.dispose()
        drop_scratch_database(url)


if __name__ == "__main__":
    main()
