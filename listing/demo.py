"""Demo data of the listing module (挂网): catalogue, reference prices, listings, applications.

``load(session)`` runs after the kernel's loader in ``flask demo load`` (this module registers
it when ``listing.init_app`` imports it). It needs the kernel's demo organisations and users
(``core.demo``) and builds, deterministically (fixed random seed):

* the catalogue: 46 real generic names (oral solids in several strengths and pack sizes so the
  price-difference ratio 差比价 shows, oral solutions in 100/200 ml bottles, injections with
  fill volumes) made by the 15 demo pharmaceutical companies, and 32 consumables made by the
  9 device companies. Each product's marketing-authorisation holder and manufacturer is its
  demo company, so that company may apply to list it. Codes are valid 23-character ``X``
  drug codes and 27-character ``C`` consumable codes (fictional, like the companies);
* reference prices from other provinces; a few lie below the listed price, so those listings
  carry a linkage deadline (价格联动期限);
* most products already listed, inserted directly as migrated from the previous platform
  (one ``listing.demo.load`` audit record covers that bulk insert);
* applications in every status and of every kind, driven through ``listing.services`` by the
  real demo users (``pharma``, ``pharma_op``, ``reviewer``, ``admin``, ``e02`` …), with
  evidence files (small valid PDF and PNG files) in the attachment store; suspended and
  delisted listings made through ``services.change_listing``;
* the holiday calendar (节假日/调休) of 2026 as published by the State Council, and the
  statutory holidays of 2027 as provisional entries of the bureau.

**Demo back-dating**: the services stamp "now" on everything. So that the reviewer's queue
shows items of different ages, the loader afterwards writes ``submitted_at`` / ``created_at``
/ ``assigned_at`` of some applications back by a few days (a plain column write, not audited;
the audit trail keeps the real load time).

Idempotent: when the first demo product code is already in the catalogue, nothing is written
and the counts are returned. It only flushes; the command owns the transaction.
"""
from __future__ import annotations

import random
import struct
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from core import audit
from core.auth import actor_for_user
from core.codes import consumable_group_code, validate_consumable_code, validate_drug_code
from core.demo import demo_organisations
from core.models import Organisation, OrgKind, RuleSet, User
from core.permissions import Actor
from core.types import local_today, utcnow
from listing import price_rules, services
from listing.models import (
    Application,
    ApplicationKind,
    Attachment,
    Holiday,
    Listing,
    ListingCategory,
    ListingReason,
    ListingStatus,
    Objection,
    Product,
    ProductKind,
    ProductStatus,
    ReferencePrice,
)
from listing.storage import AttachmentStore, store_for

__all__ = ["SEED", "load", "make_pdf", "make_png", "plan", "register"]

SEED = 20261123
D = Decimal
_FEN = Decimal("0.01")

# --- package materials --------------------------------------------------------------------

PVC = "聚氯乙烯固体药用硬片/药用铝箔"
ALU = "冷冲压成型固体药用复合硬片/药用铝箔"
HDPE = "口服固体药用高密度聚乙烯瓶"
TUBE = "聚丙烯药用泡腾片管"
SACHET = "聚酯/铝/聚乙烯药品包装用复合膜袋"
PET = "口服液体药用聚酯瓶"
AMP = "中硼硅玻璃安瓿"
PP = "聚丙烯输液瓶"
BAG = "非PVC多层共挤输液用袋"
VIAL = "中硼硅玻璃管制注射剂瓶"

#: One letter per dosage form inside the (fictional) drug codes.
_FORM_CODE = {
    "普通片": "T", "肠溶片": "E", "分散片": "D", "咀嚼片": "C", "泡腾片": "P", "缓释片": "H",
    "控释片": "M", "硬胶囊": "K", "肠溶胶囊": "N", "软胶囊": "R", "散剂": "S", "口服溶液": "L",
    "注射液": "I", "注射用无菌粉末": "F",
}

#: Planning only: ratios for forms outside the bureau's default table, so prices of those
#: products are plausible too. The services never see these (no application uses them).
_PLAN_DIFF = price_rules.DiffParams(form_ratios={
    **price_rules.DEFAULT_FORM_RATIOS, "缓释片": D("1.4"), "控释片": D("1.6"), "散剂": D("1"),
    "注射用无菌粉末": D("1"),
})


@dataclass(frozen=True)
class Sku:
    """One specification (品规) of a generic: content per smallest unit (solids) or per ml."""

    form: str
    content: str | None
    unit: str | None
    units: int
    min_unit: str
    package_unit: str = "盒"
    material: str = PVC
    volume: str | None = None
    spec: str | None = None
    base: str | None = None  # price of the first SKU of a family (when not the generic's first)
    fam: str | None = None   # price family; default by form (solids, oral liquids, injections)

    @property
    def family(self) -> str:
        if self.fam:
            return self.fam
        return {"注射液": "inj", "注射用无菌粉末": "powder", "口服溶液": "liquid"}.get(
            self.form, "solid")

    def printed(self) -> str:
        if self.spec:
            return self.spec
        tail = "/瓶" if self.package_unit == "瓶" else ""
        return f"{self.content}{self.unit}×{self.units}{self.min_unit}{tail}"

    def rule_spec(self) -> price_rules.Spec:
        return price_rules.Spec(
            form=self.form, content=D(self.content) if self.content else None,
            content_unit=self.unit, volume_ml=D(self.volume) if self.volume else None,
            units=self.units, material=self.material)


def _t(c: str, n: int, u: str = "mg", form: str = "普通片", **kw: Any) -> Sku:
    return Sku(form, c, u, n, "片", **kw)


def _c(c: str, n: int, u: str = "mg", form: str = "硬胶囊", **kw: Any) -> Sku:
    return Sku(form, c, u, n, "粒", **kw)


def _e(c: str, n: int, u: str = "mg") -> Sku:
    return _t(c, n, u, "肠溶片", material=ALU)


def _ec(c: str, n: int, u: str = "mg") -> Sku:
    return _c(c, n, u, "肠溶胶囊", material=ALU)


def _bottle(c: str, n: int, u: str = "mg", **kw: Any) -> Sku:
    return Sku("普通片", c, u, n, "片", "瓶", HDPE, **kw)


def _sol(conc: str, vol: str, spec: str, base: str | None = None) -> Sku:
    return Sku("口服溶液", conc, "mg", 1, "瓶", "盒", PET, vol, spec, base)


def _inj(conc: str, vol: str, spec: str, base: str | None = None, fam: str | None = None,
         material: str = AMP, min_unit: str = "支") -> Sku:
    return Sku("注射液", conc, "mg", 1, min_unit, min_unit, material, vol, spec, base, fam)


def _powder(c: str, spec: str) -> Sku:
    return Sku("注射用无菌粉末", c, "g", 1, "瓶", "瓶", VIAL, None, spec)


@dataclass(frozen=True)
class Generic:
    """A generic name with its specifications and makers: (company row, flag, SKU indexes)."""

    gid: int
    name: str
    atc: str
    cls: str
    rep_price: str  # package price of SKU 0 at a company with flag "pass"
    skus: tuple[Sku, ...]
    makers: tuple[tuple[int, str, tuple[int, ...] | None], ...]


def _g(gid: int, name: str, atc: str, cls: str, rep_price: str, skus: Iterable[Sku],
       makers: Iterable[tuple[int, str, tuple[int, ...] | None]]) -> Generic:
    return Generic(gid, name, atc, cls, rep_price, tuple(skus), tuple(makers))


