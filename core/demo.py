"""Demo data of the shared kernel: the Zhejiang bureau, hospitals, companies, banks and users.

``load_core_demo(session)`` is what ``flask demo load`` runs first (business modules add their
own loaders after it, see ``core.cli.register_demo_loader``). It is idempotent: organisations
are looked up by code and users by username, and only the missing ones are created, so a
second run creates nothing. It only flushes; the command owns the transaction.

Every organisation and person here is fictional. Codes are valid: hospitals carry designated
medical institution codes (``H`` + district + serial) and everyone else a USCC with correct
check characters, both built with :mod:`core.codes`.

The tables below are append-only: a hospital's code and a company's USCC are fixed in the
table, and the per-organisation usernames (``h05``, ``e07``) follow the row's position, so
add new rows at the end rather than in the middle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core import audit, codes
from core.auth import hash_password
from core.errors import Invalid
from core.models import Organisation, OrgKind, Role, User, UserRole
from core.permissions import FUND_OFFICER, Actor
from core.services import OrgIn, check_password_strength

__all__ = [
    "BUREAU_CODE",
    "DEMO_LOGINS",
    "DEMO_PASSWORD",
    "DEMO_REGIONS",
    "DemoOrg",
    "DemoUser",
    "demo_organisations",
    "demo_users",
    "load_core_demo",
]

#: The one password of every demo user (≥ 10 characters, four character classes).
DEMO_PASSWORD = "Yaocai@2026"

#: The main demo logins: (username, organisation kind, description), for the README and the
#: login page. Every user has the password :data:`DEMO_PASSWORD`.
DEMO_LOGINS: list[tuple[str, str, str]] = [
    ("admin", "bureau", "省医保局系统管理员 — bureau administrator: organisations, users, jobs"),
    ("reviewer", "bureau", "挂网审核员 — bureau reviewer: listing review, audit log"),
    ("fund", "bureau", "基金结算经办 — bureau fund officer: reads listings, batches and "
     "agreements, changes none"),
    ("procurement", "bureau", "集采经办 — bureau procurement manager: creates and runs batches"),
    ("catalogue", "bureau", "目录管理员 — bureau catalogue manager: imports the product catalogue "
     "and reference prices"),
    ("hospital", "hospital", "杭州市西湖区人民医院 机构管理员 — hospital administrator"),
    ("hospital_op", "hospital", "杭州市西湖区人民医院 采购经办 — hospital purchasing operator"),
    ("pharma", "enterprise", "浙江钱塘康和药业 机构管理员 — pharmaceutical company administrator"),
    ("pharma_op", "enterprise", "浙江钱塘康和药业 经办人 — pharmaceutical company operator"),
    ("device", "enterprise", "杭州安澜医疗器械 机构管理员 — medical-device company administrator"),
    ("bank", "bank", "浙商合作银行杭州分行 机构管理员 — bank administrator"),
    ("bank_op", "bank", "浙商合作银行杭州分行 信贷经办 — bank credit operator"),
]

#: Job roles of bureau departments declared by the business modules (core imports none of
#: them; ``services.create_user`` would refuse a role no module declared).
PROCUREMENT_MANAGER = "procurement_manager"
CATALOGUE_MANAGER = "catalogue_manager"

#: Names of the administrative regions (GB/T 2260) the demo organisations sit in.
DEMO_REGIONS: dict[str, str] = {
    "330000": "浙江省",
    "330100": "杭州市", "330102": "上城区", "330105": "拱墅区", "330106": "西湖区",
    "330108": "滨江区", "330109": "萧山区", "330110": "余杭区",
    "330200": "宁波市", "330203": "海曙区", "330205": "江北区", "330212": "鄞州区",
    "330300": "温州市", "330302": "鹿城区", "330304": "瓯海区",
    "330400": "嘉兴市", "330402": "南湖区", "330411": "秀洲区",
    "330500": "湖州市", "330502": "吴兴区",
    "330600": "绍兴市", "330602": "越城区",
    "330700": "金华市", "330702": "婺城区",
    "331000": "台州市", "331002": "椒江区",
    "110108": "北京市海淀区", "120116": "天津市滨海新区", "310115": "上海市浦东新区",
    "320200": "无锡市", "320400": "常州市", "320500": "苏州市",
    "370100": "济南市", "371000": "威海市", "410100": "郑州市", "420100": "武汉市",
    "440100": "广州市", "440300": "深圳市", "510100": "成都市",
}

#: Long-distance area codes for the fictional telephone numbers.
_AREA_CODES = {
    "3300": "0571", "3301": "0571", "3302": "0574", "3303": "0577", "3304": "0573", "3305": "0572",
    "3306": "0575", "3307": "0579", "3310": "0576", "1101": "010", "1201": "022",
    "3101": "021", "3202": "0510", "3204": "0519", "3205": "0512", "3701": "0531",
    "3710": "0631", "4101": "0371", "4201": "027", "4401": "020", "4403": "0755",
    "5101": "028",
}

_CONTACT_NAMES = (
    "王建华", "李晓燕", "张志强", "刘芳", "陈国平", "杨丽娟", "赵明", "黄海燕", "周文斌",
    "吴晓东", "徐静", "孙立新", "胡雪梅", "朱永刚", "高秀英", "林伟", "何晓红", "郭建军",
    "马丽", "罗志明", "郑宇航", "谢婷", "沈佳琪", "韩磊", "唐慧", "冯海涛", "董雯", "蒋涛",
)

# The bureau: 1 (机构编制) + 1 (机关) + 330000 + organisation-code body.
_BUREAU_ORG_CODE8 = "MB1D2806"
BUREAU_CODE = codes.make_uscc("1", "1", "330000", _BUREAU_ORG_CODE8)

# Hospitals: (district region, serial, name, short name, street address within the district).
# The first row is the main demo hospital (users ``hospital`` and ``hospital_op``).
_HOSPITALS: tuple[tuple[str, int, str, str, str], ...] = (
    ("330106", 1, "杭州市西湖区人民医院", "西湖区人民医院", "杭州市西湖区文三路 218 号"),
    ("330102", 1, "杭州市上城区人民医院", "上城区人民医院", "杭州市上城区解放路 306 号"),
    ("330102", 2, "杭州市上城区湖滨街道社区卫生服务中心", "湖滨社区卫生服务中心",
     "杭州市上城区平海路 41 号"),
    ("330102", 3, "浙江省钱塘康复医院", "钱塘康复医院", "杭州市上城区秋涛路 512 号"),
    ("330105", 1, "杭州市拱墅区中医院", "拱墅区中医院", "杭州市拱墅区湖墅南路 188 号"),
    ("330105", 2, "杭州市拱墅区米市巷街道社区卫生服务中心", "米市巷社区卫生服务中心",
     "杭州市拱墅区米市巷 27 号"),
    ("330106", 2, "杭州市西湖区中医院", "西湖区中医院", "杭州市西湖区天目山路 402 号"),
    ("330106", 3, "杭州市西湖区妇幼保健院", "西湖区妇幼保健院", "杭州市西湖区古墩路 135 号"),
    ("330106", 4, "杭州市西湖区翠苑街道社区卫生服务中心", "翠苑社区卫生服务中心",
     "杭州市西湖区学院路 77 号"),
    ("330108", 1, "杭州市滨江区人民医院", "滨江区人民医院", "杭州市滨江区江南大道 1520 号"),
    ("330108", 2, "杭州市滨江区长河街道社区卫生服务中心", "长河社区卫生服务中心",
     "杭州市滨江区长河路 365 号"),
    ("330109", 1, "杭州市萧山区第二人民医院", "萧山区第二人民医院",
     "杭州市萧山区市心北路 620 号"),
    ("330109", 2, "杭州市萧山区中医院", "萧山区中医院", "杭州市萧山区人民路 233 号"),
    ("330109", 3, "杭州市萧山区妇幼保健院", "萧山区妇幼保健院", "杭州市萧山区育才路 91 号"),
    ("330110", 1, "杭州市余杭区第三人民医院", "余杭区第三人民医院",
     "杭州市余杭区临平大道 718 号"),
    ("330110", 2, "杭州市余杭区良渚街道社区卫生服务中心", "良渚社区卫生服务中心",
     "杭州市余杭区良渚路 156 号"),
    ("330203", 1, "宁波市海曙区人民医院", "海曙区人民医院", "宁波市海曙区中山西路 402 号"),
    ("330203", 2, "宁波市海曙区妇幼保健院", "海曙区妇幼保健院", "宁波市海曙区柳汀街 88 号"),
    ("330205", 1, "宁波市江北区人民医院", "江北区人民医院", "宁波市江北区人民路 512 号"),
    ("330205", 2, "宁波市江北区中医院", "江北区中医院", "宁波市江北区大庆南路 73 号"),
    ("330212", 1, "宁波市鄞州区中医院", "鄞州区中医院", "宁波市鄞州区天童南路 860 号"),
    ("330212", 2, "宁波市鄞州区第三人民医院", "鄞州区第三人民医院",
     "宁波市鄞州区四明中路 1128 号"),
    ("330212", 3, "宁波市鄞州区钟公庙街道社区卫生服务中心", "钟公庙社区卫生服务中心",
     "宁波市鄞州区泰康中路 219 号"),
    ("330302", 1, "温州市鹿城区人民医院", "鹿城区人民医院", "温州市鹿城区人民西路 318 号"),
    ("330302", 2, "温州市鹿城区妇幼保健院", "鹿城区妇幼保健院", "温州市鹿城区府前街 56 号"),
    ("330302", 3, "温州市鹿城区五马街道社区卫生服务中心", "五马社区卫生服务中心",
     "温州市鹿城区解放街 142 号"),
    ("330304", 1, "温州市瓯海区中医院", "瓯海区中医院", "温州市瓯海区娄桥街道古岸头路 66 号"),
    ("330304", 2, "温州市瓯海区第二人民医院", "瓯海区第二人民医院",
     "温州市瓯海区梧田大道 399 号"),
    ("330602", 1, "绍兴市越城区人民医院", "越城区人民医院", "绍兴市越城区解放北路 275 号"),
    ("330602", 2, "绍兴市越城区中医院", "越城区中医院", "绍兴市越城区中兴中路 118 号"),
    ("330602", 3, "绍兴市越城区府山街道社区卫生服务中心", "府山社区卫生服务中心",
     "绍兴市越城区胜利西路 39 号"),
    ("330402", 1, "嘉兴市南湖区人民医院", "南湖区人民医院", "嘉兴市南湖区中山东路 1206 号"),
    ("330402", 2, "嘉兴市南湖区妇幼保健院", "南湖区妇幼保健院", "嘉兴市南湖区建国南路 87 号"),
    ("330402", 3, "嘉兴市南湖区建设街道社区卫生服务中心", "建设社区卫生服务中心",
     "嘉兴市南湖区禾兴南路 311 号"),
    ("330411", 1, "嘉兴市秀洲区中医院", "秀洲区中医院", "嘉兴市秀洲区洪兴西路 520 号"),
    ("330502", 1, "湖州市吴兴区人民医院", "吴兴区人民医院", "湖州市吴兴区红旗路 204 号"),
    ("330702", 1, "金华市婺城区中医院", "婺城区中医院", "金华市婺城区八一南街 177 号"),
    ("331002", 1, "台州市椒江区人民医院", "椒江区人民医院", "台州市椒江区市府大道 455 号"),
)

# Companies: (seat region, organisation-code body, name, short name, address, is_device).
# Row 1 is the main pharmaceutical company (``pharma``, ``pharma_op``); the first device maker
# gets ``device``; every other company ``eNN`` where NN is its row number.
_ENTERPRISES: tuple[tuple[str, str, str, str, str, bool], ...] = (
    ("330100", "MA27K3Q1", "浙江钱塘康和药业股份有限公司", "钱塘康和药业",
     "杭州市滨江区江陵路 2288 号", False),
    ("330100", "MA2H4NB7", "杭州西溪生物制药有限公司", "西溪生物制药",
     "杭州市余杭区文一西路 1818 号", False),
    ("330200", "14483027", "宁波甬江制药有限公司", "甬江制药",
     "宁波市北仑区新碶街道明州路 366 号", False),
    ("331000", "14806531", "台州海川药业有限公司", "海川药业",
     "台州市椒江区外沙路 85 号", False),
    ("330600", "MA2BC6W4", "绍兴越州制药有限公司", "越州制药",
     "绍兴市越城区马山街道越东路 901 号", False),
    ("320500", "13778216", "江苏苏合制药有限公司", "苏合制药",
     "苏州市工业园区星湖街 328 号", False),
    ("320200", "MA1N8FX2", "江苏澄江药业股份有限公司", "澄江药业",
     "无锡市新吴区长江路 21 号", False),
    ("370100", "16305874", "山东齐鲁康泰制药有限公司", "齐鲁康泰制药",
     "济南市历城区工业北路 1501 号", False),
    ("370100", "MA3C9RJ6", "山东泉城生物药业有限公司", "泉城生物药业",
     "济南市高新区港兴三路 618 号", False),
    ("310115", "MA1FL4T8", "上海浦江制药有限公司", "浦江制药",
     "上海市浦东新区张江路 1190 号", False),
    ("440100", "19048273", "广东岭南康元药业有限公司", "岭南康元药业",
     "广州市黄埔区科学大道 233 号", False),
    ("510100", "MA6DG2K5", "四川蜀中制药有限公司", "蜀中制药",
     "成都市温江区成都海峡两岸科技产业开发园区科兴路 96 号", False),
    ("420100", "17752946", "湖北楚天药业股份有限公司", "楚天药业",
     "武汉市东湖新技术开发区高新大道 666 号", False),
    ("410100", "MA44E7P3", "河南中原康泰药业有限公司", "中原康泰药业",
     "郑州市高新区长椿路 11 号", False),
    ("110108", "MA01B8KX", "北京京安制药有限公司", "京安制药",
     "北京市海淀区永丰路 27 号", False),
    ("330100", "MA28D1U6", "杭州安澜医疗器械有限公司", "安澜医疗器械",
     "杭州市余杭区仓前街道龙潭路 19 号", True),
    ("330200", "MA2GR5N0", "宁波康泰医疗科技有限公司", "康泰医疗科技",
     "宁波市鄞州区启明路 818 号", True),
    ("330300", "14552907", "温州瓯江医疗器械有限公司", "瓯江医疗器械",
     "温州市龙湾区永强大道 2155 号", True),
    ("320400", "13912468", "江苏常康医疗器械股份有限公司", "常康医疗器械",
     "常州市武进区阳湖西路 59 号", True),
    ("440300", "MA5EUF82", "深圳鹏瑞医疗科技有限公司", "鹏瑞医疗科技",
     "深圳市南山区科技南十二路 18 号", True),
    ("371000", "16837519", "威海海瑞医疗器械有限公司", "海瑞医疗器械",
     "威海市环翠区初村镇兴山路 70 号", True),
    ("310115", "MA1J6CW3", "上海汇衡医疗科技有限公司", "汇衡医疗科技",
     "上海市浦东新区蔡伦路 720 号", True),
    ("110108", "MA04Q9H1", "北京京科医疗器械有限公司", "京科医疗器械",
     "北京市海淀区上地信息路 12 号", True),
    ("120116", "MA06T3B5", "天津滨瑞医疗科技有限公司", "滨瑞医疗科技",
     "天津市滨海新区第十三大街 51 号", True),
)

# Banks: (region, organisation-code body, name, short name, address).
_BANKS: tuple[tuple[str, str, str, str, str], ...] = (
    ("330100", "MA27P6C9", "浙商合作银行股份有限公司杭州分行", "浙商合作银行杭州分行",
     "杭州市上城区钱江路 639 号"),
    ("330100", "14391562", "江南商业银行股份有限公司浙江分行", "江南商业银行浙江分行",
     "杭州市拱墅区环城北路 305 号"),
)


@dataclass(frozen=True)
class DemoOrg:
    """One demo organisation, with its validated code."""

    kind: OrgKind
    code: str
    name: str
    short_name: str
    region_code: str
    contact_name: str
    contact_phone: str
    address: str


@dataclass(frozen=True)
class DemoUser:
    """One demo user of the organisation with code ``org_code``."""

    username: str
    org_code: str
    display_name: str
    roles: tuple[str, ...]


def _phone(region: str, n: int) -> str:
    """A fictional landline number in the region's area code, deterministic in ``n``."""
    return f"{_AREA_CODES[region[:4]]}-8{(n * 7919 + 23456) % 10 ** 7:07d}"


