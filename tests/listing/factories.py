"""Factories for the listing tests: organisations, actors, products, and applications driven
through the real services to any status. Everything flushes, nothing commits."""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, select

from core.auth import actor_for_user
from core.codes import make_uscc, validate_drug_code
from core.models import AuditLog, Organisation, OrgKind, RuleSet
from core.permissions import Actor
from listing import services
from listing.models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    Listing,
    PriceCheck,
    Product,
    ProductKind,
    ProductStatus,
)
from listing.price_rules import DEFAULT_LISTING_RULES
from tests.support import make_org, make_user

D = Decimal
S = ApplicationStatus
_seq = itertools.count(1)

# Minimal files that pass content sniffing (magic numbers) and one that does not.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 16 + b"\xff\xd9"
TEXT = b"This is only a text file, renamed to look like a PDF.\n"

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def company(session: Session, name: str | None = None, region: str = "330106") -> Organisation:
    """An enterprise with a valid unified social credit code built by ``make_uscc``."""
    n = next(_seq)
    body = "".join(_USCC_CHARS[(uuid.uuid4().int >> (5 * i)) % len(_USCC_CHARS)]
                   for i in range(8))
    org = Organisation(kind=OrgKind.enterprise, name=name or f"测试药业{n}有限公司",
                       code=make_uscc("9", "1", region, body), region_code=region)
    session.add(org)
    session.flush()
    return org


def actor(session: Session, org: Organisation, *roles: str) -> Actor:
    """The actor of a new user of ``org`` with ``roles`` (as the existing tests build them)."""
    return actor_for_user(session, make_user(session, org, *roles))


def bureau(session: Session) -> Organisation:
    return make_org(session, OrgKind.bureau, region="330000")


def hospital(session: Session) -> Organisation:
    return make_org(session, OrgKind.hospital, region="330106")


def drug_code() -> str:
    """A fresh 23-character western-medicine insurance drug code (X + 22 capitals/digits)."""
    return validate_drug_code("X" + uuid.uuid4().hex[:22].upper())


def product(session: Session, org: Organisation, *, generic_name: str = "阿托伐他汀钙片",
            content: str = "10", units: int = 24, form: str = "普通片",
            status: ProductStatus = ProductStatus.active) -> Product:
    """A catalogue product whose marketing-authorisation holder is ``org``."""
    p = Product(code=drug_code(), kind=ProductKind.drug, status=status,
                generic_name=generic_name, dosage_form=form,
                spec=f"{content}mg×{units}片", content_value=D(content), content_unit="mg",
                units_per_package=units, min_unit="片", package_unit="盒",
                manufacturer_name=org.name, mah_name=org.name, mah_code=org.code,
                mah_org_id=org.id)
    session.add(p)
    session.flush()
    return p


def proposal(**kw) -> services.ProductProposal:
    data = dict(code=drug_code(), generic_name="瑞舒伐他汀钙片", dosage_form="普通片",
                spec="10mg×28片", content_value=D("10"), content_unit="mg",
                units_per_package=28, min_unit="片", package_unit="盒")
    data.update(kw)
    return services.ProductProposal(**data)


def evidence(price: str = "9.00", province: str = "江苏", day: date | None = None
             ) -> services.EvidenceIn:
    return services.EvidenceIn(province=province, price=D(price),
                               evidence_date=day or date(2026, 1, 15),
                               document=f"{province}医保局挂网公告")


@dataclass
class World:
    """A company (with its operator) and the bureau (with two reviewers and a viewer)."""

    company: Organisation
    op: Actor
    bureau: Organisation
    reviewer: Actor
    reviewer2: Actor
    viewer: Actor
    admin: Actor


def seed_rules(session: Session) -> None:
    """Version 1 of the listing rule set, in force since 2000.

    ``core.rules.current`` would insert it on first use, but dated with a naive datetime that
    the UTC column refuses (see the report); storing it here keeps these tests about listing.
    """
    if session.exec(select(RuleSet).where(RuleSet.name == services.RULE_SET)).first() is None:
        session.add(RuleSet(name=services.RULE_SET, version=1, note="defaults",
                            params=DEFAULT_LISTING_RULES.model_dump(mode="json"),
                            effective_from=datetime(2000, 1, 1, tzinfo=UTC)))
        session.flush()