# Company rows are those of core.demo's enterprise table: 1 = 钱塘康和药业 (login ``pharma``),
# 2–15 pharmaceutical companies (``e02`` … ``e15``), 16 = 安澜医疗器械 (``device``), 17–24
# device makers (``e17`` … ``e24``). Flags: pass 过评, np 未过评, ref 参比制剂, vbp 集采中选,
# neg 国家谈判, reg 常规.
GENERICS: tuple[Generic, ...] = (
    _g(1, "阿托伐他汀钙", "C10AA", "调血脂药（他汀类）", "9.80",
       (_t("10", 14), _t("10", 28), _t("20", 7), _t("20", 14), _t("20", 28), _t("40", 7)),
       ((1, "pass", None), (7, "vbp", (0, 3)), (10, "ref", (2, 3, 5)))),
    _g(2, "瑞舒伐他汀钙", "C10AA", "调血脂药（他汀类）", "8.60",
       (_t("10", 7), _t("5", 7), _t("10", 14), _t("10", 28), _t("20", 7)),
       ((1, "pass", None), (2, "pass", (0, 1, 2)), (11, "vbp", (0, 2)))),
    _g(3, "苯磺酸氨氯地平", "C08CA", "钙通道阻滞剂", "4.20",
       (_t("5", 7), _t("5", 14), _t("5", 28), _t("2.5", 14), _t("10", 7)),
       ((1, "pass", None), (3, "vbp", (0, 2)), (10, "ref", (0, 1)))),
    _g(4, "盐酸二甲双胍", "A10BA", "口服降糖药（双胍类）", "5.60",
       (_t("0.5", 20, "g"), _t("0.5", 40, "g"), _t("0.25", 48, "g"),
        _t("0.5", 30, "g", "缓释片"), _e("0.25", 48, "g")),
       ((4, "pass", None), (8, "np", (0, 2)))),
    _g(5, "奥美拉唑", "A02BC", "质子泵抑制剂", "12.60",
       (_ec("20", 14), _ec("10", 14), _ec("20", 28), _e("20", 14), _e("10", 14)),
       ((1, "pass", None), (5, "pass", (0, 1, 3)), (13, "np", (0, 2)))),
    _g(6, "布洛芬", "M01AE", "非甾体抗炎药", "6.80",
       (_t("0.2", 24, "g"), _t("0.1", 24, "g"), _c("0.2", 20, "g"), _c("0.2", 20, "g", "软胶囊")),
       ((6, "pass", None), (12, "np", (0, 1)), (1, "pass", (0, 2)))),
    _g(7, "对乙酰氨基酚", "N02BE", "解热镇痛药", "3.50",
       (_t("0.5", 12, "g"), _t("0.5", 24, "g"), _t("0.5", 10, "g", "泡腾片", material=TUBE),
        _sol("32", "100", "100ml:3.2g", base="12.50")),
       ((14, "reg", None), (9, "reg", (0, 1)))),
    _g(8, "硫酸氢氯吡格雷", "B01AC", "抗血小板药", "18.90",
       (_t("75", 7), _t("75", 14), _t("75", 28), _t("25", 20)),
       ((1, "pass", None), (8, "vbp", (0, 2)), (15, "ref", (0, 1)))),
    _g(9, "缬沙坦", "C09CA", "血管紧张素Ⅱ受体拮抗剂", "9.10",
       (_c("80", 7), _c("80", 14), _c("80", 28), _c("160", 7), _t("80", 14)),
       ((6, "pass", None), (1, "pass", (0, 1, 3)))),
    _g(10, "厄贝沙坦", "C09CA", "血管紧张素Ⅱ受体拮抗剂", "8.30",
       (_t("150", 7), _t("150", 14), _t("75", 14), _t("150", 28), _t("75", 12, form="分散片")),
       ((3, "pass", None), (12, "np", (0, 1)))),
    _g(11, "左氧氟沙星", "J01MA", "喹诺酮类抗菌药", "14.50",
       (_t("0.5", 4, "g"), _t("0.1", 12, "g"), _t("0.5", 6, "g"),
        _inj("5", "100", "100ml:0.5g", base="16.80", material=PP, min_unit="瓶"),
        _inj("2", "250", "250ml:0.5g", material=PP, min_unit="瓶")),
       ((5, "pass", None), (13, "pass", (0, 3)))),
    _g(12, "盐酸莫西沙星", "J01MA", "喹诺酮类抗菌药", "26.50",
       (_t("0.4", 3, "g"), _t("0.4", 6, "g"),
        _inj("1.6", "250", "250ml:0.4g", base="45.00", material=PP, min_unit="瓶")),
       ((7, "pass", None), (10, "ref", (0, 2)))),
    _g(13, "头孢克肟", "J01DD", "头孢菌素类抗菌药", "9.60",
       (_c("0.1", 6, "g"), _c("0.1", 12, "g"), _t("0.1", 6, "g", "分散片"),
        _t("0.1", 12, "g", "分散片"), _t("50", 12)),
       ((9, "pass", None), (14, "np", (0, 2)))),
    _g(14, "蒙脱石", "A07BC", "止泻药", "10.50",
       (Sku("散剂", "3", "g", 10, "袋", "盒", SACHET), Sku("散剂", "3", "g", 15, "袋", "盒", SACHET)),
       ((11, "reg", None), (2, "reg", (0,)))),
    _g(15, "孟鲁司特钠", "R03DC", "白三烯受体拮抗剂", "16.80",
       (_t("10", 5), _t("10", 10), _t("4", 5, form="咀嚼片"), _t("5", 5, form="咀嚼片"),
        _t("4", 10, form="咀嚼片")),
       ((1, "pass", None), (4, "pass", (0, 2)))),
    _g(16, "甲硝唑", "P01AB", "硝基咪唑类抗菌药", "3.20",
       (_t("0.2", 21, "g"), _bottle("0.2", 100, "g"),
        _inj("5", "100", "100ml:0.5g", base="4.80", material=PP, min_unit="瓶")),
       ((12, "reg", None), (5, "reg", (0, 2)))),
    _g(17, "阿奇霉素", "J01FA", "大环内酯类抗菌药", "13.80",
       (_t("0.25", 6, "g"), _t("0.5", 3, "g"), _c("0.25", 6, "g"), _t("0.25", 6, "g", "分散片"),
        _t("0.25", 12, "g")),
       ((2, "pass", None), (10, "ref", (0, 1)))),
    _g(18, "恩替卡韦", "J05AF", "核苷类抗乙肝病毒药", "9.90",
       (_t("0.5", 7), _t("0.5", 14), _t("0.5", 28), _t("1", 7), _t("0.5", 7, form="分散片"),
        _c("0.5", 14)),
       ((1, "pass", None), (3, "vbp", (0, 2)), (15, "ref", (0,)))),
    _g(19, "富马酸替诺福韦二吡呋酯", "J05AF", "核苷类抗病毒药", "26.00",
       (_bottle("300", 30), _t("300", 7)),
       ((6, "pass", None), (13, "vbp", (0,)))),
    _g(20, "格列美脲", "A10BB", "口服降糖药（磺酰脲类）", "8.40",
       (_t("1", 30), _t("2", 30), _t("2", 15)),
       ((7, "pass", None), (14, "np", (0, 1)))),
    _g(21, "阿卡波糖", "A10BF", "口服降糖药（α-糖苷酶抑制剂）", "18.60",
       (_t("50", 30), _t("100", 30), _t("50", 15), _c("50", 30)),
       ((9, "pass", None), (15, "ref", (0, 1)))),
    _g(22, "硝苯地平", "C08CA", "钙通道阻滞剂", "24.50",
       (_t("30", 7, form="控释片", material=ALU), _t("30", 14, form="控释片", material=ALU),
        _t("20", 30, form="缓释片"), _bottle("10", 100, base="4.50", fam="plain")),
       ((3, "pass", None), (11, "np", (0, 3)))),
    _g(23, "酒石酸美托洛尔", "C07AB", "β受体阻滞剂", "4.60",
       (_t("25", 20), _t("50", 20), _t("25", 40), _t("50", 40)),
       ((8, "pass", None), (1, "pass", (0, 1)))),
    _g(24, "坎地沙坦酯", "C09CA", "血管紧张素Ⅱ受体拮抗剂", "12.40",
       (_t("4", 14), _t("8", 14), _t("8", 28), _t("4", 28)),
       ((13, "pass", None), (4, "np", (0, 1)))),
    _g(25, "雷贝拉唑钠", "A02BC", "质子泵抑制剂", "11.20",
       (_e("10", 7), _e("10", 14), _e("20", 7), _ec("10", 14), _e("20", 14)),
       ((2, "pass", None), (11, "vbp", (0, 1)))),
    _g(26, "泮托拉唑钠", "A02BC", "质子泵抑制剂", "13.50",
       (_e("40", 7), _e("40", 14), _e("20", 14), _ec("40", 7)),
       ((5, "pass", None), (9, "np", (0, 1)))),
    _g(27, "兰索拉唑", "A02BC", "质子泵抑制剂", "16.20",
       (_e("30", 7), _e("30", 14), _e("15", 14), _ec("30", 14)),
       ((14, "pass", None), (6, "pass", (0, 3)))),
    _g(28, "多潘立酮", "A03FA", "促胃肠动力药", "12.80",
       (_t("10", 30), _t("10", 42), _t("10", 12)),
       ((12, "np", None), (10, "ref", (0, 1)))),
    _g(29, "氯雷他定", "R06AX", "抗组胺药", "9.50",
       (_t("10", 6), _t("10", 12), _c("10", 6), _sol("1", "60", "60ml:60mg", base="14.50")),
       ((7, "pass", None), (15, "ref", (0, 1)))),
    _g(30, "盐酸西替利嗪", "R06AE", "抗组胺药", "8.90",
       (_t("10", 6), _t("10", 12), _t("10", 24), _sol("1", "120", "120ml:0.12g", base="18.00")),
       ((4, "pass", None), (13, "np", (0, 1)))),
    _g(31, "地氯雷他定", "R06AX", "抗组胺药", "14.20",
       (_t("5", 6), _t("5", 12), _t("5", 6, form="分散片")),
       ((11, "pass", None), (3, "np", (0, 1)))),
    _g(32, "盐酸舍曲林", "N06AB", "抗抑郁药（SSRI）", "28.60",
       (_t("50", 14), _t("50", 28), _t("100", 14), _c("50", 14)),
       ((2, "pass", None), (10, "ref", (0, 1)))),
    _g(33, "草酸艾司西酞普兰", "N06AB", "抗抑郁药（SSRI）", "22.40",
       (_t("10", 7), _t("10", 14), _t("5", 7), _t("20", 7), _t("10", 28)),
       ((8, "pass", None), (1, "pass", (0, 1, 2)))),
    _g(34, "奥氮平", "N05AH", "抗精神病药", "36.50",
       (_t("5", 14), _t("5", 28), _t("10", 7), _t("10", 14)),
       ((6, "pass", None), (15, "ref", (0, 3)))),
    _g(35, "利培酮", "N05AX", "抗精神病药", "15.80",
       (_t("1", 20), _bottle("1", 60), _t("2", 20), _sol("1", "30", "30ml:30mg", base="32.00")),
       ((9, "pass", None), (14, "np", (0, 2)))),
    _g(36, "阿立哌唑", "N05AX", "抗精神病药", "42.00",
       (_t("5", 20), _t("10", 10), _t("10", 20)),
       ((12, "pass", None), (5, "pass", (0, 2)))),
    _g(37, "碳酸钙D3", "A12AX", "矿物质补充剂", "24.00",
       (_t("600", 30, spec="每片含钙600mg、维生素D3 125IU×30片"),
        _bottle("600", 60, spec="每片含钙600mg、维生素D3 125IU×60片/瓶"),
        _t("500", 30, form="咀嚼片", spec="每片含钙500mg、维生素D3 200IU×30片"),
        _t("500", 60, form="咀嚼片", spec="每片含钙500mg、维生素D3 200IU×60片")),
       ((7, "reg", None), (1, "reg", (0, 2)))),
    _g(38, "维生素C", "A11GA", "维生素类", "3.50",
       (_bottle("0.1", 100, "g"), _t("1", 15, "g", "泡腾片", material=TUBE),
        _inj("250", "2", "2ml:0.5g", base="0.80"), _inj("200", "5", "5ml:1g")),
       ((13, "reg", None), (2, "reg", (0, 2)))),
    _g(39, "阿莫西林", "J01CA", "青霉素类抗菌药", "8.72",
       (_c("0.25", 24, "g"), _c("0.25", 36, "g"), _c("0.25", 48, "g"), _c("0.5", 24, "g"),
        _t("0.25", 24, "g", "分散片"), _t("0.25", 24, "g")),
       ((1, "pass", None), (4, "pass", (0, 2)), (8, "np", (0, 3)))),
    _g(40, "头孢呋辛酯", "J01DC", "头孢菌素类抗菌药", "14.80",
       (_t("0.25", 6, "g"), _t("0.25", 12, "g"), _t("0.125", 12, "g"),
        _t("0.125", 12, "g", "分散片"), _c("0.125", 12, "g")),
       ((1, "pass", None), (7, "pass", (0, 1)))),
    _g(41, "注射用头孢曲松钠", "J01DD", "头孢菌素类抗菌药", "3.80",
       (_powder("0.5", "0.5g"), _powder("1", "1.0g"), _powder("2", "2.0g")),
       ((11, "pass", None), (3, "pass", (1, 2)), (1, "pass", (0, 1)))),
    _g(42, "氯化钠注射液", "B05XA", "电解质平衡调节药", "0.65",
       (_inj("9", "10", "10ml:90mg"),
        _inj("9", "100", "100ml:0.9g", base="2.60", fam="lvp100", material=PP, min_unit="瓶"),
        _inj("9", "250", "250ml:2.25g", base="3.10", fam="lvp250", material=PP, min_unit="瓶"),
        _inj("9", "500", "500ml:4.5g", base="3.90", fam="lvp500", material=BAG, min_unit="袋")),
       ((12, "reg", None), (14, "reg", (1, 2, 3)))),
    _g(43, "盐酸氨溴索", "R05CB", "祛痰药", "6.50",
       (_t("30", 20), _sol("3", "100", "100ml:0.3g", base="15.00"), _sol("3", "200", "200ml:0.6g"),
        _inj("7.5", "2", "2ml:15mg", base="2.80")),
       ((1, "pass", None), (9, "pass", (0, 1)))),
    _g(44, "乳果糖", "A06AD", "渗透性泻药", "20.00",
       (_sol("667", "100", "100ml:66.7g"), _sol("667", "200", "200ml:133.4g")),
       ((1, "pass", None), (10, "ref", None))),
    _g(45, "达格列净", "A10BK", "口服降糖药（SGLT-2抑制剂）", "58.80",
       (_t("10", 14), _t("5", 14), _t("10", 28)),
       ((10, "neg", None), (6, "pass", (0,)))),
    _g(46, "沙库巴曲缬沙坦钠", "C09DX", "抗心力衰竭药（ARNI）", "79.80",
       (_t("100", 14), _t("50", 14), _t("200", 14), _t("100", 28)),
       ((15, "neg", None), (2, "pass", (0, 1)))),
)


