"""Allocation runs (约定采购量分配) and purchase agreements (采购协议), DOMAIN §2.

A run turns the batch's volume reports, winners, supply regions and hospital choices into the
transportation problems of ``procurement.allocation`` and solves them in a background job
(``procurement.allocate``) whose progress is stored on the run as it goes. The bureau publishes
an optimal run as the first year's agreements, which hospital and company confirm online;
later years are renewals, never below the year before.

Every function takes a ``Session`` and the acting ``Actor``, flushes and never commits.
"""
from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, func, select

from core import audit, jobs
from core.codes import region_name
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.labels import model_term
from core.models import Job, JobStatus, Organisation, OrgKind, User
from core.money import fen_to_yuan, line_amount_fen, round_price
from core.permissions import Actor, require
from core.scoping import get_readable, readable_by
from core.services import Page, paginate
from core.states import Move, Workflow, check_version
from core.tabular import rows_csv
from core.types import utcnow
from listing import price_rules
from listing.models import Product
from procurement import allocation, services
from procurement import services_award as award
from procurement.models import Agreement as AgreementRow
from procurement.models import (
    AgreementStatus,
    AllocationLine,
    AllocationRun,
    AwardStage,
    Batch,
    BatchStatus,
    Choice,
    RunStatus,
    Selection,
    VolumeReport,
    Winner,
)
from procurement.permissions import AGREEMENT_SIGN, BATCH_MANAGE
from procurement.rules import ProcurementRuleParams

B = BatchStatus
S = AgreementStatus
JOB_NAME = "procurement.allocate"
#: Products solved per progress step (the solver parallelises within a step).
PROGRESS_STEPS = 10

#: Both sides confirm an agreement online (协议确认), in either order.
AGREEMENT_FLOW = Workflow("vbp_agreement", AgreementStatus, [
    Move.of("sign_hospital", S.proposed, S.hospital_signed, AGREEMENT_SIGN),
    Move.of("sign_hospital", S.enterprise_signed, S.signed, AGREEMENT_SIGN),
    Move.of("sign_enterprise", S.proposed, S.enterprise_signed, AGREEMENT_SIGN),
    Move.of("sign_enterprise", S.hospital_signed, S.signed, AGREEMENT_SIGN),
])

R = RunStatus
#: An allocation run (分配测算): the job takes it from queued to running and to its result;
#: the bureau publishes an optimal run, which supersedes the batch's other finished runs.
RUN_FLOW = Workflow("vbp_allocation_run", RunStatus, [
    Move.of("start", R.queued, R.running),
    Move.of("solve", R.running, R.optimal),
    Move.of("find_infeasible", R.running, R.infeasible),
    Move.of("publish", R.optimal, R.published, BATCH_MANAGE),
    Move.of("supersede", [R.optimal, R.infeasible], R.superseded, BATCH_MANAGE),
])
#: Who moves a run inside its job.
_SOLVER = Actor.system_actor("allocation")


def _whole(value: Decimal, params: ProcurementRuleParams) -> int:
    """Rule percentages become whole units by the rule set's rounding mode."""
    mode = ROUND_CEILING if params.rounding == "ceil" else ROUND_HALF_UP
    return int(value.to_integral_value(rounding=mode))


# --- building the problem ---------------------------------------------------------------------

@dataclass
class BatchProblem:
    """The allocation input of a batch, with the maps back from codes to rows."""

    problems: list[allocation.Problem]          # one per product with volume winners
    product_ids: dict[str, int]                 # batch product code → id
    hospital_ids: dict[str, int]                # institution code → organisation id
    winner_ids: dict[tuple[str, str], int]      # (product code, enterprise code) → winner id
    diagnosis: list[str] = field(default_factory=list)  # found before solving
    hospitals: int = 0


