"""A seeded generator of realistic catalogue products (产品目录) in the import file format.

    python -m bench.listing_data --rows 1000 --seed 7 --out products.csv

Drugs carry valid 23-character western-medicine codes (``X…``), consumables valid 27-character
consumable codes (``C…``, several specifications per 20-character product group); generic names
come from a list of real Chinese generic names with their usual strengths, dosage forms from the
price-difference table, manufacturers have valid unified social credit codes. The same seed
always gives the same products.
"""
from __future__ import annotations

import argparse
import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.codes import make_uscc

# (generic name, ATC-like class, dosage forms, strengths as (value, unit))
_DRUGS: list[tuple[str, str, tuple[str, ...], tuple[tuple[str, str], ...]]] = [
    ("阿托伐他汀钙", "C10AA", ("普通片",), (("10", "mg"), ("20", "mg"), ("40", "mg"))),
    ("瑞舒伐他汀钙", "C10AA", ("普通片",), (("5", "mg"), ("10", "mg"), ("20", "mg"))),
    ("辛伐他汀", "C10AA", ("普通片",), (("20", "mg"), ("40", "mg"))),
    ("氨氯地平", "C08CA", ("普通片",), (("2.5", "mg"), ("5", "mg"), ("10", "mg"))),
    ("硝苯地平", "C08CA", ("普通片", "软胶囊"), (("10", "mg"), ("30", "mg"))),
    ("厄贝沙坦", "C09CA", ("普通片", "分散片"), (("75", "mg"), ("150", "mg"), ("300", "mg"))),
    ("缬沙坦", "C09CA", ("硬胶囊", "普通片"), (("40", "mg"), ("80", "mg"), ("160", "mg"))),
    ("氯沙坦钾", "C09CA", ("普通片",), (("50", "mg"), ("100", "mg"))),
    ("坎地沙坦酯", "C09CA", ("普通片",), (("4", "mg"), ("8", "mg"))),
    ("培哚普利", "C09AA", ("普通片",), (("4", "mg"), ("8", "mg"))),
    ("依那普利", "C09AA", ("普通片",), (("5", "mg"), ("10", "mg"))),
    ("美托洛尔", "C07AB", ("普通片",), (("25", "mg"), ("47.5", "mg"), ("50", "mg"))),
    ("比索洛尔", "C07AB", ("普通片",), (("2.5", "mg"), ("5", "mg"))),
    ("氯吡格雷", "B01AC", ("普通片",), (("25", "mg"), ("75", "mg"))),
    ("阿司匹林", "B01AC", ("肠溶片",), (("25", "mg"), ("100", "mg"))),
    ("替格瑞洛", "B01AC", ("普通片",), (("60", "mg"), ("90", "mg"))),
    ("利伐沙班", "B01AF", ("普通片",), (("10", "mg"), ("15", "mg"), ("20", "mg"))),
    ("二甲双胍", "A10BA", ("普通片", "肠溶片"), (("0.25", "g"), ("0.5", "g"), ("0.85", "g"))),
    ("格列美脲", "A10BB", ("普通片",), (("1", "mg"), ("2", "mg"))),
    ("阿卡波糖", "A10BF", ("普通片", "咀嚼片"), (("50", "mg"), ("100", "mg"))),
    ("西格列汀", "A10BH", ("普通片",), (("25", "mg"), ("50", "mg"), ("100", "mg"))),
    ("达格列净", "A10BK", ("普通片",), (("5", "mg"), ("10", "mg"))),
    ("恩替卡韦", "J05AF", ("普通片", "分散片"), (("0.5", "mg"), ("1", "mg"))),
    ("替诺福韦二吡呋酯", "J05AF", ("普通片",), (("300", "mg"),)),
    ("奥司他韦", "J05AH", ("硬胶囊",), (("75", "mg"), ("30", "mg"))),
    ("阿莫西林", "J01CA", ("硬胶囊", "分散片"), (("0.25", "g"), ("0.5", "g"))),
    ("头孢呋辛酯", "J01DC", ("普通片",), (("0.125", "g"), ("0.25", "g"))),
    ("头孢克肟", "J01DD", ("硬胶囊", "分散片"), (("50", "mg"), ("100", "mg"))),
    ("左氧氟沙星", "J01MA", ("普通片", "注射液"), (("0.25", "g"), ("0.5", "g"))),
    ("莫西沙星", "J01MA", ("普通片", "注射液"), (("0.4", "g"),)),
    ("阿奇霉素", "J01FA", ("普通片", "硬胶囊", "注射液"), (("0.25", "g"), ("0.5", "g"))),
    ("克拉霉素", "J01FA", ("普通片", "分散片"), (("0.25", "g"),)),
    ("甲硝唑", "J01XD", ("普通片", "注射液"), (("0.2", "g"), ("0.5", "g"))),
    ("氟康唑", "J02AC", ("硬胶囊", "注射液"), (("50", "mg"), ("150", "mg"))),
    ("奥美拉唑", "A02BC", ("肠溶胶囊", "肠溶片"), (("10", "mg"), ("20", "mg"))),
    ("泮托拉唑", "A02BC", ("肠溶片", "注射液"), (("20", "mg"), ("40", "mg"))),
    ("雷贝拉唑钠", "A02BC", ("肠溶片", "肠溶胶囊"), (("10", "mg"), ("20", "mg"))),
    ("埃索美拉唑", "A02BC", ("肠溶片",), (("20", "mg"), ("40", "mg"))),
    ("莫沙必利", "A03FA", ("普通片", "分散片"), (("5", "mg"),)),
    ("蒙脱石", "A07BC", ("口服溶液",), (("3", "g"),)),
    ("布洛芬", "M01AE", ("普通片", "硬胶囊", "口服溶液"), (("0.2", "g"), ("0.3", "g"))),
    ("塞来昔布", "M01AH", ("硬胶囊",), (("0.1", "g"), ("0.2", "g"))),
    ("对乙酰氨基酚", "N02BE", ("普通片", "泡腾片", "口服溶液"), (("0.3", "g"), ("0.5", "g"))),
    ("氨溴索", "R05CB", ("普通片", "口服溶液", "注射液"), (("30", "mg"), ("15", "mg"))),
    ("孟鲁司特钠", "R03DC", ("普通片", "咀嚼片"), (("4", "mg"), ("5", "mg"), ("10", "mg"))),
    ("氯雷他定", "R06AX", ("普通片",), (("10", "mg"),)),
    ("西替利嗪", "R06AE", ("普通片", "口服溶液"), (("10", "mg"),)),
    ("舍曲林", "N06AB", ("普通片",), (("50", "mg"), ("100", "mg"))),
    ("帕罗西汀", "N06AB", ("普通片",), (("20", "mg"),)),
    ("艾司西酞普兰", "N06AB", ("普通片",), (("5", "mg"), ("10", "mg"))),
    ("奥氮平", "N05AH", ("普通片", "分散片"), (("5", "mg"), ("10", "mg"))),
    ("喹硫平", "N05AH", ("普通片",), (("25", "mg"), ("100", "mg"), ("200", "mg"))),
    ("阿立哌唑", "N05AX", ("普通片",), (("5", "mg"), ("10", "mg"))),
    ("左乙拉西坦", "N03AX", ("普通片", "口服溶液", "注射液"), (("0.25", "g"), ("0.5", "g"))),
    ("普瑞巴林", "N03AX", ("硬胶囊",), (("75", "mg"), ("150", "mg"))),
    ("多奈哌齐", "N06DA", ("普通片",), (("5", "mg"), ("10", "mg"))),
    ("坦索罗辛", "G04CA", ("硬胶囊",), (("0.2", "mg"),)),
    ("非那雄胺", "G04CB", ("普通片",), (("1", "mg"), ("5", "mg"))),
    ("来曲唑", "L02BG", ("普通片",), (("2.5", "mg"),)),
    ("阿那曲唑", "L02BG", ("普通片",), (("1", "mg"),)),
    ("伊马替尼", "L01EA", ("普通片", "硬胶囊"), (("0.1", "g"),)),
    ("吉非替尼", "L01EB", ("普通片",), (("0.25", "g"),)),
    ("胰岛素", "A10AB", ("注射液",), (("300", "IU"), ("400", "IU"))),
    ("头孢曲松钠", "J01DD", ("注射液",), (("0.5", "g"), ("1", "g"))),
    ("甲钴胺", "B03BA", ("普通片", "注射液"), (("0.5", "mg"),)),
    ("维生素B12", "B03BA", ("注射液",), (("500", "μg"),)),
]