@dataclass(frozen=True)
class Device:
    """A consumable product of one device maker; specs: (spec, units, min unit, package, price)."""

    item: int
    name: str
    cls: str  # six digits inside the code
    category: str
    row: int
    flag: str
    approval: str
    material: str
    specs: tuple[tuple[str, int, str, str, str], ...]


_POUCH = "医用透析纸/塑料复合包装"
_TRAY = "吸塑盒+特卫强灭菌袋"

DEVICES: tuple[Device, ...] = (
    Device(1, "一次性使用无菌注射器 带针", "140101", "注射穿刺类材料 / 注射器", 16, "reg",
           "浙械注准20182140301", _POUCH,
           (("1ml 0.45×16RWLB", 1, "支", "支", "0.32"), ("2ml 0.6×25TWLB", 1, "支", "支", "0.36"),
            ("5ml 0.7×32TWLB", 1, "支", "支", "0.42"), ("10ml 0.8×38TWLB", 1, "支", "支", "0.55"),
            ("20ml 1.2×38TWSB", 1, "支", "支", "0.85"))),
    Device(2, "一次性使用输液器 带针", "140102", "注射穿刺类材料 / 输液器", 16, "reg",
           "浙械注准20182140302", _POUCH,
           (("重力输液式 0.7×25TWLB", 1, "套", "套", "1.60"),
            ("精密过滤 5μm 0.7×25TWLB", 1, "套", "套", "4.80"))),
    Device(3, "医用外科口罩", "140301", "医用卫生材料及敷料 / 口罩", 17, "reg",
           "浙械注准20202140455", "医用初包装袋",
           (("17.5cm×9.5cm 挂耳式 50只/盒", 50, "只", "盒", "25.00"),
            ("17.5cm×9.5cm 挂耳式 10只/袋", 10, "只", "袋", "6.00"))),
    Device(4, "医用防护口罩", "140302", "医用卫生材料及敷料 / 口罩", 17, "reg",
           "浙械注准20202140456", "医用初包装袋",
           (("折叠式 头戴式 25只/盒", 25, "只", "盒", "75.00"),)),
    Device(5, "一次性使用静脉留置针", "140103", "注射穿刺类材料 / 留置针", 18, "reg",
           "国械注准20193140612", _TRAY,
           (("密闭式 Y型 18G×1.25in", 1, "支", "支", "12.50"),
            ("密闭式 Y型 20G×1.25in", 1, "支", "支", "12.50"),
            ("密闭式 Y型 22G×1.00in", 1, "支", "支", "12.80"),
            ("密闭式 Y型 24G×0.75in", 1, "支", "支", "13.20"))),
    Device(6, "冠状动脉雷帕霉素洗脱钴基合金支架系统", "010101",
           "血管介入治疗类材料 / 冠状动脉支架", 19, "vbp", "国械注准20183130245", _TRAY,
           (("2.50mm×18mm", 1, "套", "套", "598.00"), ("3.00mm×24mm", 1, "套", "套", "598.00"),
            ("3.50mm×29mm", 1, "套", "套", "598.00"))),
    Device(7, "经皮冠状动脉腔内成形术用球囊扩张导管", "010102",
           "血管介入治疗类材料 / 球囊扩张导管", 19, "vbp", "国械注准20173030381", _TRAY,
           (("预扩张 2.00mm×15mm", 1, "根", "根", "286.00"),
            ("预扩张 2.50mm×20mm", 1, "根", "根", "286.00"),
            ("后扩张 非顺应性 3.00mm×15mm", 1, "根", "根", "312.00"))),
    Device(8, "疏水性丙烯酸酯非球面人工晶状体", "080101", "眼科材料 / 人工晶状体", 20, "reg",
           "国械注准20203160578", "泡罩+灭菌袋",
           (("折叠式 +20.0D 光学区6.0mm", 1, "片", "片", "1180.00"),
            ("折叠式 +22.0D 光学区6.0mm", 1, "片", "片", "1180.00"),
            ("预装式 +21.0D 光学区6.0mm", 1, "片", "片", "1560.00"))),
    Device(9, "一次性使用真空采血管", "220101", "检验类材料 / 采血管", 21, "reg",
           "鲁械注准20192220311", "塑料托盘+收缩膜",
           (("2ml EDTA-K2 紫帽 13×75mm", 1, "支", "支", "0.78"),
            ("5ml 促凝 红帽 13×100mm", 1, "支", "支", "0.82"))),
    Device(10, "一次性使用无菌导尿管", "020301", "非血管介入治疗类材料 / 导尿管", 21, "reg",
           "鲁械注准20182140127", _POUCH,
           (("双腔 乳胶 14Fr", 1, "根", "根", "6.50"), ("双腔 乳胶 16Fr", 1, "根", "根", "6.50"))),
    Device(11, "医用脱脂纱布块", "140401", "医用卫生材料及敷料 / 纱布", 22, "reg",
           "沪械注准20172640215", "医用纸塑包装袋",
           (("5cm×7cm-8层 10片/包", 10, "片", "包", "3.20"),)),
    Device(12, "透明薄膜敷料", "140402", "医用卫生材料及敷料 / 敷料", 22, "reg",
           "沪械注准20192140388", "医用纸塑包装袋", (("6cm×7cm", 1, "片", "片", "2.10"),)),
    Device(13, "一次性使用吸痰管", "020401", "非血管介入治疗类材料 / 吸痰管", 23, "reg",
           "京械注准20182080117", _POUCH, (("12Fr 带控制阀", 1, "根", "根", "1.10"),)),
    Device(14, "一次性使用中心静脉导管包", "010301", "血管介入治疗类材料 / 中心静脉导管", 24,
           "reg", "国械注准20193030477", _TRAY,
           (("单腔 7Fr×20cm", 1, "套", "套", "186.00"), ("双腔 7Fr×20cm", 1, "套", "套", "268.00"))),
)