def _org(n: int, kind: OrgKind, code: str, name: str, short: str, region: str,
         address: str) -> DemoOrg:
    """Validate one organisation as ``services.create_organisation`` would."""
    data = OrgIn(kind=kind, name=name, short_name=short, code=code, region_code=region,
                 contact_name=_CONTACT_NAMES[n % len(_CONTACT_NAMES)],
                 contact_phone=_phone(region, n), address=address)
    code = codes.validate_org_code(data.kind, data.code)
    region = codes.validate_region(data.region_code)
    if kind == OrgKind.hospital and code[1:7] != region:
        raise Invalid.one("region_code", "must match the region in the institution code")
    return DemoOrg(kind=data.kind, code=code, name=data.name, short_name=data.short_name or "",
                   region_code=region, contact_name=data.contact_name or "",
                   contact_phone=data.contact_phone or "", address=data.address or "")


def demo_organisations() -> list[DemoOrg]:
    """Every demo organisation: the bureau, then hospitals, companies and banks."""
    orgs = [_org(0, OrgKind.bureau, BUREAU_CODE, "浙江省医疗保障局", "省医保局", "330000",
                 "杭州市西湖区省府路 48 号")]
    for i, (region, serial, name, short, address) in enumerate(_HOSPITALS, start=1):
        orgs.append(_org(i, OrgKind.hospital, codes.make_institution_code(region, serial),
                         name, short, region, address))
    for i, (region, body, name, short, address, _device) in enumerate(_ENTERPRISES, start=1):
        orgs.append(_org(100 + i, OrgKind.enterprise, codes.make_uscc("9", "1", region, body),
                         name, short, region, address))
    for i, (region, body, name, short, address) in enumerate(_BANKS, start=1):
        orgs.append(_org(200 + i, OrgKind.bank, codes.make_uscc("9", "1", region, body),
                         name, short, region, address))
    return orgs


