"""Demo data of the procurement module (集采): one finished batch and one open for reporting.

``load(session)`` runs after the kernel's and the listing module's loaders in ``flask demo
load`` (``procurement.init_app`` imports this module, which registers it). It needs their demo
organisations, users and catalogue and builds, deterministically (fixed random seed), through
the procurement services — so every rule, state transition and audit record is the real one:

* **ZJ-YP-2026-01 浙江省2026年第一批药品带量采购**, finished and ``executing`` since its cycle
  started on 2026-07-01: 12 products (generic name + dosage form + representative
  specification); a volume report from every demo hospital for every product (usage of the last
  two years and demand in smallest units, sized by hospital type; four below 80 % of the average
  usage, each with its explanation; the general hospitals upload theirs as a file, the others
  type them in); 2–7 sealed bids per product (ucp ¥0.03–¥2.10, several at or below the ¥0.10
  floor, capacities on three), the winner selection under the batch's rule-set version (1–4
  winners a product), the publicity, the winners picking the 8 cities in ucp order (some stop
  early, so the bureau assigns the regions nobody picked, and the backups), ranked choices of
  nine hospitals, the allocation run (solved here, see below), its publication as the first
  year's agreements, and every agreement signed by both sides. ``pharma`` (钱塘康和药业) wins five products;
  ``hospital`` (西湖区人民医院) set its own ranking for two and signed all its agreements.
* **ZJ-YP-2026-02 浙江省2026年第二批药品带量采购**, ``reporting`` until 18 days after the load:
  8 products with reports from only some hospitals (a few of them incomplete), so the bureau's
  "not reported" list is long — and ``hospital`` has not reported yet.

**More bidders.** The listing catalogue has at most three makers of a generic name and dosage
form, and with the default rule set a product with three or fewer bidders has one winner
(entrant cap ``min(10, N − 3)``, at least 1). So that most products have 5–7 bidders and 2–4
winners, the bureau first imports 24 more catalogue products of the demo companies (the
products they bid with) through the catalogue import (``listing.services_catalogue``).

**The allocation run** is queued as a job by ``start_run`` like the bureau's button does, but
executed here through its three phases on the loader's session: the job wrapper
(``core.jobs.run_job``) opens a transaction of its own, which cannot see the loader's
uncommitted rows (PostgreSQL) or waits for the loader's write lock (SQLite). The job row is
then marked succeeded as the wrapper would, so the admin's job page shows no stuck job.

**Demo back-dating**: the services stamp "now" on rows; so that the finished batch reads as a
batch of spring 2026 (reports in February, bids in April, agreements signed in June), the
loader afterwards writes those timestamps back (plain column writes, not audited; the audit
trail keeps the real load time), as ``listing.demo`` does for its review queue. The open
batch's dates are relative to the day of the load.

Idempotent: a batch whose code exists is skipped (with everything it brings), so a second
load writes nothing. It only flushes; the command owns the transaction.
"""
from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import normalise
from core.auth import actor_for_user
from core.codes import validate_drug_code
from core.demo import demo_organisations
from core.models import Job, JobStatus, Organisation, OrgKind, User
from core.permissions import Actor
from core.types import LOCAL_TZ, local_today
from listing import price_rules
from listing import services as listing_services
from listing import services_catalogue as catalogue
from listing.demo import ALU as ALU_FOIL
from listing.demo import GENERICS, PVC
from listing.models import ImportStatus, Product
from procurement import services
from procurement import services_allocation as alloc
from procurement import services_award as award
from procurement.models import (
    Agreement,
    AllocationLine,
    AllocationRun,
    Batch,
    BatchProduct,
    Bid,
    Choice,
    RegionPick,
    RunStatus,
    Selection,
    VolumeReport,
    Winner,
)
from procurement.rules import ProcurementRuleParams

__all__ = ["FINISHED", "OPEN", "SEED", "hospital_type", "load", "plan_reports", "register",
           "summary"]

SEED = 20260701
D = Decimal

FINISHED = "ZJ-YP-2026-01"
OPEN = "ZJ-YP-2026-02"

# The 8 cities (地市) of the demo hospitals, the supply regions winners pick.
HZ, NB, WZ, JX, HU, SX, JH, TZ = ("330100", "330200", "330300", "330400", "330500", "330600",
                                  "330700", "331000")
ALL_CITIES = (HZ, NB, WZ, JX, SX, HU, JH, TZ)  # by number of demo hospitals


def _utc(y: int, m: int, d: int, hour: int = 9, minute: int = 0) -> datetime:
    """A moment given in China Standard Time (the bureau's clock), as aware UTC."""
    return datetime(y, m, d, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC)


# --- the finished batch: its timeline --------------------------------------------------------

CREATED = _utc(2026, 2, 9, 10)
REPORTING_OPENS = _utc(2026, 2, 16, 9)
REPORTS_FROM, REPORTS_DAYS = _utc(2026, 2, 17, 9), 24
REPORT_DEADLINE = _utc(2026, 3, 16, 17)
BIDDING_OPENS = _utc(2026, 4, 7, 9)
BIDS_FROM, BIDS_DAYS = _utc(2026, 4, 8, 10), 5
BIDDING_CLOSES = _utc(2026, 4, 14, 15)
EVALUATED = _utc(2026, 4, 14, 16)
PUBLICIZED = _utc(2026, 4, 15, 9)
ALLOCATING = _utc(2026, 4, 22, 9)
PICKS_FROM = _utc(2026, 4, 23, 9)
REGIONS_CLOSED = _utc(2026, 5, 6, 17)
CHOICES_FROM, CHOICES_DAYS = _utc(2026, 5, 7, 10), 10
RUN_AT = _utc(2026, 5, 20, 14)
PUBLISHED = _utc(2026, 5, 22, 10)
SIGNED_FROM, SIGNED_DAYS = _utc(2026, 5, 25, 9), 18
EXECUTING = _utc(2026, 6, 15, 9)
CYCLE_START = date(2026, 7, 1)