_FLAG_MULT = {"pass": D("1"), "np": D("0.92"), "ref": D("2.6"), "vbp": D("0.22"),
              "vbpns": D("0.3"), "neg": D("1"), "reg": D("1")}
_FLAG_CATEGORY = {
    "pass": ListingCategory.consistency_passed, "np": ListingCategory.not_passed,
    "ref": ListingCategory.reference_preparation, "vbp": ListingCategory.vbp_winner,
    "vbpns": ListingCategory.vbp_non_supplying, "neg": ListingCategory.negotiated,
    "reg": ListingCategory.regular,
}

Key = tuple[int, int, int]  # (company row, generic id or 1000 + device item, SKU index)

PHARMA, DEVICE = 1, 16
SYRINGE, PROTECTIVE_MASK = 1001, 1004

#: Products kept out of the migrated listings: the new-listing applications list them.
RESERVED: frozenset[Key] = frozenset({
    (1, 1, 5), (1, 1, 4), (1, 44, 1), (1, 39, 2), (1, 15, 4), (1, 2, 4), (1, 18, 5), (1, 41, 1),
    (2, 32, 3), (9, 13, 4), (8, 8, 2), (10, 45, 2), (11, 31, 2), (3, 41, 2),
    (DEVICE, SYRINGE, 3), (DEVICE, SYRINGE, 4), (17, PROTECTIVE_MASK, 0),
})
#: Listings the scenarios act on (price change, delisting, relisting, suspension) and the
#: representative products of applications: always migrated as listed.
MUST_LIST: frozenset[Key] = frozenset({
    (1, 8, 0), (1, 3, 2), (1, 37, 0), (1, 6, 2), (1, 23, 1), (5, 26, 0), (4, 24, 0), (6, 9, 4),
    (7, 20, 1), (9, 21, 2), (13, 19, 0), (14, 27, 1), (15, 8, 1), (1, 5, 0),
    (1, 1, 0), (1, 44, 0), (1, 39, 0), (1, 2, 0), (1, 18, 0), (9, 13, 0), (10, 45, 0),
})
#: Listings with a reference price below their price: days from today to the linkage deadline.
LINKAGE: dict[Key, int] = {(1, 8, 0): 9, (1, 5, 0): 20, (14, 27, 1): -12, (15, 8, 1): -45}
#: Price increases are asked for these: their reference prices lie well above the price.
HIGH_REFERENCES: frozenset[Key] = frozenset({(4, 24, 0), (1, 37, 0)})
PRICE_OVERRIDE: dict[Key, str] = {
    (1, 39, 0): "8.72", (1, 39, 2): "16.80",   # DOMAIN §1 worked example: ×48 cap ¥17.00
    (1, 44, 0): "20.00", (1, 44, 1): "36.80",  # oral solution 100 ml → 200 ml cap ¥38.00
    (8, 8, 2): "8.20",
}
CATEGORY_OVERRIDE: dict[Key, ListingCategory] = {(8, 8, 2): ListingCategory.vbp_non_supplying}

_PROVINCES: tuple[tuple[str, str], ...] = (
    ("江苏省", "江苏省医保局挂网公告{y}-{n:03d}号"),
    ("广东省", "广东省药品交易中心挂网价格公示〔{y}〕{n}号"),
    ("上海市", "上海市医药集中招标采购事务管理所挂网价格通知（沪药事〔{y}〕{n}号）"),
    ("山东省", "山东省医保局药品挂网价格联动公告（{y}年第{n}期）"),
    ("安徽省", "安徽省医药集中采购平台挂网价格调整公示{y}-{n:03d}号"),
    ("福建省", "福建省医保局药品挂网价格公示（闽医保〔{y}〕{n}号）"),
    ("湖北省", "湖北省医保局挂网药品价格公告{y}-{n:03d}号"),
    ("四川省", "四川省药械集中采购及医药价格监测平台挂网公告（{y}年第{n}号）"),
    ("河南省", "河南省医保局药品挂网价格通报{y}-{n:03d}号"),
    ("江西省", "江西省医保局挂网价格公示{y}-{n:03d}号"),
)
_REF_FIRST, _REF_LAST = date(2025, 3, 1), date(2026, 10, 30)
_LISTED_FIRST, _LISTED_LAST = date(2024, 1, 2), date(2026, 10, 30)


@dataclass
class Ref:
    province: str
    price: Decimal
    day: date
    source: str


@dataclass
class Planned:
    """A product to insert, its intended listing price and category, and its references."""

    key: Key
    values: dict[str, Any]  # Product columns, without the organisation ids
    price: Decimal
    category: ListingCategory
    rep: Key | None  # the representative product of the same company, generic and family
    refs: list[Ref] = field(default_factory=list)
    listed: bool = True
    listed_day: date = _LISTED_FIRST


@dataclass
class Plan:
    products: list[Planned]
    linkage: dict[Key, int]  # listings priced above a reference: days to the linkage deadline

    def by_key(self) -> dict[Key, Planned]:
        return {p.key: p for p in self.products}


def _fen(value: Decimal) -> Decimal:
    return max(value.quantize(_FEN, rounding=ROUND_HALF_UP), _FEN)


def _jitter(rng: random.Random, low: float, high: float) -> Decimal:
    return D(str(round(rng.uniform(low, high), 3)))