def build_problem(session: Session, batch: Batch) -> BatchProblem:
    """Agreed volume per hospital = its reported demand × the product's agreed ratio (by the
    number of winners); the hospital may receive from the winners serving its city, ranked as
    it chose (default: all of them, equally). Of the volume each hospital does not keep for its
    first choice (the price-band retention table), the pool share goes at least to the
    lowest-price winner: that is its floor."""
    params = services.batch_rules(session, batch)
    products = list(session.exec(select(services.BatchProduct).where(
        services.BatchProduct.batch_id == batch.id).order_by(services.BatchProduct.code)))
    ratio = {s.batch_product_id: s.agreed_ratio for s in session.exec(
        select(Selection).where(Selection.batch_id == batch.id))}
    winners: dict[int, list[Winner]] = defaultdict(list)
    for w in session.exec(select(Winner).where(Winner.batch_id == batch.id,
                                               Winner.zero_volume.is_(False))  # type: ignore[attr-defined]
                          .order_by(Winner.rank)):
        winners[w.batch_product_id].append(w)
    involved = sa.union(select(VolumeReport.org_id).where(VolumeReport.batch_id == batch.id),
                        select(Winner.org_id).where(Winner.batch_id == batch.id))
    orgs = {o.id: o for o in session.exec(select(Organisation).where(
        Organisation.id.in_(select(involved.subquery().c.org_id))))}  # type: ignore[union-attr]
    demand: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for bp_id, org_id, units in session.exec(
            select(VolumeReport.batch_product_id, VolumeReport.org_id, VolumeReport.demand)
            .where(VolumeReport.batch_id == batch.id, VolumeReport.demand > 0)):
        demand[bp_id].append((org_id, units))
    serve = award.serving(session, batch.id)
    chosen: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    for c in session.exec(select(Choice).where(Choice.batch_id == batch.id)):
        chosen[(c.batch_product_id, c.org_id)][c.winner_id] = c.rank

    out = BatchProblem([], {p.code: p.id for p in products},
                       {o.code: o.id for o in orgs.values()}, {})
    hospitals: set[int] = set()
    for bp in products:
        ws = winners.get(bp.id, [])
        if not ws or not demand.get(bp.id):
            continue
        by_id = {w.id: w for w in ws}
        for w in ws:
            out.winner_ids[(bp.code, orgs[w.org_id].code)] = w.id
        lowest = min(ws, key=lambda w: (w.ucp, w.rank))
        demands, choices, pool = [], [], 0
        for org_id, reported in sorted(demand[bp.id]):
            org = orgs[org_id]
            agreed = _whole(Decimal(reported) * ratio[bp.id], params)
            if agreed == 0:
                continue
            hospitals.add(org_id)
            city = award.city_of(org.region_code)
            ranks = chosen.get((bp.id, org_id)) or {w: 1 for w in serve.get((bp.id, city), [])}
            if not ranks:
                out.diagnosis.append(
                    f"{bp.code}: {org.code} ({org.name}) in region {city} "
                    f"({region_name(city) or '?'}) has no supplier; "
                    f"{agreed} units cannot be placed")
                continue
            demands.append(allocation.Demand(org.code, bp.code, agreed))
            choices.extend(allocation.Choice(org.code, bp.code, orgs[by_id[w].org_id].code, r)
                           for w, r in ranks.items())
            best = min(ranks.values())
            first = min((by_id[w] for w, r in ranks.items() if r == best),
                        key=lambda w: (w.ucp, w.rank))
            kept = _whole(agreed * params.retained_share(first.ucp, lowest.ucp), params)
            pool += agreed - min(agreed, kept)
        floor = _whole(Decimal(pool) * params.pool_lowest_share, params)
        out.problems.append(allocation.Problem(demands, [
            allocation.Winner(bp.code, orgs[w.org_id].code, w.ucp, w.capacity,
                              min_units=floor if w.id == lowest.id else 0)
            for w in ws], choices))
    out.hospitals = len(hospitals)
    return out


# --- runs -------------------------------------------------------------------------------------

def _run(session: Session, actor: Actor, run_id: int) -> AllocationRun:
    run = get_readable(session, AllocationRun, run_id, actor)
    services.get_batch(session, actor, run.batch_id)
    return run


def job_of(session: Session, run: AllocationRun) -> Job | None:
    return session.get(Job, run.job_id) if run.job_id else None


def effective_status(session: Session, run: AllocationRun) -> RunStatus:
    """A run whose job died (every retry failed) shows as failed."""
    if run.status in (RunStatus.queued, RunStatus.running):
        job = job_of(session, run)
        if job is not None and job.status == JobStatus.dead:
            return RunStatus.failed
    return run.status


def start_run(session: Session, actor: Actor, batch_id: int) -> AllocationRun:
    """Queue a solve of the batch's allocation with today's reports, regions and choices."""
    require(actor, BATCH_MANAGE)
    batch = services.get_batch(session, actor, batch_id)
    if not award.at_stage(batch, AwardStage.choice):
        raise Conflict("vbp_batch %(id)s is not at the choice step",
                       params={"id": batch.id}, current_status=batch.status.value)
    for run in session.exec(select(AllocationRun).where(
            AllocationRun.batch_id == batch.id,
            AllocationRun.status.in_([RunStatus.queued, RunStatus.running]))):  # type: ignore[attr-defined]
        if effective_status(session, run) != RunStatus.failed:
            raise Conflict("allocation run %(id)s of this batch is still running",
                           params={"id": run.id}, current_status=run.status.value)
    to_solve = session.exec(select(func.count(sa.distinct(Winner.batch_product_id))).where(
        Winner.batch_id == batch.id, Winner.zero_volume.is_(False),  # type: ignore[attr-defined]
        Winner.batch_product_id.in_(select(VolumeReport.batch_product_id).where(  # type: ignore[attr-defined]
            VolumeReport.batch_id == batch.id, VolumeReport.demand > 0)))).one()
    run = AllocationRun(batch_id=batch.id, rule_version=batch.rule_version,
                        created_by=actor.user_id, products_total=to_solve)
    session.add(run)
    session.flush()
    job = jobs.enqueue(session, JOB_NAME, args={"run_id": run.id},
                       dedupe_key=f"vbp_allocation_run:{run.id}", actor=actor)
    run.job_id = job.id
    session.add(run)
    session.flush()
    audit.record(session, actor, "vbp_allocation.start", "vbp_allocation_run", run.id,
                 after={"batch_id": batch.id, "rule_version": run.rule_version})
    return run


