"""Tests of the kernel's demo data (core.demo)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from core import codes
from core.auth import verify_password
from core.demo import (
    BUREAU_CODE,
    DEMO_LOGINS,
    DEMO_PASSWORD,
    demo_organisations,
    demo_users,
    load_core_demo,
)
from core.models import AuditLog, Organisation, OrgKind, User, UserRole
from core.services import check_password_strength

EXPECTED_ROLES = {
    "admin": {"org_admin"}, "reviewer": {"reviewer"}, "fund": {"fund_officer"},
    "procurement": {"procurement_manager"}, "catalogue": {"catalogue_manager"},
    "viewer": {"viewer"}, "hospital": {"org_admin"}, "hospital_op": {"operator"},
    "pharma": {"org_admin"}, "pharma_op": {"operator"}, "device": {"org_admin"},
    "bank": {"org_admin"}, "bank_op": {"operator"}, "bank2": {"org_admin"},
}


def _count(session, model) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def _demo_orgs(session) -> list[Organisation]:
    wanted = [o.code for o in demo_organisations()]
    return list(session.exec(select(Organisation).where(Organisation.code.in_(wanted))).all())


def _demo_load_records(session) -> list[AuditLog]:
    return list(session.exec(select(AuditLog).where(AuditLog.action == "demo.load")).all())


def test_demo_tables_are_consistent() -> None:
    check_password_strength(DEMO_PASSWORD)
    orgs = demo_organisations()
    users = demo_users()
    org_codes = [o.code for o in orgs]
    usernames = [u.username for u in users]
    assert len(set(org_codes)) == len(org_codes)
    assert len(set(usernames)) == len(usernames)
    assert all(u.org_code in org_codes for u in users)
    assert all(u.username.isascii() and len(u.username) >= 3 for u in users)
    assert {name for name, _kind, _desc in DEMO_LOGINS} <= set(usernames)
    assert BUREAU_CODE == codes.validate_uscc(BUREAU_CODE)
    assert BUREAU_CODE[:2] == "11" and BUREAU_CODE[2:8] == "330000"


def test_load_creates_the_demo_organisations(session) -> None:
    summary = load_core_demo(session)
    assert summary["organisations_created"] == len(demo_organisations())
    assert summary["users_created"] == len(demo_users())

    orgs = _demo_orgs(session)
    by_kind: dict[OrgKind, list[Organisation]] = {}
    for org in orgs:
        by_kind.setdefault(org.kind, []).append(org)
    hospitals = by_kind[OrgKind.hospital]
    assert len(hospitals) >= 30
    assert len({h.region_code[:4] + "00" for h in hospitals}) >= 3
    assert all(h.region_code.startswith("33") for h in hospitals)
    assert len(by_kind[OrgKind.enterprise]) >= 20
    assert len(by_kind[OrgKind.bank]) == 2
    assert len(by_kind[OrgKind.bureau]) == 1
    bureau = by_kind[OrgKind.bureau][0]
    assert (bureau.name, bureau.code, bureau.region_code) == (
        "浙江省医疗保障局", BUREAU_CODE, "330000")
    assert session.execute(sa.select(sa.func.count()).where(
        Organisation.kind == OrgKind.bureau)).scalar_one() == 1


def test_every_demo_code_is_valid(session) -> None:
    load_core_demo(session)
    for org in _demo_orgs(session):
        assert codes.validate_org_code(org.kind, org.code) == org.code
        assert codes.validate_region(org.region_code) == org.region_code
        assert org.contact_name and org.contact_phone and org.address
        if org.kind == OrgKind.hospital:
            assert len(org.code) == 12 and org.code[0] == "H"
            assert org.code[1:7] == org.region_code
        else:
            assert org.code[0] == ("1" if org.kind == OrgKind.bureau else "9")
            assert org.code[2:8] == org.region_code


def test_demo_logins_exist_with_the_demo_password(session) -> None:
    load_core_demo(session)
    verified: dict[str, bool] = {}  # Argon2 is slow: verify each distinct hash once
    for username, kind, description in DEMO_LOGINS:
        user = session.exec(select(User).where(User.username == username)).one()
        org = session.get(Organisation, user.org_id)
        assert org.kind.value == kind, username
        assert description
        assert not user.disabled
        if user.password_hash not in verified:
            verified[user.password_hash] = verify_password(user.password_hash, DEMO_PASSWORD)
        assert verified[user.password_hash], username
        roles = set(session.exec(select(UserRole.role).where(UserRole.user_id == user.id)))
        assert roles == EXPECTED_ROLES[username], username
    bank2 = session.exec(select(User).where(User.username == "bank2")).one()
    assert session.get(Organisation, bank2.org_id).kind == OrgKind.bank
    hospital = session.exec(select(User).where(User.username == "hospital")).one()
    h02 = session.exec(select(User).where(User.username == "h02")).one()
    assert hospital.org_id != h02.org_id


def test_every_demo_user_has_a_role(session) -> None:
    load_core_demo(session)
    usernames = [u.username for u in demo_users()]
    rows = session.execute(
        sa.select(User.username, sa.func.count(UserRole.role))
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.username.in_(usernames))
        .group_by(User.username)
    ).all()
    assert {name for name, n in rows if n >= 1} == set(usernames)


def test_load_is_idempotent(session) -> None:
    first = load_core_demo(session)
    assert first["organisations_created"] > 0 and first["users_created"] > 0
    counts = (_count(session, Organisation), _count(session, User),
              _count(session, UserRole), _count(session, AuditLog))
    assert len(_demo_load_records(session)) == 1

    second = load_core_demo(session)
    assert second == {"organisations_created": 0, "users_created": 0}
    assert (_count(session, Organisation), _count(session, User),
            _count(session, UserRole), _count(session, AuditLog)) == counts
    assert len(_demo_load_records(session)) == 1


def test_an_existing_bureau_is_reused(session) -> None:
    other_code = codes.make_uscc("1", "1", "330000", "00248573")
    bureau = Organisation(kind=OrgKind.bureau, name="省医疗保障局", code=other_code,
                          region_code="330000")
    session.add(bureau)
    session.flush()

    load_core_demo(session)
    assert session.execute(sa.select(sa.func.count()).where(
        Organisation.kind == OrgKind.bureau)).scalar_one() == 1
    admin = session.exec(select(User).where(User.username == "admin")).one()
    assert admin.org_id == bureau.id