def _day(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, (last - first).days))


def _approval(rng: random.Random, region: str) -> str:
    if rng.random() < 0.5:
        return f"国药准字H{region[:2]}02{rng.randint(1, 9999):04d}"
    return f"国药准字H{rng.randint(2008, 2025)}{rng.randint(1, 9999):04d}"


def _drug_code(g: Generic, idx: int, row: int) -> str:
    serial = (g.gid * 7919 + idx * 104729 + row * 1299709) % 10 ** 6
    form = _FORM_CODE[g.skus[idx].form]
    return validate_drug_code(f"X{g.atc}A{g.gid:03d}{form}{idx + 1:03d}{row:03d}{serial:06d}")


def _consumable_code(d: Device, idx: int) -> str:
    group = f"C{d.cls}{d.item:05d}{d.row:03d}{(d.item * 31 + d.row) % 10 ** 5:05d}"
    code = group + f"{idx + 1:03d}{(d.item * 131 + idx * 17 + d.row) % 10 ** 4:04d}"
    return validate_consumable_code(code)


def _plan_drugs(rng: random.Random, regions: dict[int, str]) -> list[Planned]:
    out: list[Planned] = []
    for g in GENERICS:
        family_base: dict[str, tuple[int, Decimal]] = {}
        for idx, sku in enumerate(g.skus):
            if sku.family not in family_base:
                base = sku.base or (g.rep_price if idx == 0 else None)
                assert base is not None, (g.name, idx)
                family_base[sku.family] = (idx, D(base))
        for row, flag, subset in g.makers:
            mult = _FLAG_MULT[flag] * _jitter(rng, 0.92, 1.08)
            company_rep: dict[str, tuple[int, Decimal]] = {}
            for idx in subset if subset is not None else range(len(g.skus)):
                sku, key = g.skus[idx], (row, g.gid, idx)
                rep: Key | None = None
                if sku.family not in company_rep:
                    bi, base = family_base[sku.family]
                    price = _fen(base * mult) if bi == idx else price_rules.diff_cap(
                        _fen(base * mult), g.skus[bi].rule_spec(), sku.rule_spec(), _PLAN_DIFF)[1]
                    price = D(PRICE_OVERRIDE.get(key, price))
                    company_rep[sku.family] = (idx, price)
                else:
                    ri, rp = company_rep[sku.family]
                    rep = (row, g.gid, ri)
                    cap = price_rules.diff_cap(rp, g.skus[ri].rule_spec(), sku.rule_spec(),
                                               _PLAN_DIFF)[1]
                    price = D(PRICE_OVERRIDE.get(key, _fen(cap * _jitter(rng, 0.86, 0.99))))
                category = CATEGORY_OVERRIDE.get(key, _FLAG_CATEGORY[flag])
                out.append(Planned(key=key, price=price, category=category, rep=rep, values={
                    "code": _drug_code(g, idx, row), "kind": ProductKind.drug,
                    "generic_name": g.name, "category": g.cls, "dosage_form": sku.form,
                    "spec": sku.printed(),
                    "content_value": D(sku.content) if sku.content else None,
                    "content_unit": sku.unit, "volume_ml": D(sku.volume) if sku.volume else None,
                    "units_per_package": sku.units, "min_unit": sku.min_unit,
                    "package_unit": sku.package_unit, "package_material": sku.material,
                    "approval_number": _approval(rng, regions[row]),
                    "consistency_passed": flag in ("pass", "vbp", "vbpns"),
                    "reference_preparation": flag == "ref",
                    "vbp_winner": flag in ("vbp", "vbpns"), "negotiated": flag == "neg",
                    "_row": row,
                }))
    return out


def _plan_devices() -> list[Planned]:
    out: list[Planned] = []
    for d in DEVICES:
        for idx, (spec, units, min_unit, package_unit, price) in enumerate(d.specs):
            code = _consumable_code(d, idx)
            out.append(Planned(
                key=(d.row, 1000 + d.item, idx), price=D(price),
                category=_FLAG_CATEGORY[d.flag], rep=None, values={
                    "code": code, "kind": ProductKind.consumable, "generic_name": d.name,
                    "category": d.category, "dosage_form": None, "spec": spec,
                    "content_value": None, "content_unit": None, "volume_ml": None,
                    "units_per_package": units, "min_unit": min_unit,
                    "package_unit": package_unit, "package_material": d.material,
                    "approval_number": d.approval, "consistency_passed": False,
                    "reference_preparation": False, "vbp_winner": d.flag == "vbp",
                    "negotiated": False, "group_code": consumable_group_code(code),
                    "_row": d.row,
                }))
    return out


def _references(rng: random.Random, p: Planned) -> list[Ref]:
    low, high = (1.18, 1.35) if p.key in HIGH_REFERENCES else (1.02, 1.28)
    provinces = rng.sample(_PROVINCES, rng.randint(1, 3))
    refs = []
    for i, (province, template) in enumerate(provinces):
        factor = _jitter(rng, 0.86, 0.95) if i == 0 and p.key in LINKAGE else _jitter(rng, low, high)
        day = (date(2026, 10, rng.randint(8, 28)) if i == 0 and p.key in LINKAGE
               else _day(rng, _REF_FIRST, _REF_LAST))
        refs.append(Ref(province, _fen(p.price * factor), day,
                        template.format(y=day.year, n=rng.randint(8, 160))))
    return refs


def plan() -> Plan:
    """The demo catalogue, prices and references: pure, deterministic (seed :data:`SEED`)."""
    rng = random.Random(SEED)
    enterprises = [o for o in demo_organisations() if o.kind == OrgKind.enterprise]
    regions = {row: o.region_code for row, o in enumerate(enterprises, start=1)}
    products = _plan_drugs(rng, regions) + _plan_devices()
    keys = {p.key for p in products}
    assert RESERVED <= keys and MUST_LIST <= keys and set(LINKAGE) <= keys, "stale demo keys"
    reps = {p.rep for p in products if p.rep}
    for p in products:
        scenario = p.key in RESERVED or p.key in MUST_LIST
        if scenario or p.key in LINKAGE or rng.random() < 0.72:
            p.refs = _references(rng, p)
        p.listed = p.key not in RESERVED and (
            scenario or p.key in reps or p.rep is None or rng.random() > 0.1)
        p.listed_day = _day(rng, _LISTED_FIRST, _LISTED_LAST)
    # A few more listings priced above another province's new price (linkage deadlines).
    linkage = dict(LINKAGE)
    candidates = [p for p in products if p.listed and p.refs and p.key not in MUST_LIST
                  and p.key not in linkage and p.key[0] != PHARMA
                  and p.values["kind"] == ProductKind.drug]
    for days, p in zip((4, 6, 13, 17, 22, 27), rng.sample(candidates, 6), strict=True):
        low = p.refs[0]
        low.price, low.day = _fen(p.price * _jitter(rng, 0.86, 0.95)), date(2026, 10, 20)
        linkage[p.key] = days
    return Plan(products, linkage)


# --- files ----------------------------------------------------------------------------------

def _pdf_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(*lines: str) -> bytes:
    """A minimal valid one-page PDF (Helvetica, ASCII text) with a correct xref table."""
    ops = ["BT", "/F1 13 Tf", "56 780 Td", "18 TL"]
    ops += [f"({_pdf_text(line.encode('ascii', 'replace').decode())}) Tj T*" for line in lines]
    ops.append("ET")
    content = "\n".join(ops).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def make_png(width: int = 64, height: int = 40, color: tuple[int, int, int] = (200, 30, 30)
             ) -> bytes:
    """A small valid RGB PNG: a coloured ring (a seal) on white."""
    cx, cy, r = width / 2, height / 2, min(width, height) / 2 - 3
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            d = ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5
            rows += bytes(color) if r - 3 <= d <= r else b"\xff\xff\xff"

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


def _attachment_store() -> AttachmentStore:
    """The app's attachment store (honours ATTACHMENT_DIR), else ``instance/attachments``;
    outside an app context a temporary folder."""
    from flask import current_app, has_app_context
    if has_app_context():
        store = current_app.extensions.get("yaocai.attachments")
        if store is not None:
            return store
        return store_for(current_app.extensions["yaocai.settings"].instance_path)
    return store_for(tempfile.mkdtemp(prefix="yaocai-demo-"))


# --- holidays -------------------------------------------------------------------------------