def demo_users() -> list[DemoUser]:
    """Every demo user (all with :data:`DEMO_PASSWORD`)."""
    # The bureau's job roles are declared by the modules whose work they do; this table is
    # data, read when the demo loads, after every module has registered its roles.
    admin, op, rev, view = (Role.org_admin.value, Role.operator.value, Role.reviewer.value,
                            Role.viewer.value)
    users = [
        DemoUser("admin", BUREAU_CODE, "省医保局系统管理员", (admin,)),
        DemoUser("reviewer", BUREAU_CODE, "挂网审核员", (rev,)),
        # Bureau staff hold the job role of their department only (least privilege).
        DemoUser("fund", BUREAU_CODE, "基金结算经办", (FUND_OFFICER,)),
        DemoUser("viewer", BUREAU_CODE, "医保局查看用户", (view,)),
        DemoUser("procurement", BUREAU_CODE, "集采经办", (PROCUREMENT_MANAGER,)),
        DemoUser("catalogue", BUREAU_CODE, "目录管理员", (CATALOGUE_MANAGER,)),
    ]
    for i, (region, serial, _name, short, _address) in enumerate(_HOSPITALS, start=1):
        code = codes.make_institution_code(region, serial)
        if i == 1:
            users.append(DemoUser("hospital", code, f"{short}管理员", (admin,)))
            users.append(DemoUser("hospital_op", code, f"{short}采购经办", (op,)))
        else:
            users.append(DemoUser(f"h{i:02d}", code, f"{short}管理员", (admin,)))
    first_device = True
    for i, (region, body, _name, short, _address, device) in enumerate(_ENTERPRISES, start=1):
        code = codes.make_uscc("9", "1", region, body)
        if i == 1:
            users.append(DemoUser("pharma", code, f"{short}管理员", (admin,)))
            users.append(DemoUser("pharma_op", code, f"{short}经办人", (op,)))
        elif device and first_device:
            first_device = False
            users.append(DemoUser("device", code, f"{short}管理员", (admin,)))
        else:
            users.append(DemoUser(f"e{i:02d}", code, f"{short}管理员", (admin,)))
    for i, (region, body, _name, short, _address) in enumerate(_BANKS, start=1):
        code = codes.make_uscc("9", "1", region, body)
        if i == 1:
            users.append(DemoUser("bank", code, f"{short}管理员", (admin,)))
            users.append(DemoUser("bank_op", code, f"{short}信贷经办", (op,)))
        else:
            users.append(DemoUser(f"bank{i}", code, f"{short}管理员", (admin,)))
    return users