# (generic name, category, specification variants, min unit)
_CONSUMABLES: list[tuple[str, str, tuple[str, ...], str]] = [
    ("一次性使用无菌注射器", "注射穿刺类", ("1ml", "2ml", "5ml", "10ml", "20ml"), "支"),
    ("一次性使用输液器", "注射穿刺类", ("带针 0.55mm", "带针 0.7mm", "精密过滤"), "套"),
    ("冠状动脉药物洗脱支架", "血管介入类", ("2.5×18mm", "3.0×24mm", "3.5×29mm"), "个"),
    ("球囊扩张导管", "血管介入类", ("2.0×15mm", "2.5×20mm", "3.0×15mm"), "根"),
    ("人工晶体", "眼科材料", ("+20.0D", "+21.5D", "+23.0D"), "片"),
    ("人工髋关节", "骨科材料", ("陶瓷-陶瓷 52mm", "陶瓷-聚乙烯 48mm"), "套"),
    ("可吸收性外科缝线", "止血防粘连类", ("2-0 75cm", "3-0 70cm", "4-0 45cm"), "根"),
    ("医用外科口罩", "医用防护类", ("17.5×9.5cm",), "只"),
    ("留置针", "注射穿刺类", ("18G", "20G", "22G", "24G"), "支"),
    ("吻合器", "外科通用类", ("26mm", "29mm", "32mm"), "把"),
]