#: 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04): (name, first, last, worked weekends).
HOLIDAYS_2026: tuple[tuple[str, date, date, tuple[date, ...]], ...] = (
    ("元旦", date(2026, 1, 1), date(2026, 1, 3), (date(2026, 1, 4),)),
    ("春节", date(2026, 2, 15), date(2026, 2, 23), (date(2026, 2, 14), date(2026, 2, 28))),
    ("清明节", date(2026, 4, 4), date(2026, 4, 6), ()),
    ("劳动节", date(2026, 5, 1), date(2026, 5, 5), (date(2026, 5, 9),)),
    ("端午节", date(2026, 6, 19), date(2026, 6, 21), ()),
    ("中秋节", date(2026, 9, 25), date(2026, 9, 27), ()),
    ("国庆节", date(2026, 10, 1), date(2026, 10, 7), (date(2026, 9, 20), date(2026, 10, 10))),
)
#: 2027: only the statutory holidays on their dates (全国年节及纪念日放假办法, 2025 edition);
#: the State Council publishes the 调休 schedule late in 2026, so these are the bureau's
#: provisional entries, marked as such in their names.
HOLIDAYS_2027: tuple[tuple[str, tuple[date, ...]], ...] = (
    ("元旦", (date(2027, 1, 1),)),
    ("春节", (date(2027, 2, 5), date(2027, 2, 6), date(2027, 2, 7), date(2027, 2, 8))),
    ("清明节", (date(2027, 4, 5),)),
    ("劳动节", (date(2027, 5, 1), date(2027, 5, 2))),
    ("端午节", (date(2027, 6, 9),)),
    ("中秋节", (date(2027, 9, 15),)),
    ("国庆节", (date(2027, 10, 1), date(2027, 10, 2), date(2027, 10, 3))),
)
_PROVISIONAL = "（省医保局预置：法定假日，调休以国务院通知为准）"


def holiday_entries() -> list[services.HolidayIn]:
    entries = []
    for name, first, last, worked in HOLIDAYS_2026:
        day = first
        while day <= last:
            entries.append(services.HolidayIn(day=day, name=name))
            day += timedelta(days=1)
        entries += [services.HolidayIn(day=d, name=f"{name}调休上班", workday=True) for d in worked]
    for name, days in HOLIDAYS_2027:
        entries += [services.HolidayIn(day=d, name=name + _PROVISIONAL) for d in days]
    return sorted(entries, key=lambda e: e.day)


# --- the load -------------------------------------------------------------------------------

def _username(row: int) -> str:
    return {PHARMA: "pharma", DEVICE: "device"}.get(row, f"e{row:02d}")