# --- plans -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Capacity:
    """A declared supply capacity, sized from the reports so that it binds: the agreed volume
    of whole cities and hospitals it must cover, plus ``share`` of some hospitals'."""

    cities: tuple[str, ...] = ()
    hospitals: tuple[int, ...] = ()
    partly: tuple[int, ...] = ()
    share: Decimal = D("0.5")


@dataclass(frozen=True)
class BidPlan:
    row: int         # company row of core.demo's enterprise table (1 = pharma)
    spec: str        # the catalogue product's printed spec, e.g. "10mg×14片"
    ucp: str         # the intended unit comparable price (yuan per representative unit)
    capacity: Capacity | None = None


@dataclass(frozen=True)
class ProductPlan:
    code: str
    generic: str
    form: str
    content: str
    unit: str
    smallest: str
    max_ucp: str
    usage: int                      # yearly use of a district general hospital, smallest units
    bids: tuple[BidPlan, ...] = ()
    #: Region wishes per winner (company row): cities in the order it picks them; when the
    #: list is done, the winner passes (finish_regions).
    regions: dict[int, tuple[str, ...]] = field(default_factory=dict)
    #: Hospital type → share of a general hospital's use (default: the type's scale).
    scale: dict[str, float] = field(default_factory=dict)


def _b(row: int, spec: str, ucp: str, capacity: Capacity | None = None) -> BidPlan:
    return BidPlan(row, spec, ucp, capacity)


#: The finished batch. Expected winners (entrant cap min(10, N − 3), at least 1; ucp ≤ 1.8 ×
#: the lowest or ≤ ¥0.10): P01 e07 pharma e02 e05 · P02 e11 e03 (e02, third, is above 1.8 ×
#: the lowest) · P03 e03 pharma (floor) ·
#: P04 e08 e04 · P05 pharma · P06 e04 e08 · P07 e05 pharma e13 · P08 e04 e08 e06 (floor) ·
#: P09 e12 · P10 e13 · P11 e07 · P12 pharma e08.
FINISHED_PRODUCTS: tuple[ProductPlan, ...] = (
    ProductPlan("P01", "阿托伐他汀钙", "普通片", "10", "mg", "片", "0.6000", 900_000, (
        _b(7, "10mg×14片", "0.118"),
        _b(1, "10mg×14片", "0.156", Capacity(cities=(SX, HU), hospitals=(5,), partly=(1,),
                                            share=D("0.4"))),
        _b(10, "20mg×7片", "0.295"),
        _b(2, "10mg×14片", "0.172"),
        _b(5, "10mg×7片", "0.198"),
        _b(9, "20mg×14片", "0.205"),
        _b(12, "10mg×28片", "0.245"),
    ), {7: (HZ, NB, WZ, JX), 1: (HZ, SX, HU), 2: (NB, TZ), 5: (JH,)}),
    ProductPlan("P02", "瑞舒伐他汀钙", "普通片", "10", "mg", "片", "0.7000", 650_000, (
        _b(11, "10mg×7片", "0.135"),
        _b(3, "10mg×7片", "0.168", Capacity(cities=(NB, TZ, SX), partly=(2,))),
        _b(6, "10mg×14片", "0.251"),
        _b(1, "10mg×7片", "0.262"),
        _b(2, "10mg×14片", "0.247"),
        _b(14, "10mg×7片", "0.310"),
    ), {11: (HZ, WZ, JX), 3: (NB, HZ, TZ)}),
    ProductPlan("P03", "苯磺酸氨氯地平", "普通片", "5", "mg", "片", "0.4000", 1_200_000, (
        _b(3, "5mg×28片", "0.042"),
        _b(1, "5mg×7片", "0.078"),
        _b(5, "5mg×14片", "0.091"),
        _b(8, "5mg×28片", "0.120"),
        _b(10, "5mg×7片", "0.210"),
    ), {3: (NB, WZ, TZ, JH), 1: (HZ, SX, JX, HU)}),
    ProductPlan("P04", "硫酸氢氯吡格雷", "普通片", "75", "mg", "片", "2.5000", 420_000, (
        _b(8, "75mg×7片", "0.620"),
        _b(4, "75mg×7片", "0.780"),
        _b(1, "75mg×7片", "1.150"),
        _b(12, "75mg×14片", "0.950"),
        _b(15, "75mg×7片", "2.100"),
    ), {8: (HZ, NB, WZ, SX, JX), 4: (HZ, TZ)}),
    ProductPlan("P05", "恩替卡韦", "普通片", "0.5", "mg", "片", "1.2000", 160_000, (
        _b(1, "0.5mg×7片", "0.168"),
        _b(3, "0.5mg×7片", "0.182"),
        _b(15, "0.5mg×7片", "0.860"),
    ), {1: (HZ, NB, WZ, JX, SX)}, {"community": 0.1, "maternal": 0.02}),
    ProductPlan("P06", "阿莫西林", "硬胶囊", "0.25", "g", "粒", "0.4500", 320_000, (
        _b(4, "0.25g×24粒", "0.128"),
        _b(8, "0.25g×24粒", "0.139", Capacity(cities=(NB, JX), partly=(10,))),
        _b(14, "0.5g×24粒", "0.152"),
        _b(1, "0.25g×24粒", "0.176"),
        _b(11, "0.25g×24粒", "0.210"),
    ), {4: (HZ, WZ, SX, HU, JH, TZ), 8: (NB, HZ, JX)},
        {"community": 0.25, "maternal": 0.45, "rehab": 0.15}),
    ProductPlan("P07", "奥美拉唑", "肠溶胶囊", "20", "mg", "粒", "0.8000", 360_000, (
        _b(5, "20mg×14粒", "0.142"),
        _b(1, "20mg×14粒", "0.187"),
        _b(13, "20mg×14粒", "0.205"),
        _b(7, "20mg×14粒", "0.238"),
        _b(9, "20mg×28粒", "0.270"),
        _b(12, "20mg×14粒", "0.330"),
    ), {5: (HZ, NB, JX), 1: (HZ, WZ, HU), 13: (SX, TZ, JH)}),
    ProductPlan("P08", "盐酸二甲双胍", "普通片", "0.5", "g", "片", "0.2500", 1_500_000, (
        _b(4, "0.5g×20片", "0.031"),
        _b(8, "0.5g×20片", "0.043"),
        _b(6, "0.5g×40片", "0.069"),
        _b(10, "0.5g×60片", "0.082"),
        _b(15, "0.25g×48片", "0.094"),
        _b(1, "0.5g×20片", "0.105"),
    ), {4: (HZ, WZ, TZ), 8: (NB, HZ, JH), 6: (SX, JX, HU)}, {"community": 0.6}),
    ProductPlan("P09", "厄贝沙坦", "普通片", "150", "mg", "片", "0.9000", 480_000, (
        _b(12, "150mg×7片", "0.176"),
        _b(3, "150mg×7片", "0.213"),
    ), {12: ALL_CITIES}),
    ProductPlan("P10", "左氧氟沙星", "普通片", "0.5", "g", "片", "2.2000", 70_000, (
        _b(13, "0.5g×4片", "0.860"),
        _b(5, "0.5g×4片", "0.970"),
        _b(9, "0.5g×6片", "1.320"),
    ), {13: (HZ, NB, WZ)}, {"community": 0.2, "maternal": 0.3, "rehab": 0.2}),
    ProductPlan("P11", "格列美脲", "普通片", "1", "mg", "片", "0.6000", 260_000, (
        _b(7, "1mg×30片", "0.062"),
        _b(14, "1mg×30片", "0.081"),
    ), {7: ALL_CITIES}),
    ProductPlan("P12", "酒石酸美托洛尔", "普通片", "25", "mg", "片", "0.3000", 620_000, (
        _b(1, "25mg×20片", "0.038"),
        _b(8, "25mg×20片", "0.047"),
        _b(13, "50mg×20片", "0.061"),
        _b(3, "25mg×20片", "0.072"),
        _b(11, "25mg×40片", "0.118"),
    ), {1: (HZ, NB, WZ, JX, SX), 8: (NB, HU, JH, TZ)}),
)