_FORM_UNITS = {"普通片": "片", "咀嚼片": "片", "含片": "片", "可溶片": "片", "肠溶片": "片",
               "分散片": "片", "泡腾片": "片", "硬胶囊": "粒", "肠溶胶囊": "粒",
               "软胶囊": "粒", "口服溶液": "瓶", "注射液": "支"}
_SOLID_PACKS = (7, 10, 12, 14, 20, 24, 28, 30, 36, 48, 60, 100)
_SOLID_MATERIALS = (("铝塑", "铝塑板"), ("双铝", "铝铝板"), ("高密度聚乙烯瓶", "瓶装"))
_INJECTION_PACKS = (("中性硼硅玻璃安瓿", "安瓿"), ("低硼硅玻璃管制注射剂瓶", "西林瓶"),
                    ("聚丙烯输液瓶", "软袋"))
_LIQUID_PACKS = (("聚酯瓶", "瓶装"), ("钠钙玻璃瓶", "瓶装"))
_REGIONS = ("110105", "120116", "130102", "310115", "320505", "330106", "340104", "350102",
            "370102", "410105", "420106", "440305", "500112", "510107", "610113")
_CITIES = ("北京", "天津", "石家庄", "上海", "苏州", "杭州", "合肥", "福州", "济南", "郑州",
           "武汉", "深圳", "重庆", "成都", "西安")
_WORDS = ("恒瑞", "华海", "齐鲁", "科伦", "正大", "石药", "扬子江", "豪森", "信立泰", "康弘",
          "海正", "复星", "联邦", "白云山", "普利", "京新", "贝达", "天士", "九州", "仁和",
          "东阳", "鲁南", "华润", "国药", "新华", "丽珠", "万邦", "双鹭", "亚宝", "济川")
_SUFFIXES = ("制药有限公司", "药业股份有限公司", "医药集团有限公司", "生物制药有限公司",
             "医疗器械有限公司")
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@dataclass(frozen=True)
class Manufacturer:
    name: str
    code: str


def manufacturers(count: int, seed: int = 0) -> list[Manufacturer]:
    """``count`` distinct manufacturers with valid credit codes (unique for a seed)."""
    rng = random.Random(f"manufacturers-{seed}")
    out = []
    for i in range(count):
        region_idx = rng.randrange(len(_REGIONS))
        # The serial makes the organisation code unique; the rest varies between seeds.
        body = f"{i:06d}" + "".join(rng.choice(_USCC_ALPHABET[10:]) for _ in range(2))
        code = make_uscc("9", "1", _REGIONS[region_idx], body)
        name = (f"{_CITIES[region_idx]}{rng.choice(_WORDS)}{i:04d}"
                f"{rng.choice(_SUFFIXES)}")
        out.append(Manufacturer(name, code))
    return out


def _flag(rng: random.Random, probability: float) -> str:
    return "是" if rng.random() < probability else "否"