def world(session: Session) -> World:
    seed_rules(session)
    co = company(session)
    bu = bureau(session)
    return World(company=co, op=actor(session, co, "operator"), bureau=bu,
                 reviewer=actor(session, bu, "reviewer"), reviewer2=actor(session, bu, "reviewer"),
                 viewer=actor(session, bu, "viewer"), admin=actor(session, bu, "org_admin"))


def draft(session: Session, op: Actor, prod: Product | None = None, *, price: str = "5.00",
          lines: list[services.EvidenceIn] | None = None, **kw) -> Application:
    """A new-listing draft for ``prod`` (or a proposed product) with evidence lines."""
    data = services.ApplicationIn(
        kind=ApplicationKind.new_listing, product_id=prod.id if prod else None,
        new_product=None if prod else proposal(), proposed_price=D(price), **kw)
    app = services.create_application(session, op, data)
    services.set_evidence(session, op, app.id, lines if lines is not None else [evidence()])
    return app


def drive(session: Session, app: Application, target: ApplicationStatus, op: Actor,
          reviewer: Actor) -> Application:
    """Take a draft to ``target`` through the real services (the shortest legal path)."""
    if target == S.draft:
        return app
    if target == S.withdrawn:
        return services.withdraw(session, op, app.id, reason="no longer marketed")
    services.submit(session, op, app.id)
    if target == S.submitted:
        return app
    services.start_review(session, reviewer, app.id)
    if target == S.under_review:
        return app
    if target == S.returned:
        return services.return_for_amendment(session, reviewer, app.id, "补充外省挂网文件")
    if target == S.rejected:
        return services.reject(session, reviewer, app.id, "价格证明材料不实")
    services.approve(session, reviewer, app.id)
    if target == S.publicizing:
        return app
    assert target == S.listed, target
    services.end_publicity(session, Actor.system_actor("test"),
                           as_of=app.publicity_end + timedelta(days=1))
    session.refresh(app)
    assert app.status == S.listed
    return app


def list_product(session: Session, w: World, prod: Product, price: str,
                 lines: list[services.EvidenceIn] | None = None) -> Listing:
    """A listing of ``prod`` at ``price``, made by a new-listing application run to the end."""
    app = draft(session, w.op, prod, price=price, lines=lines)
    drive(session, app, S.listed, w.op, w.reviewer)
    listing = session.get(Listing, app.listing_id)
    assert listing is not None and listing.price == D(price)
    return listing


def audit_count(session: Session, action: str | None = None, object_id: object = None) -> int:
    stmt = select(sa.func.count()).select_from(AuditLog)
    if action is not None:
        stmt = stmt.where(AuditLog.action == action)
    if object_id is not None:
        stmt = stmt.where(AuditLog.object_id == str(object_id))
    return int(session.exec(stmt).one())


def audits(session: Session, action: str, object_id: object) -> list[AuditLog]:
    return list(session.exec(select(AuditLog).where(
        AuditLog.action == action, AuditLog.object_id == str(object_id)).order_by(AuditLog.seq)))


def checks(session: Session, app_id: int) -> list[PriceCheck]:
    return list(session.exec(select(PriceCheck).where(PriceCheck.application_id == app_id)
                             .order_by(PriceCheck.id)))


def count(session: Session, model: type, *where) -> int:
    return int(session.exec(select(sa.func.count()).select_from(model).where(*where)).one())


class Clock:
    """The services' calendar day, frozen (``listing.services.local_today``): approval starts
    the publicity window from it, objections and price evidence are judged against it."""

    def __init__(self, today: date) -> None:
        self.today = today

    def __call__(self, now: object = None) -> date:
        return self.today


def freeze(monkeypatch, today: date) -> Clock:
    clock = Clock(today)
    monkeypatch.setattr(services, "local_today", clock)
    return clock