#: The open batch (reports only, no bids yet).
OPEN_PRODUCTS: tuple[ProductPlan, ...] = (
    ProductPlan("P01", "缬沙坦", "硬胶囊", "80", "mg", "粒", "0.9500", 300_000),
    ProductPlan("P02", "坎地沙坦酯", "普通片", "4", "mg", "片", "0.8500", 180_000),
    ProductPlan("P03", "孟鲁司特钠", "普通片", "10", "mg", "片", "2.6000", 90_000,
                scale={"maternal": 0.3}),
    ProductPlan("P04", "雷贝拉唑钠", "肠溶片", "10", "mg", "片", "1.1000", 200_000),
    ProductPlan("P05", "头孢呋辛酯", "普通片", "0.25", "g", "片", "1.8000", 80_000,
                scale={"community": 0.25, "maternal": 0.4}),
    ProductPlan("P06", "盐酸西替利嗪", "普通片", "10", "mg", "片", "0.9500", 120_000),
    ProductPlan("P07", "利培酮", "普通片", "1", "mg", "片", "0.7000", 60_000,
                scale={"maternal": 0.0, "rehab": 0.1}),
    ProductPlan("P08", "氯雷他定", "普通片", "10", "mg", "片", "1.3000", 150_000),
)

#: Bidders' products the catalogue lacks, imported by the bureau before bidding:
#: (company row, generic name, dosage form, content, unit, units per package).
IMPORTED: tuple[tuple[int, str, str, str, str, int], ...] = (
    (2, "阿托伐他汀钙", "普通片", "10", "mg", 14), (5, "阿托伐他汀钙", "普通片", "10", "mg", 7),
    (9, "阿托伐他汀钙", "普通片", "20", "mg", 14), (12, "阿托伐他汀钙", "普通片", "10", "mg", 28),
    (3, "瑞舒伐他汀钙", "普通片", "10", "mg", 7), (6, "瑞舒伐他汀钙", "普通片", "10", "mg", 14),
    (14, "瑞舒伐他汀钙", "普通片", "10", "mg", 7),
    (5, "苯磺酸氨氯地平", "普通片", "5", "mg", 14), (8, "苯磺酸氨氯地平", "普通片", "5", "mg", 28),
    (4, "硫酸氢氯吡格雷", "普通片", "75", "mg", 7), (12, "硫酸氢氯吡格雷", "普通片", "75", "mg", 14),
    (11, "阿莫西林", "硬胶囊", "0.25", "g", 24), (14, "阿莫西林", "硬胶囊", "0.5", "g", 24),
    (7, "奥美拉唑", "肠溶胶囊", "20", "mg", 14), (9, "奥美拉唑", "肠溶胶囊", "20", "mg", 28),
    (12, "奥美拉唑", "肠溶胶囊", "20", "mg", 14),
    (1, "盐酸二甲双胍", "普通片", "0.5", "g", 20), (6, "盐酸二甲双胍", "普通片", "0.5", "g", 40),
    (10, "盐酸二甲双胍", "普通片", "0.5", "g", 60), (15, "盐酸二甲双胍", "普通片", "0.25", "g", 48),
    (9, "左氧氟沙星", "普通片", "0.5", "g", 6),
    (3, "酒石酸美托洛尔", "普通片", "25", "mg", 20), (11, "酒石酸美托洛尔", "普通片", "25", "mg", 40),
    (13, "酒石酸美托洛尔", "普通片", "50", "mg", 20),
)