class _Loader:
    """One run of the demo load: the plan, the demo actors and the scenario steps."""

    def __init__(self, session: Session, store: AttachmentStore, the_plan: Plan) -> None:
        self.s = session
        self.store = store
        self.plan = the_plan
        self.planned = the_plan.by_key()
        self.rng = random.Random(SEED + 1)
        self.today = local_today()
        self.now = utcnow()
        enterprises = [o.code for o in demo_organisations() if o.kind == OrgKind.enterprise]
        found = dict(session.execute(sa.select(Organisation.code, Organisation.id)
                                     .where(Organisation.code.in_(enterprises))).all())
        if len(found) != len(enterprises):
            raise RuntimeError("the kernel's demo organisations are missing: run "
                               "core.demo.load_core_demo first")
        self.orgs = {row: session.get(Organisation, found[code])
                     for row, code in enumerate(enterprises, start=1)}
        self.users = {u.username: u for u in session.exec(select(User))}
        device = self.users.get("device")
        if device is None or device.org_id != self.orgs[DEVICE].id:
            raise RuntimeError("the kernel's demo users are missing or changed")
        self._actors: dict[str, Actor] = {}
        self.products: dict[Key, Product] = {}
        self.listings: dict[Key, Listing] = {}

    def actor(self, username: str) -> Actor:
        if username not in self._actors:
            self._actors[username] = actor_for_user(self.s, self.users[username])
        return self._actors[username]

    # --- bulk data ----------------------------------------------------------------------

    def seed_rules(self) -> None:
        """Version 1 of the listing rule set, if the bureau has none yet (as
        ``core.rules.current`` would insert it, but with an aware timestamp)."""
        if self.s.exec(select(RuleSet.id).where(RuleSet.name == services.RULE_SET)).first():
            return
        self.s.add(RuleSet(name=services.RULE_SET, version=1, note="defaults",
                           params=price_rules.DEFAULT_LISTING_RULES.model_dump(mode="json"),
                           effective_from=datetime(2000, 1, 1, tzinfo=UTC)))
        self.s.flush()

    def holidays(self) -> int:
        admin = self.actor("admin")
        existing = set(self.s.exec(select(Holiday.day)))
        added = 0
        for entry in holiday_entries():
            if entry.day not in existing:  # never overwrite the bureau's own entries
                services.set_holiday(self.s, admin, entry)
                added += 1
        return added

    def insert_products(self) -> None:
        rows = []
        for p in self.plan.products:
            org = self.orgs[p.values["_row"]]
            values = {k: v for k, v in p.values.items() if not k.startswith("_")}
            rows.append(Product(status=ProductStatus.active, manufacturer_name=org.name,
                                manufacturer_code=org.code, manufacturer_org_id=org.id,
                                mah_name=org.name, mah_code=org.code, mah_org_id=org.id,
                                created_at=self.now, updated_at=self.now, **values))
        self.s.add_all(rows)
        self.s.flush()
        self.products = {p.key: row for p, row in zip(self.plan.products, rows, strict=True)}

    def insert_references(self) -> int:
        rows = [{"product_id": self.products[p.key].id, "province": r.province, "price": r.price,
                 "price_date": min(r.day, self.today), "source": r.source,
                 "created_at": self.now}
                for p in self.plan.products for r in p.refs]
        self.s.execute(sa.insert(ReferencePrice), rows)
        return len(rows)

    def insert_listings(self) -> None:
        latest = min(_LISTED_LAST, self.today - timedelta(days=1))
        rows: dict[Key, Listing] = {}
        for p in self.plan.products:
            if not p.listed:
                continue
            product, org = self.products[p.key], self.orgs[p.key[0]]
            day = min(p.listed_day, latest)
            deadline = None
            if p.key in self.plan.linkage:
                deadline = self.today + timedelta(days=self.plan.linkage[p.key])
            rows[p.key] = Listing(
                product_id=product.id, org_id=org.id, status=ListingStatus.listed,
                category=p.category, price=p.price, product_code=product.code,
                product_kind=product.kind, generic_name=product.generic_name,
                dosage_form=product.dosage_form, spec=product.spec, company_name=org.name,
                listed_at=datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC),
                linkage_deadline=deadline, updated_at=self.now)
        self.s.add_all(rows.values())
        self.s.flush()
        # The public search matches names through this dictionary (services fill it when an
        # application takes effect; a bulk insert has to do it itself).
        services.index_search_names(self.s, [
            pair for row in rows.values()
            for pair in (("generic", row.generic_name), ("company", row.company_name))])
        self.listings = rows

    # --- application helpers ------------------------------------------------------------

    def _evidence(self, username: str, app: Application, key: Key, *, at_most: Decimal,
                  lowest_only: bool = False, title: str = "Price evidence"
                  ) -> list[services.EvidenceIn]:
        """Attach a PDF and declare the product's lowest reference prices (at least
        ``at_most``, the proposed price) with it."""
        refs = sorted(self.planned[key].refs, key=lambda r: r.price)
        if lowest_only:
            refs = refs[:1]
        lines: list[tuple[str, Decimal, date, str]] = [
            (r.province, r.price, min(r.day, self.today), r.source) for r in refs[:2]
            if r.price >= at_most]
        if not lines:
            province, template = self.rng.choice(_PROVINCES)
            day = min(date(2026, 9, self.rng.randint(1, 28)), self.today)
            lines = [(province, _fen(at_most * D("1.06")), day,
                      template.format(y=day.year, n=self.rng.randint(8, 160)))]
        code = self.products[key].code
        pdf = make_pdf(title, f"Product {code}", *(
            f"{i}. {d.isoformat()}  CNY {p}" for i, (_, p, d, _) in enumerate(lines, start=1)),
            "Issued by the provincial medical insurance bureau (demo copy)")
        att = services.add_application_attachment(
            self.s, self.actor(username), self.store, app.id,
            f"{lines[0][0]}挂网价格证明.pdf", pdf)
        evidence = [services.EvidenceIn(province=prov, price=price, evidence_date=day,
                                        document=doc[:200], attachment_id=att.id if i == 0
                                        else None)
                    for i, (prov, price, day, doc) in enumerate(lines)]
        services.set_evidence(self.s, self.actor(username), app.id, evidence)
        return evidence

    def new_listing(self, username: str, key: Key, *, rep: Key | None = None,
                    evidence: bool = True, **kw: Any) -> Application:
        p = self.planned[key]
        if rep is not None:
            assert rep in self.listings, rep
        data = services.ApplicationIn(
            kind=ApplicationKind.new_listing, product_id=self.products[key].id,
            proposed_price=p.price, category=kw.pop("category", p.category),
            representative_product_id=self.products[rep].id if rep else None, **kw)
        app = services.create_application(self.s, self.actor(username), data)
        if evidence:
            self._evidence(username, app, key, at_most=p.price)
        return app

    def price_change(self, username: str, key: Key, price: Decimal, justification: str,
                     *, follow_linkage: bool = False) -> Application:
        data = services.ApplicationIn(kind=ApplicationKind.price_change,
                                      listing_id=self.listings[key].id, proposed_price=price,
                                      justification=justification)
        app = services.create_application(self.s, self.actor(username), data)
        self._evidence(username, app, key, at_most=price, lowest_only=follow_linkage,
                       title="Price linkage evidence")
        return app

    def about_listing(self, username: str, key: Key, kind: ApplicationKind,
                      justification: str) -> Application:
        data = services.ApplicationIn(kind=kind, listing_id=self.listings[key].id,
                                      justification=justification)
        return services.create_application(self.s, self.actor(username), data)

    def propose(self, username: str, gid: int, atc: str, **product: Any) -> Application:
        row = int(username[1:])
        code = validate_drug_code(f"X{atc}A{gid:03d}T001{row:03d}{gid * 7919 % 10 ** 6:06d}")
        price = D(product.pop("price"))
        data = services.ApplicationIn(
            kind=ApplicationKind.new_listing, proposed_price=price,
            category=ListingCategory.consistency_passed,
            new_product=services.ProductProposal(code=code, **product))
        app = services.create_application(self.s, self.actor(username), data)
        province, template = _PROVINCES[gid % len(_PROVINCES)]
        pdf = make_pdf("Price evidence", f"Proposed product {code}", f"CNY {_fen(price * D('1.1'))}")
        att = services.add_application_attachment(self.s, self.actor(username), self.store,
                                                  app.id, f"{province}挂网公告.pdf", pdf)
        services.set_evidence(self.s, self.actor(username), app.id, [services.EvidenceIn(
            province=province, price=_fen(price * D("1.1")),
            evidence_date=min(date(2026, 9, 18), self.today),
            document=template.format(y=2026, n=gid), attachment_id=att.id)])
        return app

    def submit(self, app: Application, username: str) -> Application:
        return services.submit(self.s, self.actor(username), app.id)

    def review(self, app: Application, username: str = "reviewer") -> Application:
        return services.start_review(self.s, self.actor(username), app.id)

    def to_publicity(self, app: Application, username: str) -> Application:
        self.submit(app, username)
        self.review(app)
        return services.approve(self.s, self.actor("reviewer"), app.id, "审核通过，进入公示。")

    def objection(self, username: str, app: Application, reason: str,
                  files: list[tuple[str, bytes]]) -> Objection:
        return services.raise_objection(self.s, self.actor(username), self.store, app.id,
                                        reason, files)

    def listing_move(self, key: Key, action: str, code: ListingReason, reason: str,
                     files: list[tuple[str, bytes]] | None = None) -> Listing:
        return services.change_listing(self.s, self.actor("reviewer"), self.store,
                                       self.listings[key].id, action, code, reason, files or [])

    def back_date(self, app: Application, days: float, created_days: float | None = None
                  ) -> None:
        """Demo back-dating (see the module docstring): a plain column write."""
        moment = self.now - timedelta(days=days)
        if app.submitted_at is not None:
            app.submitted_at = moment
            if app.assigned_at is not None:
                app.assigned_at = moment + timedelta(hours=3)
        app.created_at = self.now - timedelta(days=created_days or days + 1.5)
        self.s.add(app)

    # --- the scenarios ------------------------------------------------------------------

    def scenarios(self) -> None:
        pdf = make_pdf
        png = make_png

        # Suspensions that the relisting applications below resume.
        self.listing_move((7, 20, 1), "suspend", ListingReason.supply_failure,
                          "企业报告格列美脲原料药供应中断，2026年9月起无法按时配送，暂停挂网。",
                          [("停供情况说明.pdf", pdf("Supply interruption notice", "Sep 2026"))])
        self.listing_move((9, 21, 2), "suspend", ListingReason.supply_failure,
                          "连续两个月配送率低于80%，暂停挂网，待企业恢复供应后申请恢复。")

        # Applications that take effect after their publicity window (公示期满).
        effective = [
            self.new_listing("pharma", (1, 1, 5), rep=(1, 1, 0)),
            self.price_change(
                "pharma", (1, 8, 0), self.planned[(1, 8, 0)].refs[0].price,
                "跟进外省最低挂网价（价格联动），主动下调挂网价格。", follow_linkage=True),
            self.about_listing("e06", (6, 9, 4), ApplicationKind.delisting,
                               "该规格临床需求萎缩，企业已停产，库存已消化完毕，申请撤网。"),
            self.about_listing("e09", (9, 21, 2), ApplicationKind.relisting,
                               "原料药供应已恢复，附2026年10月生产批记录及库存证明，申请恢复挂网。"),
            self.new_listing("device", (DEVICE, SYRINGE, 3)),
        ]
        users = ["pharma", "pharma", "e06", "e09", "device"]
        for app, username in zip(effective, users, strict=True):
            self.to_publicity(app, username)
        last_day = max(a.publicity_end for a in effective if a.publicity_end)
        services.end_publicity(self.s, Actor.system_actor("publicity"),
                               as_of=last_day + timedelta(days=1))

        # Listed after an objection was dismissed (异议不成立).
        dismissed = self.new_listing("e10", (10, 45, 2), rep=(10, 45, 0))
        self.to_publicity(dismissed, "e10")
        objection = self.objection(
            "e06", dismissed, "申报企业国家谈判协议期即将届满，谈判价格不应适用于新增规格。",
            [("谈判协议说明.pdf", pdf("Objection", "Negotiated price agreement expiring"))])
        services.resolve_objection(
            self.s, self.actor("reviewer"), objection.id, False,
            "经核实，该药品国家谈判协议有效期至2027年12月31日，新增规格按差比价核定价格，异议不成立。",
            as_of=dismissed.publicity_end + timedelta(days=1))  # type: ignore[operator]

        # Listings suspended or delisted by the bureau.
        self.listing_move((1, 23, 1), "suspend", ListingReason.no_transactions,
                          "该产品2026年5月至10月连续6个月在省平台无交易记录，暂停挂网。")
        self.listing_move((13, 19, 0), "suspend", ListingReason.supply_failure,
                          "多家医疗机构反映断供，企业未按期恢复配送，暂停挂网。",
                          [("医疗机构断供反映汇总.pdf", pdf("Supply failure reports", "3 hospitals"))])
        deadline = self.listings[(14, 27, 1)].linkage_deadline
        self.listing_move((14, 27, 1), "suspend", ListingReason.above_national_lowest,
                          f"挂网价高于全国最低价且逾期未联动（联动期限{deadline}），暂停挂网。")
        self.listing_move((15, 8, 1), "delist", ListingReason.refused_linkage,
                          "企业书面拒绝按外省最低挂网价联动调价，撤销挂网，两年内不得重新申请挂网。",
                          [("拒绝联动函.png", png(color=(30, 60, 160)))])

        # Rejected by the reviewer (不予通过).
        rejected = self.new_listing("e11", (11, 31, 2))
        self.submit(rejected, "e11")
        self.review(rejected)
        services.reject(self.s, self.actor("reviewer"), rejected.id,
                        "不予通过：申报的外省挂网价格经核实已于2026年6月撤销，价格证明材料不实。")

        # Rejected because an objection was upheld (异议成立).
        upheld = self.new_listing("e03", (3, 41, 2))
        self.to_publicity(upheld, "e03")
        objection = self.objection(
            "hospital_op", upheld,
            "该企业同品种1.0g规格2026年8月至10月在我院多次断供（配送率不足60%），"
            "对其新增规格挂网有异议，附配送记录截图。",
            [("配送记录截图.png", png(color=(20, 120, 60)))])
        services.resolve_objection(self.s, self.actor("reviewer"), objection.id, True,
                                   "经核实，企业近三个月配送率为57%，存在供应保障风险，异议成立，"
                                   "申请不予通过。")

        # In publicity: one held by an open objection, one without.
        held = self.new_listing("pharma", (1, 44, 1), rep=(1, 44, 0))
        self.to_publicity(held, "pharma")
        self.objection(
            "e02", held,
            "申报材料中声明的外省挂网价格已于2026年10月下调，申报价格高于全国最低价，"
            "不符合价格联动要求。附外省挂网价格截图及价格对比说明。",
            [("外省挂网价格截图.png", png()),
             ("价格对比说明.pdf", pdf("Price comparison", "Lactulose oral solution 200 ml"))])
        vbp = self.new_listing("e08", (8, 8, 2), vbp_own_price=D("5.60"),
                               vbp_highest_price=D("7.20"))
        self.to_publicity(vbp, "e08")

        # Returned for amendment (退回补正).
        returned = self.new_listing("pharma", (1, 2, 4), rep=(1, 2, 0))
        self.submit(returned, "pharma")
        self.review(returned)
        services.return_for_amendment(
            self.s, self.actor("reviewer"), returned.id,
            "退回补正：1. 外省挂网价格证明文件不清晰，请上传加盖公章的挂网公告扫描件；"
            "2. 请核对代表品（10mg×7片）的浙江省挂网价格。")
        increase = self.price_change(
            "e04", (4, 24, 0), _fen(self.planned[(4, 24, 0)].price * D("1.1")),
            "原料药坎地沙坦酯采购价2026年上涨38%，已连续两个季度亏损供货，申请上调挂网价格。")
        self.submit(increase, "e04")
        self.review(increase)
        services.return_for_amendment(
            self.s, self.actor("reviewer"), increase.id,
            "退回补正：涨价申请须提供近12个月原料药采购发票、成本测算表，现有材料不足以支持涨价幅度。")

        # The review queue (submitted and under review), of different ages.
        queue: list[tuple[Application, float]] = []
        app = self.new_listing("e09", (9, 13, 4), rep=(9, 13, 0))
        self.submit(app, "e09")
        self.review(app, "admin")
        queue.append((app, 15))
        app = self.price_change("e05", (5, 26, 0), _fen(self.planned[(5, 26, 0)].price * D("0.9")),
                                "主动降价10%，执行2026年第四季度价格调整。")
        self.submit(app, "e05")
        services.assign(self.s, self.actor("reviewer"), app.id, self.users["reviewer"].id)
        queue.append((app, 12))
        app = self.new_listing("device", (DEVICE, SYRINGE, 4))
        self.submit(app, "device")
        queue.append((app, 9))
        app = self.new_listing("pharma", (1, 39, 2), rep=(1, 39, 0))
        self.submit(app, "pharma")
        self.review(app)
        queue.append((app, 7))
        app = self.new_listing("e02", (2, 32, 3))
        self.submit(app, "e02")
        self.review(app)
        queue.append((app, 5))
        app = self.about_listing("e07", (7, 20, 1), ApplicationKind.relisting,
                                 "原料药供应已恢复，附新供应商审计报告及三批次检验报告，申请恢复挂网。")
        self.submit(app, "e07")
        self.review(app)
        queue.append((app, 3))
        app = self.new_listing("pharma_op", (1, 18, 5), rep=(1, 18, 0))
        self.submit(app, "pharma_op")
        self.review(app)
        services.return_for_amendment(self.s, self.actor("reviewer"), app.id,
                                      "退回补正：外省价格证明材料须为近一年内的挂网公告，请更新。")
        self._evidence("pharma_op", app, (1, 18, 5), at_most=self.planned[(1, 18, 5)].price,
                       title="Price evidence (amended)")
        self.submit(app, "pharma_op")
        self.review(app)
        queue.append((app, 2))
        app = self.about_listing("pharma", (1, 6, 2), ApplicationKind.delisting,
                                 "产品线调整，该规格停止生产，申请撤网。")
        self.submit(app, "pharma")
        queue.append((app, 1.6))
        app = self.new_listing("pharma", (1, 15, 4))
        self.submit(app, "pharma")
        queue.append((app, 0.8))
        for app, days in queue:
            self.back_date(app, days, created_days=10 if app.round > 1 else None)
        self.back_date(returned, 6)
        self.back_date(increase, 10)

        # Drafts.
        self.back_date(self.new_listing("pharma", (1, 1, 4), rep=(1, 1, 0)), 3)
        self.back_date(self.price_change(
            "pharma_op", (1, 3, 2), _fen(self.planned[(1, 3, 2)].price * D("0.93")),
            "响应2026年第四季度价格治理，主动降价7%。"), 1)
        self.back_date(self.propose(
            "e03", 90, "M04AA", generic_name="非布司他", dosage_form="普通片",
            spec="40mg×16片", content_value=D("40"), content_unit="mg", units_per_package=16,
            min_unit="片", package_unit="盒", package_material=PVC,
            approval_number="国药准字H20233187", consistency_passed=True, price="28.50"), 6)
        self.back_date(self.new_listing("e17", (17, PROTECTIVE_MASK, 0), evidence=False), 4)

        # Withdrawn (撤回).
        app = self.price_change(
            "pharma_op", (1, 37, 0), _fen(self.planned[(1, 37, 0)].price * D("1.08")),
            "碳酸钙原料及包装材料成本上涨，申请上调挂网价格8%。")
        self.submit(app, "pharma_op")
        services.withdraw(self.s, self.actor("pharma_op"), app.id, reason="企业决定暂缓调价。")
        app = self.propose(
            "e12", 91, "J05AB", generic_name="盐酸伐昔洛韦", dosage_form="普通片",
            spec="0.3g×6片", content_value=D("0.3"), content_unit="g", units_per_package=6,
            min_unit="片", package_unit="盒", package_material=PVC,
            approval_number="国药准字H20213306", consistency_passed=True, price="12.60")
        services.withdraw(self.s, self.actor("e12"), app.id,
                          reason="注册证信息变更中，撤回后重新申报。")
        self.s.flush()