@dataclass
class Loaded:
    run_id: int
    problem: BatchProblem


def load_run(session: Session, run_id: int) -> Loaded | None:
    """Job phase 1: mark the run as running and read its input (None: nothing to do)."""
    run = session.get(AllocationRun, run_id)
    if run is None or run.status not in (RunStatus.queued, RunStatus.running):
        return None
    batch = session.get(Batch, run.batch_id)
    problem = build_problem(session, batch)
    if run.status == RunStatus.queued:  # a retried job finds its run running already
        RUN_FLOW.transition(session, run, "start", _SOLVER)
    run.products_done = 0
    run.products_total, run.hospitals = len(problem.problems), problem.hospitals
    session.add(run)
    session.flush()
    return Loaded(run_id, problem)


@dataclass
class Solved:
    run_id: int
    problem: BatchProblem
    results: list[allocation.Allocation]


def solve_run(loaded: Loaded | None,
              write: Callable[[Callable[[Session], None]], None]) -> Solved | None:
    """Job phase 2, outside any transaction: solve the products a step at a time and store
    the progress after each step."""
    if loaded is None:
        return None
    problems = loaded.problem.problems
    if loaded.problem.diagnosis:
        return Solved(loaded.run_id, loaded.problem, [])
    step = max(1, -(-len(problems) // PROGRESS_STEPS))
    results: list[allocation.Allocation] = []
    for start in range(0, len(problems), step):
        chunk = problems[start:start + step]
        merged = allocation.Problem(
            [d for p in chunk for d in p.demands], [w for p in chunk for w in p.winners],
            [c for p in chunk for c in p.choices])
        results.append(allocation.solve(merged))
        done = start + len(chunk)

        def progress(s: Session, done: int = done) -> None:
            s.execute(sa.update(AllocationRun).where(AllocationRun.id == loaded.run_id)
                      .values(products_done=done, version=AllocationRun.version + 1))
        write(progress)
    return Solved(loaded.run_id, loaded.problem, results)


def store_run(session: Session, solved: Solved | None, run_id: int) -> dict | None:
    """Job phase 3: store the agreed volumes (or the diagnosis) on the run."""
    run = session.get(AllocationRun, run_id)
    if solved is None or run is None or run.status != RunStatus.running:
        return {"skipped": run.status.value if run else "missing"}
    p = solved.problem
    diagnosis = list(p.diagnosis) + [d for r in solved.results for d in r.diagnosis]
    run.products_done = run.products_total
    run.variables = sum(r.variables for r in solved.results)
    run.seconds = round(sum(r.seconds for r in solved.results), 3)
    run.finished_at = utcnow()
    if diagnosis or any(r.status != "optimal" for r in solved.results):
        run.diagnosis = diagnosis
        run.rank_penalty = run.total_cost_fen = run.agreed_units = None
        RUN_FLOW.transition(session, run, "find_infeasible", _SOLVER)
    else:
        rows = [{"run_id": run.id, "batch_product_id": p.product_ids[product],
                 "hospital_id": p.hospital_ids[hospital],
                 "winner_id": p.winner_ids[(product, enterprise)], "volume": volume}
                for r in solved.results for hospital, product, enterprise, volume in r.rows]
        if rows:
            session.execute(sa.insert(AllocationLine), rows)
        run.diagnosis = []
        run.rank_penalty = sum(r.rank_penalty or 0 for r in solved.results)
        run.total_cost_fen = sum(r.total_cost_fen or 0 for r in solved.results)
        run.agreed_units = sum(row["volume"] for row in rows)
        RUN_FLOW.transition(session, run, "solve", _SOLVER)
    return {"run_id": run.id, "status": run.status.value, "products": run.products_total,
            "rank_penalty": run.rank_penalty, "total_cost_fen": run.total_cost_fen}


def list_runs(session: Session, actor: Actor, batch_id: int) -> list[AllocationRun]:
    services.get_batch(session, actor, batch_id)
    return list(session.exec(readable_by(AllocationRun, actor).where(
        AllocationRun.batch_id == batch_id).order_by(AllocationRun.id.desc())))


def get_run(session: Session, actor: Actor, run_id: int, *,
            batch_id: int | None = None) -> AllocationRun:
    """An allocation run; with ``batch_id``, one of that batch only (a run of another batch is
    not found on this batch's page)."""
    run = _run(session, actor, run_id)
    if batch_id is not None and run.batch_id != batch_id:
        raise NotFound("%(object)s %(id)s not found",
                       params={"object": model_term(AllocationRun), "id": run_id})
    return run


@dataclass(frozen=True)
class RunsBoard:
    """A batch's allocation runs as its page shows them: each run's effective status, the run
    shown (the one asked for, else the newest), whether one is still solving, and what the
    actor may do now (start a run; publish the run shown)."""

    runs: list[AllocationRun]
    statuses: dict[int, RunStatus]
    run: AllocationRun | None
    active: bool
    can_start: bool
    can_publish: bool

    @property
    def solving(self) -> frozenset[int]:
        """The runs still queued or solving."""
        return frozenset(i for i, s in self.statuses.items()
                         if s in (RunStatus.queued, RunStatus.running))

    @property
    def has_lines(self) -> bool:
        return self.run is not None and self.statuses[self.run.id] in (
            RunStatus.optimal, RunStatus.published, RunStatus.superseded)


def runs_board(session: Session, actor: Actor, batch_id: int,
               run_id: int | None = None) -> RunsBoard:
    batch = services.get_batch(session, actor, batch_id)
    runs = list_runs(session, actor, batch_id)
    statuses = {r.id: effective_status(session, r) for r in runs}
    run = get_run(session, actor, run_id, batch_id=batch_id) if run_id is not None \
        else (runs[0] if runs else None)
    active = any(s in (RunStatus.queued, RunStatus.running) for s in statuses.values())
    at_choice = actor.can(BATCH_MANAGE) and award.at_stage(batch, AwardStage.choice)
    return RunsBoard(
        runs, statuses, run, active, can_start=at_choice and not active,
        can_publish=at_choice and run is not None and statuses[run.id] == RunStatus.optimal
        and not any(r.id > run.id and r.status != RunStatus.failed for r in runs))


@dataclass(frozen=True)
class LineView:
    product_code: str
    generic_name: str
    hospital: str
    hospital_code: str
    enterprise: str
    volume: int


def _lines_stmt(run: AllocationRun, product_id: int | None) -> Any:
    hosp = sa.orm.aliased(Organisation)
    ent = sa.orm.aliased(Organisation)
    stmt = (select(services.BatchProduct.code, services.BatchProduct.generic_name, hosp.name,
                   hosp.code, ent.name, AllocationLine.volume, ent.code)
            .join(services.BatchProduct,
                  services.BatchProduct.id == AllocationLine.batch_product_id)
            .join(hosp, hosp.id == AllocationLine.hospital_id)
            .join(Winner, Winner.id == AllocationLine.winner_id)
            .join(ent, ent.id == Winner.org_id)
            .where(AllocationLine.run_id == run.id))
    if product_id is not None:
        stmt = stmt.where(AllocationLine.batch_product_id == product_id)
    return stmt.order_by(services.BatchProduct.code, hosp.code, ent.code)


def run_lines(session: Session, actor: Actor, run_id: int, *, product_id: int | None = None,
              page: int = 1, per_page: int = 100) -> Page:
    """The agreed volumes of a run, product by product (bureau only); ``product_id`` is a
    batch product's id."""
    run = _run(session, actor, run_id)
    result = paginate(session, _lines_stmt(run, product_id), page, per_page)
    result.items = [LineView(*row[:6]) for row in result.items]
    return result


def run_line_rows(session: Session, actor: Actor, run_id: int) -> Iterator[list[Any]]:
    """Every agreed volume of a run (bureau only): product code and name, hospital code and
    name, company code and name, volume — the rows of the run's downloads."""
    run = _run(session, actor, run_id)
    return ([code, name, h_code, h_name, e_code, e_name, volume]
            for code, name, h_name, h_code, e_name, volume, e_code
            in session.exec(_lines_stmt(run, None)))


def run_lines_csv(session: Session, actor: Actor, run_id: int) -> bytes:
    """Every agreed volume of a run as a CSV the bureau publishes or checks in Excel."""
    return rows_csv(["product_code", "generic_name", "hospital_code", "hospital",
                     "enterprise_code", "enterprise", "volume"],
                    run_line_rows(session, actor, run_id))


# --- agreements -------------------------------------------------------------------------------

def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        last = calendar.monthrange(day.year + years, 2)[1]
        return day.replace(year=day.year + years, day=last)


def _term(batch: Batch, year: int) -> tuple[date | None, date | None]:
    if batch.cycle_start is None:
        return None, None
    start = _add_years(batch.cycle_start, year - 1)
    return start, _add_years(start, 1) - timedelta(days=1)


def _amount_of_drug(content: Decimal | None, unit: str | None,
                    volume_ml: Decimal | None) -> Decimal | None:
    """Drug in one smallest unit: the content (in mg or IU) times the fill volume for a
    concentration; None when the specification gives no content."""
    if content is None or not unit:
        return None
    value, _dimension = price_rules.convert_content(content, unit)
    return value * (volume_ml if volume_ml is not None else 1)


def strength_ratio(bp: services.BatchProduct, product: Product) -> Decimal:
    """How many of the batch product's smallest units (of the representative strength, the
    unit volumes are reported and agreed in) one smallest unit of the winner's product is:
    a 20 mg tablet is two 10 mg units. 1 when either side gives no content."""
    rep = _amount_of_drug(bp.rep_content_value, bp.rep_content_unit, bp.rep_volume_ml)
    own = _amount_of_drug(product.content_value, product.content_unit, product.volume_ml)
    if rep is None or own is None or rep == 0:
        return Decimal(1)
    return own / rep


def unit_price(package_price: Decimal, units_per_package: int,
               ratio: Decimal = Decimal(1)) -> Decimal:
    """The agreement's price per representative smallest unit: the winner's actual price per
    smallest unit of its own product, divided by its strength ratio; 4 places half-up. So the
    agreement's amount is what the hospital pays for the winner's packages, whatever their
    strength (the unit comparable price is for comparing bids, not for paying)."""
    return round_price(package_price / units_per_package / ratio)


def publish_run(session: Session, actor: Actor, run_id: int, *,
                expected_version: int | None = None, batch_id: int | None = None
                ) -> list[AgreementRow]:
    """Publish an optimal run as the first contract year's agreements (协议量) for hospital
    and company to confirm; the batch's other runs are superseded."""
    require(actor, BATCH_MANAGE)
    run = get_run(session, actor, run_id, batch_id=batch_id)
    batch = services.get_batch(session, actor, run.batch_id)
    if run.status != RunStatus.optimal:
        raise Conflict("allocation run %(id)s is %(status)s, not optimal",
                       params={"id": run.id, "status": run.status.value},
                       current_status=run.status.value)
    check_version("vbp_allocation_run", run, expected_version)
    newer = session.exec(select(AllocationRun.id).where(
        AllocationRun.batch_id == batch.id, AllocationRun.id > run.id,
        AllocationRun.status != RunStatus.failed)).first()
    if newer is not None:
        raise Conflict("a later allocation run of this batch exists",
                       current_status=run.status.value)
    if not award.at_stage(batch, AwardStage.choice):
        raise Conflict("vbp_batch %(id)s is not at the choice step",
                       params={"id": batch.id}, current_status=batch.status.value)
    winners = {w.id: w for w in session.exec(select(Winner).where(Winner.batch_id == batch.id))}
    products = {p.id: p for p in session.exec(select(Product).where(
        Product.id.in_({w.product_id for w in winners.values()})))}  # type: ignore[union-attr]
    batch_products = {bp.id: bp for bp in services.batch_products(session, actor, batch.id)}
    prices = {w.id: unit_price(w.package_price, products[w.product_id].units_per_package,
                               strength_ratio(batch_products[w.batch_product_id],
                                              products[w.product_id]))
              for w in winners.values()}
    starts_on, ends_on = _term(batch, 1)
    now = utcnow()
    rows = []
    for line in session.exec(select(AllocationLine).where(AllocationLine.run_id == run.id)):
        w = winners[line.winner_id]
        price = prices[w.id]
        rows.append({"batch_id": batch.id, "batch_product_id": line.batch_product_id,
                     "hospital_id": line.hospital_id, "enterprise_id": w.org_id,
                     "winner_id": w.id, "year": 1, "starts_on": starts_on, "ends_on": ends_on,
                     "volume": line.volume, "unit_price": price,
                     "amount_fen": line_amount_fen(line.volume, price),
                     "status": S.proposed, "run_id": run.id, "rule_version": run.rule_version,
                     "created_at": now, "updated_at": now, "version": 1})
    if rows:
        session.execute(sa.insert(AgreementRow), rows)
    RUN_FLOW.transition_all(session, AllocationRun, [
        AllocationRun.batch_id == batch.id, AllocationRun.id != run.id], "supersede", actor,
        details={"batch_id": batch.id, "published_run_id": run.id})
    run = RUN_FLOW.transition(session, session.get(AllocationRun, run.id), "publish", actor)
    award.AWARD_FLOW.transition(session, batch, "publish_allocation", actor,
                                details={"run_id": run.id, "agreements": len(rows)})
    audit.record(session, actor, "vbp_allocation.publish", "vbp_allocation_run", run.id,
                 after={"agreements": len(rows), "units": run.agreed_units,
                        "amount_fen": sum(r["amount_fen"] for r in rows)})
    return list(session.exec(select(AgreementRow).where(AgreementRow.run_id == run.id)))


def get_agreement(session: Session, actor: Actor, agreement_id: int, *,
                  batch_id: int | None = None) -> AgreementRow:
    """An agreement the actor may read; with ``batch_id``, one of that batch only (an agreement
    of another batch is not found on this batch's page)."""
    agreement = get_readable(session, AgreementRow, agreement_id, actor)
    if batch_id is not None and agreement.batch_id != batch_id:
        raise NotFound("%(object)s %(id)s not found",
                       params={"object": model_term(AgreementRow), "id": agreement_id})
    return agreement


def list_agreements(session: Session, actor: Actor, batch_id: int, *, year: int | None = None,
                    status: AgreementStatus | None = None, page: int = 1,
                    per_page: int = 100) -> Page:
    """The agreements the caller is party to (the bureau: all), by product and hospital."""
    services.get_batch(session, actor, batch_id)
    stmt = readable_by(AgreementRow, actor).where(AgreementRow.batch_id == batch_id)
    if year is not None:
        stmt = stmt.where(AgreementRow.year == year)
    if status is not None:
        stmt = stmt.where(AgreementRow.status == status)
    return paginate(session, stmt.order_by(AgreementRow.year, AgreementRow.batch_product_id,
                                           AgreementRow.hospital_id, AgreementRow.winner_id),
                    page, per_page)


def agreement_rows(session: Session, actor: Actor, batch_id: int, *,
                   year: int | None = None, status: AgreementStatus | None = None) -> Any:
    """The agreements the caller is party to (the bureau: all), for the downloads: product
    code and name, hospital code and name, company code and name, year, term, volume, unit
    price (Decimal), amount (fen) and status."""
    services.get_batch(session, actor, batch_id)
    hosp = sa.orm.aliased(Organisation)
    ent = sa.orm.aliased(Organisation)
    scope = readable_by(AgreementRow, actor).where(AgreementRow.batch_id == batch_id)
    if year is not None:
        scope = scope.where(AgreementRow.year == year)
    if status is not None:
        scope = scope.where(AgreementRow.status == status)
    sub = scope.subquery()
    stmt = (select(services.BatchProduct.code, services.BatchProduct.generic_name, hosp.code,
                   hosp.name, ent.code, ent.name, sub.c.year, sub.c.starts_on, sub.c.ends_on,
                   sub.c.volume, sub.c.unit_price, sub.c.amount_fen, sub.c.status)
            .join(services.BatchProduct, services.BatchProduct.id == sub.c.batch_product_id)
            .join(hosp, hosp.id == sub.c.hospital_id)
            .join(ent, ent.id == sub.c.enterprise_id)
            .order_by(sub.c.year, services.BatchProduct.code, hosp.code, ent.code))
    return session.exec(stmt)


def agreements_csv(session: Session, actor: Actor, batch_id: int, *,
                   year: int | None = None, status: AgreementStatus | None = None) -> bytes:
    """The agreements the caller is party to (the bureau: all) as a CSV, amounts in yuan."""
    rows = ([code, name, h_code, h_name, e_code, e_name, yr,
             starts.isoformat() if starts else "", ends.isoformat() if ends else "", volume,
             format(price, "f"), format(fen_to_yuan(fen), "f"),
             st.value if hasattr(st, "value") else st]
            for code, name, h_code, h_name, e_code, e_name, yr, starts, ends, volume, price,
            fen, st in agreement_rows(session, actor, batch_id, year=year, status=status))
    return rows_csv(["product_code", "generic_name", "hospital_code", "hospital",
                     "enterprise_code", "enterprise", "year", "starts_on", "ends_on", "volume",
                     "unit_price", "amount_yuan", "status"], rows)


def agreement_summary(session: Session, actor: Actor, batch_id: int) -> dict:
    """Counts, units and amounts by contract year and status, within the caller's scope."""
    services.get_batch(session, actor, batch_id)
    scope = readable_by(AgreementRow, actor).where(AgreementRow.batch_id == batch_id).subquery()
    rows = session.exec(select(scope.c.year, scope.c.status, func.count(),
                               func.sum(scope.c.volume), func.sum(scope.c.amount_fen))
                        .group_by(scope.c.year, scope.c.status)
                        .order_by(scope.c.year, scope.c.status)).all()
    out: dict[int, dict[str, dict[str, int]]] = defaultdict(dict)
    for year, status, n, units, fen in rows:
        key = status.value if hasattr(status, "value") else str(status)
        out[year][key] = {"count": n, "units": int(units or 0), "amount_fen": int(fen or 0)}
    return dict(out)


@dataclass(frozen=True)
class AgreementsBoard:
    """One page of a batch's agreements as ``actor`` may read them, with the names it may know
    (a party its counterparties, the bureau everyone), last year's volume of each renewal
    shown (the least the hospital may agree to), what waits for its side per contract year,
    and what it may do now."""

    page: Page
    orgs: dict[int, str]
    signers: dict[int, str]
    previous: dict[int, int]
    summary: dict
    waiting: dict[int, int]
    side: str | None  # "hospital" or "enterprise": the actor's own column is hidden
    can_sign: bool
    can_renew: bool
    volume_editable: frozenset[int]  # the renewals shown whose volume the actor may raise


def agreements_board(session: Session, actor: Actor, batch_id: int, *,
                     year: int | None = None, status: AgreementStatus | None = None,
                     page: int = 1, per_page: int = 50) -> AgreementsBoard:
    batch = services.get_batch(session, actor, batch_id)
    rows = list_agreements(session, actor, batch_id, year=year, status=status, page=page,
                           per_page=per_page)
    party = actor.org_id is not None and not actor.is_bureau
    side = {OrgKind.hospital: "hospital", OrgKind.enterprise: "enterprise"}.get(
        actor.org_kind) if actor.org_kind is not None else None
    can_sign = actor.can(AGREEMENT_SIGN) and party and batch.status in (B.allocating,
                                                                         B.executing)
    return AgreementsBoard(
        rows, orgs=_party_names(session, actor, batch_id, rows.items),
        signers=_signer_names(session, actor, batch_id, rows.items),
        previous=_previous_volumes(session, actor, rows.items),
        summary=agreement_summary(session, actor, batch_id),
        waiting=_waiting(session, actor, batch_id) if party else {}, side=side,
        can_sign=can_sign, can_renew=actor.can(BATCH_MANAGE) and batch.status == B.executing,
        volume_editable=frozenset(
            a.id for a in rows.items if can_sign and _renewal_open(a)
            and a.hospital_id == actor.org_id))


def _renewal_open(agreement: AgreementRow) -> bool:
    """A renewal not yet signed by anyone: its hospital may still raise the volume."""
    return agreement.previous_id is not None and agreement.status == S.proposed


def _readable_ids(actor: Actor, batch_id: int, *columns: Any) -> Any:
    """The values of ``columns`` over the agreements of the batch the actor may read."""
    scope = readable_by(AgreementRow, actor).where(AgreementRow.batch_id == batch_id).subquery()
    return sa.union(*(select(getattr(scope.c, c.key)) for c in columns))


def _party_names(session: Session, actor: Actor, batch_id: int, rows: Iterable[AgreementRow]
                 ) -> dict[int, str]:
    ids = {a.hospital_id for a in rows} | {a.enterprise_id for a in rows}
    if not ids:
        return {}
    parties = _readable_ids(actor, batch_id, AgreementRow.hospital_id, AgreementRow.enterprise_id)
    return dict(session.exec(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_(ids), Organisation.id.in_(parties))).all())  # type: ignore[union-attr]


def _signer_names(session: Session, actor: Actor, batch_id: int, rows: Iterable[AgreementRow]
                  ) -> dict[int, str]:
    ids = {a.hospital_signed_by for a in rows} | {a.enterprise_signed_by for a in rows}
    ids.discard(None)
    if not ids:
        return {}
    signers = _readable_ids(actor, batch_id, AgreementRow.hospital_signed_by,
                            AgreementRow.enterprise_signed_by)
    return dict(session.exec(select(User.id, User.display_name).where(
        User.id.in_(ids), User.id.in_(signers))).all())  # type: ignore[union-attr]


def _previous_volumes(session: Session, actor: Actor, rows: Iterable[AgreementRow]
                      ) -> dict[int, int]:
    ids = {a.previous_id for a in rows if a.previous_id is not None}
    if not ids:
        return {}
    return {a.id: a.volume for a in session.exec(readable_by(AgreementRow, actor).where(
        AgreementRow.id.in_(ids)))}  # type: ignore[union-attr]


def _waiting(session: Session, actor: Actor, batch_id: int) -> dict[int, int]:
    """Per contract year, the agreements that wait for the actor's side to confirm."""
    rows = session.execute(readable_by(AgreementRow, actor).with_only_columns(
        AgreementRow.year, func.count()).where(
        AgreementRow.batch_id == batch_id,
        sa.or_(sa.and_(AgreementRow.hospital_id == actor.org_id,
                       AgreementRow.hospital_signed_at.is_(None)),  # type: ignore[union-attr]
               sa.and_(AgreementRow.enterprise_id == actor.org_id,
                       AgreementRow.enterprise_signed_at.is_(None))))  # type: ignore[union-attr]
        .group_by(AgreementRow.year).order_by(AgreementRow.year)).all()
    return dict(rows)


def _party_action(actor: Actor, agreement: AgreementRow) -> str:
    if actor.org_id == agreement.hospital_id:
        return "sign_hospital"
    if actor.org_id == agreement.enterprise_id:
        return "sign_enterprise"
    raise Forbidden("only the hospital and the company of an agreement confirm it")


def _stamp(actor: Actor, action: str) -> Callable[[AgreementRow], None]:
    def stamp(a: AgreementRow) -> None:
        now = utcnow()
        if action == "sign_hospital":
            a.hospital_signed_at, a.hospital_signed_by = now, actor.user_id
        else:
            a.enterprise_signed_at, a.enterprise_signed_by = now, actor.user_id
    return stamp


def _signable(session: Session, actor: Actor, agreement: AgreementRow) -> None:
    batch = services.get_batch(session, actor, agreement.batch_id)
    if batch.status not in (B.allocating, B.executing):
        raise Conflict("agreements of vbp_batch %(id)s are not open for signing",
                       params={"id": batch.id}, current_status=batch.status.value)


def sign(session: Session, actor: Actor, agreement_id: int, *,
         expected_version: int | None = None, batch_id: int | None = None) -> AgreementRow:
    """Confirm an agreement for the caller's side (hospital or company)."""
    require(actor, AGREEMENT_SIGN)
    agreement = get_agreement(session, actor, agreement_id, batch_id=batch_id)
    _signable(session, actor, agreement)
    action = _party_action(actor, agreement)
    return AGREEMENT_FLOW.transition(session, agreement, action, actor,
                                     expected_version=expected_version,
                                     before_commit=_stamp(actor, action))


def sign_all(session: Session, actor: Actor, batch_id: int, year: int | None) -> int:
    """Confirm every agreement of the year that waits for the caller's side, in bulk (a
    company may hold tens of thousands); returns how many."""
    require(actor, AGREEMENT_SIGN)
    batch = services.get_batch(session, actor, batch_id)
    if year is None or not 1 <= year <= batch.cycle_years:
        raise Invalid.one("year", "Choose a contract year within the purchase cycle.")
    if batch.status not in (B.allocating, B.executing):
        raise Conflict("agreements of vbp_batch %(id)s are not open for signing",
                       params={"id": batch.id}, current_status=batch.status.value)
    if actor.org_kind == OrgKind.hospital:
        action, party, stamp = "sign_hospital", AgreementRow.hospital_id, "hospital_signed"
    elif actor.org_kind == OrgKind.enterprise:
        action, party, stamp = "sign_enterprise", AgreementRow.enterprise_id, "enterprise_signed"
    else:
        raise Forbidden("only the hospital and the company of an agreement confirm it")
    moved = AGREEMENT_FLOW.transition_all(
        session, AgreementRow,
        [AgreementRow.batch_id == batch.id, AgreementRow.year == year, party == actor.org_id],
        action, actor, values={f"{stamp}_at": utcnow(), f"{stamp}_by": actor.user_id},
        details={"batch_id": batch.id, "year": year})
    return len(moved)


def renew(session: Session, actor: Actor, batch_id: int, year: int | None) -> int:
    """Open the next contract year (每年一签): each signed agreement of the year before is
    proposed again with the same volume, which the hospital may raise, never lower. Running
    it again adds nothing."""
    require(actor, BATCH_MANAGE)
    if year is None:
        raise Invalid.one("year", "Choose a later contract year within the purchase cycle.")
    batch = services.get_batch(session, actor, batch_id)
    if batch.status != B.executing:
        raise Conflict("agreements of vbp_batch %(id)s are renewed while it executes",
                       params={"id": batch.id}, current_status=batch.status.value)
    if not 2 <= year <= batch.cycle_years:
        raise Invalid.one("year", "Choose a later contract year within the purchase cycle.")
    previous = session.exec(select(AgreementRow).where(AgreementRow.batch_id == batch.id,
                                                       AgreementRow.year == year - 1)).all()
    if not previous:
        raise Conflict("vbp_batch %(id)s has no agreements of the year before",
                       params={"id": batch.id}, current_status=batch.status.value)
    unsigned = sum(1 for a in previous if a.status != S.signed)
    if unsigned:
        raise Conflict("%(n)s agreements of vbp_batch %(id)s are not signed by both sides",
                       params={"id": batch.id, "n": unsigned},
                       current_status=batch.status.value)
    existing = set(session.exec(select(AgreementRow.previous_id).where(
        AgreementRow.batch_id == batch.id, AgreementRow.year == year)).all())
    starts_on, ends_on = _term(batch, year)
    now = utcnow()
    rows = [{"batch_id": batch.id, "batch_product_id": a.batch_product_id,
             "hospital_id": a.hospital_id, "enterprise_id": a.enterprise_id,
             "winner_id": a.winner_id, "year": year, "starts_on": starts_on,
             "ends_on": ends_on, "volume": a.volume, "unit_price": a.unit_price,
             "amount_fen": a.amount_fen, "status": S.proposed, "run_id": a.run_id,
             "previous_id": a.id, "rule_version": a.rule_version, "created_at": now,
             "updated_at": now, "version": 1}
            for a in previous if a.id not in existing]
    if rows:
        session.execute(sa.insert(AgreementRow), rows)
    audit.record(session, actor, "vbp_agreement.renew", "vbp_batch", batch.id,
                 after={"year": year, "agreements": len(rows)})
    return len(rows)


def set_volume(session: Session, actor: Actor, agreement_id: int, volume: int, *,
               expected_version: int | None = None, batch_id: int | None = None
               ) -> AgreementRow:
    """The hospital raises a renewal's volume before signing; it may not fall below the
    previous year's agreed volume (续签量不低于上年)."""
    require(actor, AGREEMENT_SIGN)
    agreement = get_agreement(session, actor, agreement_id, batch_id=batch_id)
    if isinstance(volume, bool) or not isinstance(volume, int):
        raise Invalid.one("volume", "Enter a whole number of smallest units.")
    if actor.org_id != agreement.hospital_id:
        raise Forbidden("only the hospital sets the volume of its renewal")
    if not _renewal_open(agreement):
        raise Conflict("vbp_agreement %(id)s is not an unsigned renewal",
                       params={"id": agreement.id}, current_status=agreement.status.value)
    check_version("vbp_agreement", agreement, expected_version)
    previous = session.get(AgreementRow, agreement.previous_id)
    if isinstance(volume, bool) or not isinstance(volume, int) or volume < previous.volume:
        raise Invalid.one("volume", "The renewal volume may not be below last year's "
                                    "agreed volume.")
    before = agreement.volume
    agreement.volume = volume
    agreement.amount_fen = line_amount_fen(volume, agreement.unit_price)
    agreement.updated_at = utcnow()
    session.add(agreement)
    session.flush()
    audit.record(session, actor, "vbp_agreement.set_volume", "vbp_agreement", agreement.id,
                 before={"volume": before}, after={"volume": volume}, org_id=actor.org_id)
    return agreement