def _drug(rng: random.Random, serial: int, maker: Manufacturer) -> dict[str, str]:
    gi = rng.randrange(len(_DRUGS))
    name, atc, forms, strengths = _DRUGS[gi]
    form = rng.choice(forms)
    value, unit = rng.choice(strengths)
    min_unit = _FORM_UNITS[form]
    volume = ""
    if form == "注射液":
        volume = rng.choice(("1", "2", "5", "10", "100"))
        units = rng.choice((1, 5, 10))
        spec = f"{volume}ml:{value}{unit}×{units}{min_unit}"
    elif form == "口服溶液":
        volume = rng.choice(("60", "100", "120", "200"))
        units = 1
        spec = f"{volume}ml:{value}{unit}"
    else:
        units = rng.choice(_SOLID_PACKS)
        spec = f"{value}{unit}×{units}{min_unit}"
    if form == "注射液":
        material, package_form = rng.choice(_INJECTION_PACKS)
    elif form == "口服溶液":
        material, package_form = rng.choice(_LIQUID_PACKS)
    else:
        material, package_form = rng.choice(_SOLID_MATERIALS)
    # X + ATC class (5) + form letter + generic (3) + strength/pack letter + 12-digit serial.
    code = f"X{atc}{chr(65 + list(_FORM_UNITS).index(form))}{gi:03d}A{serial:012d}"
    passed = rng.random() < 0.55
    return {
        "code": code, "kind": "药品", "generic_name": name,
        "trade_name": rng.choice(("", f"{name[:2]}宁", f"{name[:1]}欣", f"{name[:2]}安")),
        "category": "化学药品", "dosage_form": form, "spec": spec,
        "content_value": value, "content_unit": unit, "volume_ml": volume,
        "units_per_package": str(units), "min_unit": min_unit,
        "package_unit": "盒", "package_material": material, "package_form": package_form,
        "manufacturer_name": maker.name, "manufacturer_code": maker.code,
        "mah_name": maker.name, "mah_code": maker.code,
        "approval_number": f"国药准字H{20000000 + serial % 80000000:08d}",
        "consistency_passed": "是" if passed else "否",
        "reference_preparation": _flag(rng, 0.03),
        "vbp_winner": "是" if passed and rng.random() < 0.3 else "否",
        "negotiated": _flag(rng, 0.05),
    }


def _consumable(rng: random.Random, serial: int, maker: Manufacturer) -> dict[str, str]:
    ci = rng.randrange(len(_CONSUMABLES))
    name, category, specs, min_unit = _CONSUMABLES[ci]
    si = rng.randrange(len(specs))
    # 20-character product group (C + class + product serial), then 7 for the specification.
    group = f"C{ci + 1:02d}{serial // 50:017d}"
    code = f"{group}{si:03d}{serial % 10000:04d}"
    units = rng.choice((1, 1, 10, 50, 100))
    return {
        "code": code, "kind": "耗材", "generic_name": name, "trade_name": "",
        "category": category, "dosage_form": "", "spec": specs[si],
        "content_value": "", "content_unit": "", "volume_ml": "",
        "units_per_package": str(units), "min_unit": min_unit, "package_unit": "盒",
        "package_material": "", "package_form": "",
        "manufacturer_name": maker.name, "manufacturer_code": maker.code,
        "mah_name": "", "mah_code": "",
        "approval_number": f"国械注准2019{3000000 + serial % 1000000:07d}",
        "consistency_passed": "否", "reference_preparation": "否",
        "vbp_winner": _flag(rng, 0.1), "negotiated": "否",
    }


def generate_products(n: int, seed: int = 0, *, consumable_share: float = 0.15,
                      makers: int | None = None) -> list[dict[str, str]]:
    """``n`` products as import rows ({column key: text}), with unique codes; deterministic
    for ``seed``."""
    rng = random.Random(f"products-{seed}")
    makers_list = manufacturers(makers or max(1, min(3000, n // 30)), seed)
    out = []
    for serial in range(n):
        maker = makers_list[rng.randrange(len(makers_list))]
        if rng.random() < consumable_share:
            out.append(_consumable(rng, serial, maker))
        else:
            out.append(_drug(rng, serial, maker))
    return out


def write_csv(products: list[dict[str, str]], out: BinaryIO) -> None:
    """Write ``products`` as an import CSV (UTF-8 with BOM, Chinese headers)."""
    from listing.services_catalogue import PRODUCT_COLUMNS

    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([col.title for col in PRODUCT_COLUMNS])
    for product in products:
        writer.writerow([product.get(col.key, "") for col in PRODUCT_COLUMNS])
    out.write(b"\xef\xbb\xbf" + text.getvalue().encode("utf-8"))


def products_csv(products: list[dict[str, str]]) -> bytes:
    buf = io.BytesIO()
    write_csv(products, buf)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    with args.out.open("wb") as fh:
        write_csv(generate_products(args.rows, args.seed), fh)


if __name__ == "__main__":
    main()