#: Hospitals (rows of core.demo's hospital table; 1 = 西湖区人民医院, user ``hospital``) that
#: rank the winners themselves: product → [(company row, rank)]; a winner left out is not
#: accepted. The others keep the default (every winner serving the city, equally).
CHOICES: dict[int, dict[str, tuple[tuple[int, int], ...]]] = {
    1: {"P01": ((1, 1), (7, 2)), "P07": ((1, 1), (5, 2))},
    2: {"P02": ((3, 1), (11, 2)), "P04": ((4, 1), (8, 2))},
    5: {"P01": ((1, 1),)},
    7: {"P08": ((8, 1), (4, 2))},
    10: {"P06": ((8, 1), (4, 2))},
    12: {"P01": ((7, 1), (1, 2))},
    15: {"P04": ((4, 1), (8, 2)), "P07": ((1, 1), (5, 2))},
    17: {"P01": ((2, 1), (7, 2))},
    22: {"P12": ((8, 1), (1, 2))},
}

#: Reports below 80 % of the recent average usage, with the hospital's explanation.
LOW_REPORTS: dict[tuple[int, str], str] = {
    (4, "P06"): "本院2026年起压缩门诊抗菌药物使用，阿莫西林预计用量下降约三成。",
    (13, "P01"): "部分患者按临床路径转用瑞舒伐他汀钙，阿托伐他汀钙需求相应减少。",
    (19, "P10"): "落实抗菌药物临床应用专项整治，喹诺酮类使用强度持续下降。",
    (27, "P08"): "内分泌科部分慢病患者转至医共体分院就诊，本院需求量相应下调。",
}

#: The open batch: hospitals that have not reported at all, and those that reported only the
#: first n products. Row 1 (``hospital``) has not reported: the journey shows reporting.
OPEN_SILENT = frozenset({1, 3, 8, 11, 14, 18, 23, 26, 31, 33, 34, 36})
OPEN_PARTIAL = {6: 5, 20: 3, 28: 6, 37: 2}

_TYPE_SCALE = {"general": 1.0, "tcm": 0.5, "community": 0.4, "rehab": 0.3, "maternal": 0.06}
_FORM_LETTER = {"普通片": "T", "硬胶囊": "K", "肠溶胶囊": "N", "肠溶片": "E"}
_MATERIAL = {"肠溶胶囊": ALU_FOIL, "肠溶片": ALU_FOIL}
_FEN = D("0.01")


def hospital_type(name: str) -> str:
    for marker, kind in (("社区卫生服务中心", "community"), ("妇幼保健院", "maternal"),
                         ("康复医院", "rehab"), ("中医院", "tcm")):
        if marker in name:
            return kind
    return "general"


def _spec(content: str, unit: str, units: int, smallest: str) -> str:
    return f"{content}{unit}×{units}{smallest}"


# --- reports ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedReport:
    hospital: int  # row
    product: str   # batch product code
    usage_year_before: int
    usage_last_year: int
    demand: int
    explanation: str | None


def _hundreds(value: float) -> int:
    return max(0, int(round(value / 100.0)) * 100)


def plan_reports(products: Iterable[ProductPlan], hospitals: list[tuple[int, str]],
                 rng: random.Random, low: dict[tuple[int, str], str]) -> list[PlannedReport]:
    """Reports sized by hospital type and a per-hospital size, with a little noise; the
    ``low`` ones are about two thirds of the recent use and carry their explanation."""
    size = {row: rng.uniform(0.7, 1.3) for row, _ in hospitals}
    out = []
    for p in products:
        for row, name in hospitals:
            kind = hospital_type(name)
            base = p.usage * p.scale.get(kind, _TYPE_SCALE[kind]) * size[row]
            before = _hundreds(base * rng.uniform(0.88, 1.12))
            last = _hundreds(before * rng.uniform(0.97, 1.12))
            explanation = low.get((row, p.code))
            demand = _hundreds(last * (rng.uniform(0.6, 0.7) if explanation
                                       else rng.uniform(0.95, 1.1)))
            out.append(PlannedReport(row, p.code, before, last, demand, explanation))
    return out


# --- the loader ------------------------------------------------------------------------------

def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