def _grouped(session: Session, column: Any) -> dict[str, int]:
    rows = session.execute(sa.select(column, sa.func.count()).group_by(column)).all()
    return dict(sorted((getattr(k, "value", k), int(n)) for k, n in rows))


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(model).where(*where))
               .scalar_one())


def summary(session: Session) -> dict[str, Any]:
    """Counts of the listing data (all of it, demo or not)."""
    return {
        "products": _grouped(session, Product.kind),
        "generic_names": int(session.execute(sa.select(
            sa.func.count(sa.distinct(Product.generic_name))).where(
            Product.kind == ProductKind.drug, Product.status == ProductStatus.active))
            .scalar_one()),
        "reference_prices": _count(session, ReferencePrice),
        "listings": _grouped(session, Listing.status),
        "linkage_deadlines": _count(session, Listing, Listing.status == ListingStatus.listed,
                                    Listing.linkage_deadline.is_not(None)),
        "applications": _grouped(session, Application.status),
        "application_kinds": _grouped(session, Application.kind),
        "objections": _grouped(session, Objection.status),
        "attachments": _count(session, Attachment),
        "holidays": _count(session, Holiday),
    }


def load(session: Session, store: AttachmentStore | None = None) -> dict[str, Any]:
    """Load the listing demo data (see the module docstring); return the counts.

    ``created`` tells whether this run wrote anything: false when the demo catalogue is
    already there, in which case nothing at all is written.
    """
    the_plan = plan()
    first = the_plan.products[0].values["code"]
    if session.exec(select(Product.id).where(Product.code == first)).first() is not None:
        return {"created": False, **summary(session)}
    loader = _Loader(session, store or _attachment_store(), the_plan)
    loader.seed_rules()
    holidays = loader.holidays()
    loader.insert_products()
    references = loader.insert_references()
    loader.insert_listings()
    audit.record(session, Actor.system_actor("demo"), "listing.demo.load", "demo", None,
                 after={"products": len(loader.products), "reference_prices": references,
                        "migrated_listings": len(loader.listings), "holidays": holidays})
    loader.scenarios()
    return {"created": True, **summary(session)}


def register() -> None:
    """Add :func:`load` to ``flask demo load`` (after the kernel's loader)."""
    from core.cli import register_demo_loader
    register_demo_loader("listing", load)


register()