def load_core_demo(session: Session) -> dict[str, Any]:
    """Create the missing demo organisations and users; return what was created.

    Existing organisations (by code) and users (by username) are left untouched. If the
    platform already has a bureau under another code (``flask users create-admin`` made it),
    the demo bureau users join that bureau instead of a second one being created.
    """
    orgs = demo_organisations()
    users = demo_users()

    wanted_codes = [o.code for o in orgs]
    org_ids: dict[str, int] = dict(session.execute(
        sa.select(Organisation.code, Organisation.id).where(Organisation.code.in_(wanted_codes))
    ).all())
    if BUREAU_CODE not in org_ids:
        other_bureau = session.execute(
            sa.select(Organisation.id).where(Organisation.kind == OrgKind.bureau)
            .order_by(Organisation.id).limit(1)
        ).scalar()
        if other_bureau is not None:
            org_ids[BUREAU_CODE] = other_bureau

    new_orgs = [Organisation(kind=o.kind, name=o.name, short_name=o.short_name, code=o.code,
                             region_code=o.region_code, contact_name=o.contact_name,
                             contact_phone=o.contact_phone, address=o.address)
                for o in orgs if o.code not in org_ids]
    if new_orgs:
        session.add_all(new_orgs)
        session.flush()
        org_ids.update({o.code: o.id for o in new_orgs})

    existing_users = set(session.execute(
        sa.select(User.username).where(User.username.in_([u.username for u in users]))
    ).scalars())
    missing = [u for u in users if u.username not in existing_users]
    if missing:
        check_password_strength(DEMO_PASSWORD)
        password_hash = hash_password(DEMO_PASSWORD)  # once: Argon2 is slow on purpose
        new_users = [User(org_id=org_ids[u.org_code], username=u.username,
                          display_name=u.display_name, password_hash=password_hash)
                     for u in missing]
        session.add_all(new_users)
        session.flush()
        session.execute(sa.insert(UserRole), [
            {"user_id": row.id, "role": role}
            for row, u in zip(new_users, missing, strict=True) for role in u.roles
        ])
        session.flush()

    summary = {"organisations_created": len(new_orgs), "users_created": len(missing)}
    if new_orgs or missing:
        by_kind: dict[str, int] = {}
        for o in new_orgs:
            by_kind[o.kind.value] = by_kind.get(o.kind.value, 0) + 1
        audit.record(session, Actor.system_actor("demo"), "demo.load", "demo", None,
                     after={**summary, "organisations_by_kind": by_kind})
    return summary