class _Loader:
    """One run of the demo load: the demo organisations, their actors and the steps."""

    def __init__(self, session: Session) -> None:
        self.s = session
        orgs = demo_organisations()
        codes = [o.code for o in orgs]
        found = {o.code: o for o in session.exec(select(Organisation).where(
            Organisation.code.in_(codes)))}  # type: ignore[attr-defined]
        if len(found) != len(codes):
            raise RuntimeError("the kernel's demo organisations are missing: run "
                               "core.demo.load_core_demo first")
        self.hospitals = [found[o.code] for o in orgs if o.kind == OrgKind.hospital]
        self.companies = [found[o.code] for o in orgs if o.kind == OrgKind.enterprise]
        self.hospital_row = {h.id: row for row, h in enumerate(self.hospitals, start=1)}
        self.company_row = {c.id: row for row, c in enumerate(self.companies, start=1)}
        users = {u.username: u for u in session.exec(select(User))}
        self._users = users
        self._actors: dict[str, Actor] = {}

    # --- actors -------------------------------------------------------------------------

    def actor(self, username: str) -> Actor:
        if username not in self._actors:
            user = self._users.get(username)
            if user is None:
                raise RuntimeError(f"the kernel's demo user {username} is missing")
            self._actors[username] = actor_for_user(self.s, user)
        return self._actors[username]

    @property
    def bureau(self) -> Actor:
        return self.actor("admin")

    def hospital_actor(self, row: int, *, signer: bool = False) -> Actor:
        if row == 1:
            return self.actor("hospital" if signer else "hospital_op")
        return self.actor(f"h{row:02d}")

    def company_actor(self, row: int, *, signer: bool = False) -> Actor:
        if row == 1:
            return self.actor("pharma" if signer else "pharma_op")
        return self.actor("device" if row == 16 else f"e{row:02d}")

    # --- shared steps -------------------------------------------------------------------

    def create_batch(self, code: str, name: str, products: tuple[ProductPlan, ...], *,
                     report_deadline: datetime, bid_opens: datetime, bid_closes: datetime,
                     cycle_start: date, note: str) -> tuple[Batch, dict[str, BatchProduct]]:
        batch = services.create_batch(self.s, self.bureau, services.BatchIn(
            code=code, name=name, report_deadline=report_deadline, bid_opens_at=bid_opens,
            bid_closes_at=bid_closes, cycle_start=cycle_start, note=note))
        bps = {}
        for p in products:
            bps[p.code] = services.add_batch_product(
                self.s, self.bureau, batch.id, services.BatchProductIn(
                    code=p.code, generic_name=p.generic, dosage_form=p.form,
                    rep_content_value=D(p.content), rep_content_unit=p.unit, rep_units=1,
                    smallest_unit=p.smallest, max_ucp=D(p.max_ucp)))
        services.move_batch(self.s, self.bureau, batch.id, "open_reporting")
        return batch, bps

    def report(self, batch: Batch, bps: dict[str, BatchProduct],
               reports: list[PlannedReport], *, now: datetime | None,
               uploads: frozenset[int] = frozenset()) -> None:
        """Each hospital's reports: typed in one by one, or (``uploads``) as one CSV file."""
        by_hospital: dict[int, list[PlannedReport]] = defaultdict(list)
        for r in reports:
            by_hospital[r.hospital].append(r)
        for row, rows in by_hospital.items():
            actor = self.hospital_actor(row)
            if row in uploads:
                lines = ["品种编号,上年用量,前年用量,需求量,说明"] + [
                    f"{r.product},{r.usage_last_year},{r.usage_year_before},{r.demand},"
                    f"{r.explanation or ''}" for r in rows]
                services.import_reports(self.s, actor, batch.id, f"{row:02d}-报量.csv",
                                        "\n".join(lines).encode("utf-8"), now=now)
                continue
            for r in rows:
                services.submit_report(self.s, actor, bps[r.product].id, services.ReportIn(
                    usage_last_year=r.usage_last_year, usage_year_before=r.usage_year_before,
                    demand=r.demand, explanation=r.explanation), now=now)

    # --- the finished batch ---------------------------------------------------------------

    def import_bidder_products(self) -> int:
        """The bureau imports the bidders' products the catalogue lacks (产品目录导入)."""
        generics = {g.name: g for g in GENERICS}
        header = ("医保代码,类别,通用名,分类,剂型,规格,含量,含量单位,转换比,最小单位,包装单位,"
                  "包装材质,生产企业,生产企业统一社会信用代码,上市许可持有人,"
                  "上市许可持有人统一社会信用代码,批准文号,过评")
        lines = [header]
        for row, name, form, content, unit, units in IMPORTED:
            g, org = generics[name], self.companies[row - 1]
            smallest = "粒" if "胶囊" in form else "片"
            serial = (g.gid * 7919 + units * 104729 + row * 1299709) % 10 ** 6
            code = validate_drug_code(
                f"X{g.atc}A{g.gid:03d}{_FORM_LETTER[form]}8{units % 100:02d}{row:03d}"
                f"{serial:06d}")
            approval = f"国药准字H{2016 + (g.gid + row) % 9}{(g.gid * 37 + row * 11) % 10000:04d}"
            lines.append(",".join((
                code, "药品", name, g.cls, form, _spec(content, unit, units, smallest), content,
                unit, str(units), smallest, "盒", _MATERIAL.get(form, PVC), org.name, org.code,
                org.name, org.code, approval, "是")))
        result = catalogue.import_products(self.s, self.bureau, "集采申报产品目录补充.csv",
                                           "\n".join(lines).encode("utf-8"))
        if result.status != ImportStatus.succeeded:
            raise RuntimeError(f"the bidders' products could not be imported: {result.errors}")
        return result.created

    def bid_products(self) -> dict[tuple[int, str, str], Product]:
        """Catalogue products by (company row, generic name, printed spec)."""
        names = {p.generic for p in FINISHED_PRODUCTS}
        out = {}
        for prod in self.s.exec(select(Product).where(
                Product.generic_name.in_(names))):  # type: ignore[attr-defined]
            row = self.company_row.get(prod.mah_org_id or -1)
            if row is not None:
                out[(row, prod.generic_name, prod.spec)] = prod
        return out

    def agreed(self, reports: list[PlannedReport], product: str, ratio: Decimal,
               hospitals: Iterable[int]) -> int:
        wanted = set(hospitals)
        return sum(_ceil(D(r.demand) * ratio) for r in reports
                   if r.product == product and r.hospital in wanted)

    def capacity(self, cap: Capacity, plan: ProductPlan, reports: list[PlannedReport],
                 params: ProcurementRuleParams) -> int:
        """Capacity = the agreed volume it must cover + ``share`` of the optional, rounded
        up to 10,000 units (the ratio is that of the expected number of winners)."""
        ratio = params.agreed_ratio(len(plan.regions))
        in_cities = [row for row, h in enumerate(self.hospitals, start=1)
                     if award.city_of(h.region_code) in cap.cities]
        must = self.agreed(reports, plan.code, ratio, [*in_cities, *cap.hospitals])
        extra = self.agreed(reports, plan.code, ratio, cap.partly)
        units = must + _ceil(D(extra) * cap.share)
        return -(-units // 10_000) * 10_000

    def bids(self, batch: Batch, bps: dict[str, BatchProduct],
             reports: list[PlannedReport]) -> dict[int, datetime]:
        """Every bid, through the company's operator, during the bidding window. Package
        prices are the intended ucp converted back with the batch product's 差比价 factors,
        in whole fen. Returns the moment of each bid (for the back-dating)."""
        products = self.bid_products()
        params = services.batch_rules(self.s, batch)
        diff = listing_services.current_rules(self.s).params.to_diff_params()
        moments: dict[int, datetime] = {}
        for plan in FINISHED_PRODUCTS:
            bp = bps[plan.code]
            rep = price_rules.Spec(form=bp.dosage_form, content=bp.rep_content_value,
                                   content_unit=bp.rep_content_unit, volume_ml=bp.rep_volume_ml,
                                   units=bp.rep_units)
            for i, b in enumerate(plan.bids):
                product = products.get((b.row, plan.generic, b.spec))
                if product is None:
                    raise RuntimeError(f"{plan.code}: no catalogue product {plan.generic} "
                                       f"{b.spec} of e{b.row:02d}: load the listing demo first")
                k = price_rules.k_factors(rep, listing_services.product_spec(product),
                                          diff).product
                package = max(_FEN, (D(b.ucp) * k).quantize(_FEN, rounding=ROUND_HALF_UP))
                capacity = (self.capacity(b.capacity, plan, reports, params)
                            if b.capacity else None)
                at = BIDS_FROM + timedelta(days=(i * 2 + b.row) % BIDS_DAYS,
                                           hours=i % 6, minutes=(b.row * 7) % 60)
                bid = services.submit_bid(self.s, self.company_actor(b.row), bp.id,
                                          services.BidIn(product_id=product.id,
                                                         package_price=package,
                                                         capacity=capacity), now=at)
                moments[bid.id] = at
        return moments

    def pick_regions(self, bps: dict[str, BatchProduct]) -> None:
        """Winners pick in ucp order, one city per turn, as far as their wishes go; then they
        pass. The bureau assigns what nobody picked, and the backups."""
        for plan in FINISHED_PRODUCTS:
            bp = bps[plan.code]
            while True:
                board = award.region_board(self.s, self.bureau, bp.id)
                if board.turn is None:
                    break
                row = self.company_row[board.turn.org_id]
                held = set(board.regions_of(board.turn.id))
                wishes = plan.regions.get(row)
                if wishes is None:
                    raise RuntimeError(f"{plan.code}: unexpected winner e{row:02d}; "
                                       "the bids and the region wishes disagree")
                city = next((c for c in wishes if c not in held), None)
                actor = self.company_actor(row)
                if city is None:
                    award.finish_regions(self.s, actor, bp.id)
                else:
                    award.pick_region(self.s, actor, bp.id, city)

    def choose(self, bps: dict[str, BatchProduct]) -> None:
        winners = {(w.batch_product_id, self.company_row[w.org_id]): w.id
                   for w in self.s.exec(select(Winner).where(
                       Winner.batch_product_id.in_([bp.id for bp in bps.values()])))}  # type: ignore[attr-defined]
        for i, (row, products) in enumerate(sorted(CHOICES.items())):
            for code, ranks in products.items():
                bp = bps[code]
                award.set_choices(self.s, self.hospital_actor(row), bp.id,
                                  {winners[(bp.id, company)]: rank for company, rank in ranks},
                                  now=CHOICES_FROM + timedelta(days=i % CHOICES_DAYS))

    def allocate(self, batch: Batch) -> AllocationRun:
        """Queue the run as the bureau does, execute its job phases here, mark the job."""
        run = alloc.start_run(self.s, self.bureau, batch.id)
        loaded = alloc.load_run(self.s, run.id)
        solved = alloc.solve_run(loaded, lambda fn: fn(self.s))  # progress on this session
        result = alloc.store_run(self.s, solved, run.id)
        if run.status != RunStatus.optimal:
            raise RuntimeError(f"the demo allocation of {batch.code} is {run.status.value}: "
                               + "; ".join(run.diagnosis))
        job = self.s.get(Job, run.job_id)
        job.status, job.attempts, job.result = JobStatus.succeeded, 1, normalise(result)
        job.started_at, job.finished_at, job.lease_until = RUN_AT, run.finished_at, None
        self.s.add(job)
        self.s.flush()
        return run

    def sign(self, batch: Batch) -> None:
        """Both sides confirm every first-year agreement, organisation by organisation."""
        parties = self.s.execute(sa.select(Agreement.hospital_id, Agreement.enterprise_id)
                                 .where(Agreement.batch_id == batch.id).distinct()).all()
        hospitals = sorted({h for h, _ in parties}, key=self.hospital_row.__getitem__)
        companies = sorted({e for _, e in parties}, key=self.company_row.__getitem__)
        for org_id in hospitals:
            alloc.sign_all(self.s, self.hospital_actor(self.hospital_row[org_id], signer=True),
                           batch.id, 1)
        for org_id in companies:
            alloc.sign_all(self.s, self.company_actor(self.company_row[org_id], signer=True),
                           batch.id, 1)

    def finished_batch(self) -> dict[str, Any]:
        imported = self.import_bidder_products()
        batch, bps = self.create_batch(
            FINISHED, "浙江省2026年第一批药品带量采购", FINISHED_PRODUCTS,
            report_deadline=REPORT_DEADLINE, bid_opens=BIDDING_OPENS,
            bid_closes=BIDDING_CLOSES, cycle_start=CYCLE_START,
            note="浙江省医疗保障局组织，全省公立医疗机构参加；采购周期2年，协议每年一签。")
        hospitals = [(row, h.name) for row, h in enumerate(self.hospitals, start=1)]
        reports = plan_reports(FINISHED_PRODUCTS, hospitals, random.Random(SEED), LOW_REPORTS)
        uploads = frozenset(row for row, name in hospitals if hospital_type(name) == "general")
        self.report(batch, bps, reports, now=REPORTS_FROM + timedelta(days=3), uploads=uploads)
        services.move_batch(self.s, self.bureau, batch.id, "open_bidding",
                            reason="报量截止，未报量医疗机构已书面确认不参加本批次")
        bid_times = self.bids(batch, bps, reports)
        services.move_batch(self.s, self.bureau, batch.id, "close_bidding")
        award.run_selection(self.s, self.bureau, batch.id)
        # The publicity ran from 15 April for three working days, to 20 April.
        services.move_batch(self.s, self.bureau, batch.id, "publicize", now=PUBLICIZED)
        services.move_batch(self.s, self.bureau, batch.id, "start_allocation", now=ALLOCATING)
        self.pick_regions(bps)
        award.close_regions(self.s, self.bureau, batch.id)
        self.choose(bps)
        run = self.allocate(batch)
        alloc.publish_run(self.s, self.bureau, run.id)
        self.sign(batch)
        services.move_batch(self.s, self.bureau, batch.id, "execute")
        self.back_date_finished(batch, bid_times)
        return {"bidder_products_imported": imported, "run_id": run.id}

    # --- the open batch -------------------------------------------------------------------

    def open_batch(self) -> None:
        today = local_today()
        deadline = datetime.combine(today + timedelta(days=18), time(17), LOCAL_TZ)
        opens = datetime.combine(today + timedelta(days=35), time(9), LOCAL_TZ)
        batch, bps = self.create_batch(
            OPEN, "浙江省2026年第二批药品带量采购", OPEN_PRODUCTS,
            report_deadline=deadline.astimezone(UTC), bid_opens=opens.astimezone(UTC),
            bid_closes=(opens + timedelta(days=7, hours=6)).astimezone(UTC),
            cycle_start=date(today.year + 1, 4, 1),
            note="请各公立医疗机构于报量截止日前据实填报，报量低于近两年平均用量80%的须说明理由。")
        hospitals = [(row, h.name) for row, h in enumerate(self.hospitals, start=1)
                     if row not in OPEN_SILENT]
        planned = plan_reports(OPEN_PRODUCTS, hospitals, random.Random(SEED + 1), {})
        index = {p.code: i for i, p in enumerate(OPEN_PRODUCTS)}
        planned = [r for r in planned
                   if index[r.product] < OPEN_PARTIAL.get(r.hospital, len(OPEN_PRODUCTS))]
        self.report(batch, bps, planned, now=None)
        self.back_date_open(batch, today)

    # --- back-dating (see the module docstring) -------------------------------------------

    def _set(self, model: Any, where: Any, **values: Any) -> None:
        self.s.execute(sa.update(model).where(where).values(**values))

    def _each(self, model: Any, moments: dict[int, dict[str, datetime]]) -> None:
        if not moments:
            return
        table = model.__table__
        names = sorted(next(iter(moments.values())))
        stmt = (table.update().where(table.c.id == sa.bindparam("b_id"))
                .values({n: sa.bindparam(f"b_{n}") for n in names}))
        self.s.execute(stmt, [{"b_id": i, **{f"b_{n}": v[n] for n in names}}
                              for i, v in moments.items()])

    def _report_moments(self, batch: Batch, first: datetime, days: int) -> None:
        rows = self.s.execute(sa.select(VolumeReport.id, VolumeReport.org_id).where(
            VolumeReport.batch_id == batch.id)).all()
        spread = max(1, days)
        self._each(VolumeReport, {
            rid: dict.fromkeys(("created_at", "updated_at"), first + timedelta(
                days=(self.hospital_row[org] * 5) % spread,
                hours=(self.hospital_row[org] * 3) % 8)) for rid, org in rows})

    def back_date_finished(self, batch: Batch, bid_times: dict[int, datetime]) -> None:
        b = batch.id
        self._set(Batch, Batch.id == b, created_at=CREATED, updated_at=EXECUTING,
                  status_changed_at=EXECUTING)
        self._set(BatchProduct, BatchProduct.batch_id == b, created_at=CREATED)
        self._report_moments(batch, REPORTS_FROM, REPORTS_DAYS)
        self._each(Bid, {i: {"submitted_at": t, "updated_at": t} for i, t in bid_times.items()})
        self._set(Selection, Selection.batch_id == b, computed_at=EVALUATED)
        picks = self.s.execute(sa.select(RegionPick.id, RegionPick.turn, RegionPick.assigned)
                               .where(RegionPick.batch_id == b)).all()
        self._each(RegionPick, {
            i: {"created_at": REGIONS_CLOSED if assigned
                else PICKS_FROM + timedelta(hours=4 * turn)} for i, turn, assigned in picks})
        self._set(Winner, sa.and_(Winner.batch_id == b, Winner.regions_done_at.is_not(None)),  # type: ignore[union-attr]
                  regions_done_at=REGIONS_CLOSED - timedelta(days=2))
        choices = self.s.execute(sa.select(Choice.id, Choice.org_id)
                                 .where(Choice.batch_id == b)).all()
        self._each(Choice, {i: {"created_at": CHOICES_FROM + timedelta(
            days=self.hospital_row[org] % CHOICES_DAYS, hours=2)} for i, org in choices})
        run = self.s.exec(select(AllocationRun).where(AllocationRun.batch_id == b)).one()
        finished = RUN_AT + timedelta(seconds=max(1.0, run.seconds or 0.0))
        self._set(AllocationRun, AllocationRun.id == run.id, created_at=RUN_AT,
                  finished_at=finished)
        self._set(Job, Job.id == run.job_id, created_at=RUN_AT, started_at=RUN_AT,
                  finished_at=finished)
        agreements = self.s.execute(sa.select(Agreement.id, Agreement.hospital_id,
                                              Agreement.enterprise_id)
                                    .where(Agreement.batch_id == b)).all()
        moments = {}
        for i, h, e in agreements:
            hospital = SIGNED_FROM + timedelta(days=self.hospital_row[h] % (SIGNED_DAYS // 2),
                                               hours=self.hospital_row[h] % 7)
            company = SIGNED_FROM + timedelta(days=SIGNED_DAYS // 2 + self.company_row[e] % 8,
                                              hours=self.company_row[e] % 7)
            last = max(hospital, company)
            moments[i] = {"created_at": PUBLISHED, "hospital_signed_at": hospital,
                          "enterprise_signed_at": company, "status_changed_at": last,
                          "updated_at": last}
        self._each(Agreement, moments)
        self.s.expire_all()

    def back_date_open(self, batch: Batch, today: date) -> None:
        created = datetime.combine(today - timedelta(days=16), time(10), LOCAL_TZ)
        opened = datetime.combine(today - timedelta(days=14), time(9), LOCAL_TZ)
        self._set(Batch, Batch.id == batch.id, created_at=created, updated_at=opened,
                  status_changed_at=opened)
        self._set(BatchProduct, BatchProduct.batch_id == batch.id, created_at=created)
        self._report_moments(batch, opened + timedelta(days=1), 13)
        self.s.expire_all()


# --- summary, load, registration -------------------------------------------------------------

def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(model).where(*where))
               .scalar_one())


def _grouped(session: Session, column: Any, *where: Any) -> dict[str, int]:
    rows = session.execute(sa.select(column, sa.func.count()).where(*where)
                           .group_by(column)).all()
    return dict(sorted((getattr(k, "value", k), int(n)) for k, n in rows))


def summary(session: Session) -> dict[str, Any]:
    """Counts of the procurement data (all of it, demo or not), and the demo run's figures."""
    out: dict[str, Any] = {
        "batches": _grouped(session, Batch.status),
        "batch_products": _count(session, BatchProduct),
        "volume_reports": _count(session, VolumeReport),
        "bids": _count(session, Bid),
        "selections": _count(session, Selection),
        "winners": _count(session, Winner),
        "region_picks": _grouped(session, RegionPick.role),
        "choices": _count(session, Choice),
        "allocation_runs": _grouped(session, AllocationRun.status),
        "allocation_lines": _count(session, AllocationLine),
        "agreements": _grouped(session, Agreement.status),
    }
    run = session.exec(select(AllocationRun).join(Batch, Batch.id == AllocationRun.batch_id)
                       .where(Batch.code == FINISHED,
                              AllocationRun.status == RunStatus.published)).first()
    if run is not None:
        out["demo_run"] = {"products": run.products_total, "hospitals": run.hospitals,
                           "variables": run.variables, "rank_penalty": run.rank_penalty,
                           "agreed_units": run.agreed_units,
                           "total_cost_fen": run.total_cost_fen}
    return out


def load(session: Session) -> dict[str, Any]:
    """Load the procurement demo data (see the module docstring); return the counts.

    ``created`` lists the batches this run created: empty when both exist, in which case
    nothing at all is written.
    """
    existing = set(session.exec(select(Batch.code).where(
        Batch.code.in_([FINISHED, OPEN]))))  # type: ignore[attr-defined]
    created: list[str] = []
    detail: dict[str, Any] = {}
    if existing != {FINISHED, OPEN}:
        loader = _Loader(session)
        if FINISHED not in existing:
            detail = loader.finished_batch()
            created.append(FINISHED)
        if OPEN not in existing:
            loader.open_batch()
            created.append(OPEN)
        session.flush()
    return {"created": created, **detail, **summary(session)}


def register() -> None:
    """Add :func:`load` to ``flask demo load`` (after the listing module's loader)."""
    from core.cli import register_demo_loader
    register_demo_loader("procurement", load)


register()
