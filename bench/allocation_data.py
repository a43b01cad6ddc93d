"""A seeded generator of allocation instances (约定采购量分配) in the offline-solve file format.

    python -m bench.allocation_data --size provincial --seed 11 --out DIR [--kind realistic]

Two kinds of instance. ``grouped`` (the original) is described first; ``realistic`` below.

Writes ``DIR/demand.csv``, ``DIR/winners.csv`` and ``DIR/choices.csv`` as read by
``flask --app wsgi procurement allocate``. Sizes (hospitals × products): small 500 × 5,
provincial 5,000 × 50, national 40,000 × 100. Per product: 2–10 winners with distinct prices;
about 30% of the hospital-product pairs carry demand (100–100,000 units, log-uniform); the
cheapest winner and some others have a capacity below the total demand, so capacities bind; about
half the products give one dearer winner a share floor (5–10%), so floors bind; 90% of the
hospital-product pairs rank 1–3 winners, often putting the capped cheapest winner first, so the
rank penalty is non-zero and trades off against capacity. Every choice list contains a winner
without a capacity limit and a floor is at most half the demand that may reach it, so every
instance is feasible. Hospitals carry valid institution codes, products valid western-medicine
drug codes and enterprises valid unified social credit codes. The same seed always gives the
same files.

``realistic`` (:func:`generate_realistic`) gives hospitals the choice diversity real ones show,
so that hardly two hospitals of a product choose alike and grouping them saves little: each
winner supplies a random ~60% of the cities (the dearest winner, never capacity-limited,
supplies every city: the national back-up), and a hospital with demand ranks 1–5 of the
winners serving its city (15/25/25/20/15%), cheaper winners more often first (sampled without
replacement with weight 1/(1 + price order)); when none of its choices is free of a capacity
limit it adds, at the next rank, the first uncapped winner it would have ranked next (a back-up
supplier, as the platform asks for). 10% of the hospitals do not choose: they are given every
winner serving their city at rank 1, which is what the platform's allocation run does with
such a hospital (``procurement.services_allocation.build_problem``). Demand, prices,
capacities and share floors as above; a floor is at most half the demand that may reach its
winner, so every instance is feasible.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.codes import PROVINCE_CODES, make_uscc

SIZES: dict[str, tuple[int, int]] = {
    "tiny": (40, 3),
    "small": (500, 5),
    "provincial": (5_000, 50),
    "national": (40_000, 100),
}

_PROVINCES = sorted(PROVINCE_CODES - {"71", "81", "82"})
_ATC = ["C10AA", "C08CA", "C09CA", "B01AC", "A10BA", "J05AF", "J01CA", "A02BC", "N06AB", "R03AC"]


@dataclass(frozen=True)
class Instance:
    """The three files' text (UTF-8, header rows, ``\\n`` line ends) and a few counts."""

    demand_csv: str
    winners_csv: str
    choices_csv: str
    hospitals: int
    products: int
    demand_rows: int
    winner_rows: int
    choice_rows: int
    variables: int

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "demand.csv").write_text(self.demand_csv, encoding="utf-8")
        (directory / "winners.csv").write_text(self.winners_csv, encoding="utf-8")
        (directory / "choices.csv").write_text(self.choices_csv, encoding="utf-8")


def hospital_codes(n: int) -> list[str]:
    """``n`` distinct institution codes ``H`` + region + 5-digit serial, spread over provinces."""
    codes = []
    for i in range(n):
        prov = _PROVINCES[i % len(_PROVINCES)]
        region = f"{prov}{(i // 97) % 20 + 1:02d}{i % 9 + 1:02d}"
        codes.append(f"H{region}{i:05d}")
    return codes


def product_codes(n: int) -> list[str]:
    """``n`` distinct 23-character western-medicine drug codes."""
    return [f"X{_ATC[i % len(_ATC)]}A{i:016d}" for i in range(n)]


def enterprise_codes(n: int) -> list[str]:
    """``n`` distinct valid unified social credit codes."""
    out = []
    for i in range(n):
        prov = _PROVINCES[i % len(_PROVINCES)]
        out.append(make_uscc("9", "1", f"{prov}0100", f"{10_000_000 + i * 7919:08d}"))
    return out


def _price_text(units: int) -> str:
    """A price in 1/10,000 yuan as a decimal string with 4 places."""
    return f"{units // 10_000}.{units % 10_000:04d}"


def generate(size: str = "small", seed: int = 11, *, hospitals: int | None = None,
             products: int | None = None) -> Instance:
    """Generate one instance; ``hospitals``/``products`` override the named size."""
    n_h, n_p = SIZES[size]
    n_h = hospitals or n_h
    n_p = products or n_p
    rng = np.random.default_rng(seed)
    hosp = hospital_codes(n_h)
    prods = product_codes(n_p)
    ents = enterprise_codes(max(30, 3 * n_p))

    demand_lines = ["hospital_code,product_code,volume"]
    winner_lines = ["product_code,enterprise_code,unit_price,capacity,min_share"]
    choice_lines = ["hospital_code,product_code,enterprise_code,rank"]
    n_variables = 0
    n_choice_rows = 0
    n_demand_rows = 0
    n_winner_rows = 0
    for pcode in prods:
        n_w = int(rng.integers(2, 11))
        wins = [ents[int(i)] for i in rng.choice(len(ents), size=n_w, replace=False)]
        # distinct prices: base 0.05–30 yuan, winners up to 80% dearer, cheapest first
        base = int(np.exp(rng.uniform(np.log(500), np.log(300_000))))
        steps = np.sort(rng.choice(np.arange(1, 8_000), size=n_w - 1, replace=False))
        price_units = [base] + [base + int(base * s) // 10_000 + k + 1 for k, s in enumerate(steps)]

        mask = rng.random(n_h) < 0.30
        if not mask.any():
            mask[int(rng.integers(n_h))] = True
        hidx = np.flatnonzero(mask)
        volumes = np.exp(rng.uniform(np.log(100), np.log(100_000), size=hidx.size)).astype(np.int64)
        total = int(volumes.sum())

        # capacities: the cheapest winner always capped (binding), the dearest never capped,
        # the others capped with probability 1/2
        capacity: list[int | None] = [None] * n_w
        capacity[0] = int(total * rng.uniform(0.15, 0.40))
        for w in range(1, n_w - 1):
            if rng.random() < 0.5:
                capacity[w] = int(total * rng.uniform(0.2, 0.6))
        # floors: in about half the products one dearer winner gets a 5–10% share floor
        share = ["" for _ in range(n_w)]
        fw = -1
        if rng.random() < 0.5:
            fw = int(rng.integers(1, n_w))
            share[fw] = str(rng.choice(["0.05", "0.08", "0.1"]))
            if capacity[fw] is not None:
                capacity[fw] = max(capacity[fw], int(total * 0.2))
        uncapped = [w for w in range(n_w) if capacity[w] is None]
        reach = 0  # demand of the hospitals that may receive from the floor winner

        has_choice = rng.random(hidx.size) < 0.90
        lengths = rng.choice([1, 2, 3], size=hidx.size, p=[0.3, 0.5, 0.2])
        lengths = np.minimum(lengths, n_w)
        for k, h in enumerate(hidx.tolist()):
            hcode = hosp[h]
            demand_lines.append(f"{hcode},{pcode},{int(volumes[k])}")
            if not has_choice[k]:
                n_variables += n_w
                reach += int(volumes[k])
                continue
            length = int(lengths[k])
            listed = [int(w) for w in rng.choice(n_w, size=length, replace=False)]
            if not any(capacity[w] is None for w in listed):
                listed[-1] = uncapped[int(rng.integers(len(uncapped)))]
                listed = list(dict.fromkeys(listed))
            if 0 not in listed and rng.random() < 0.4 and len(listed) > 1:
                listed[0] = 0  # the capped cheapest winner as first choice
                listed = list(dict.fromkeys(listed))
                if not any(capacity[w] is None for w in listed):
                    listed.append(uncapped[0])
            for rank, w in enumerate(listed, start=1):
                choice_lines.append(f"{hcode},{pcode},{wins[w]},{rank}")
            n_choice_rows += len(listed)
            n_variables += len(listed)
            if fw in listed:
                reach += int(volumes[k])
        n_demand_rows += hidx.size
        # keep the floor at most half the demand that may reach its winner (so it stays
        # feasible whatever the other floors and capacities do)
        while share[fw] and float(share[fw]) * total > reach / 2:
            smaller = {"0.1": "0.08", "0.08": "0.05", "0.05": ""}
            share[fw] = smaller[share[fw]]
        for w in range(n_w):
            cap = "" if capacity[w] is None else str(capacity[w])
            winner_lines.append(f"{pcode},{wins[w]},{_price_text(price_units[w])},{cap},{share[w]}")
        n_winner_rows += n_w

    return Instance(
        demand_csv="\n".join(demand_lines) + "\n",
        winners_csv="\n".join(winner_lines) + "\n",
        choices_csv="\n".join(choice_lines) + "\n",
        hospitals=n_h, products=n_p, demand_rows=n_demand_rows, winner_rows=n_winner_rows,
        choice_rows=n_choice_rows, variables=n_variables,
    )


_LENGTHS = np.array([1, 2, 3, 4, 5])
_LENGTH_P = np.array([0.15, 0.25, 0.25, 0.20, 0.15])


def generate_realistic(size: str = "small", seed: int = 11, *, hospitals: int | None = None,
                       products: int | None = None) -> Instance:
    """Generate one instance with realistic choice diversity (see the module docstring)."""
    n_h, n_p = SIZES[size]
    n_h = hospitals or n_h
    n_p = products or n_p
    rng = np.random.default_rng(seed)
    hosp = hospital_codes(n_h)
    prods = product_codes(n_p)
    ents = enterprise_codes(max(30, 3 * n_p))
    # the city (地市) of a hospital: province + city digits of its region code
    city_codes = sorted({h[1:5] for h in hosp})
    city_index = {c: i for i, c in enumerate(city_codes)}
    city_of_h = np.array([city_index[h[1:5]] for h in hosp], dtype=np.int64)

    demand_lines = ["hospital_code,product_code,volume"]
    winner_lines = ["product_code,enterprise_code,unit_price,capacity,min_share"]
    choice_lines = ["hospital_code,product_code,enterprise_code,rank"]
    n_demand_rows = n_winner_rows = n_choice_rows = 0
    for pcode in prods:
        n_w = int(rng.integers(2, 11))
        wins = [ents[int(i)] for i in rng.choice(len(ents), size=n_w, replace=False)]
        base = int(np.exp(rng.uniform(np.log(500), np.log(300_000))))
        steps = np.sort(rng.choice(np.arange(1, 8_000), size=n_w - 1, replace=False))
        price_units = [base] + [base + int(base * s) // 10_000 + k + 1 for k, s in enumerate(steps)]

        mask = rng.random(n_h) < 0.30
        if not mask.any():
            mask[int(rng.integers(n_h))] = True
        hidx = np.flatnonzero(mask)
        m = hidx.size
        volumes = np.exp(rng.uniform(np.log(100), np.log(100_000), size=m)).astype(np.int64)
        total = int(volumes.sum())

        capacity: list[int | None] = [None] * n_w
        capacity[0] = int(total * rng.uniform(0.15, 0.40))
        for w in range(1, n_w - 1):
            if rng.random() < 0.5:
                capacity[w] = int(total * rng.uniform(0.2, 0.6))
        uncapped = np.array([c is None for c in capacity])
        share = ["" for _ in range(n_w)]
        fw = -1
        if rng.random() < 0.5:
            fw = int(rng.integers(1, n_w))
            share[fw] = str(rng.choice(["0.05", "0.08", "0.1"]))
            if capacity[fw] is not None:
                capacity[fw] = max(capacity[fw], int(total * 0.2))

        # which winners supply which city; the dearest supplies all
        serves = rng.random((len(city_codes), n_w)) < 0.6
        serves[:, n_w - 1] = True
        serving = serves[city_of_h[hidx]]                                # [m, n_w]
        # a random preference order per hospital, cheaper winners more often first
        # (Gumbel-max: sampling without replacement with weights 1 / (1 + price order))
        key = -np.log(1.0 + np.arange(n_w)) + rng.gumbel(size=(m, n_w))
        key[~serving] = -np.inf
        order = np.argsort(-key, axis=1, kind="stable")                  # [m, n_w]
        n_serving = serving.sum(axis=1)
        length = np.minimum(rng.choice(_LENGTHS, size=m, p=_LENGTH_P), n_serving)
        chooses = rng.random(m) < 0.90
        length[~chooses] = n_serving[~chooses]
        pos = np.arange(n_w)[None, :]
        listed = pos < length[:, None]                                   # [m, n_w] by position
        ordered_uncapped = uncapped[order] & (pos < n_serving[:, None])
        has_backup = (ordered_uncapped & listed).any(axis=1)
        # the first uncapped winner in the hospital's order, added at the next rank
        first_free = np.argmax(ordered_uncapped, axis=1)
        need = ~has_backup
        listed[need, first_free[need]] = True
        rank = np.where(chooses[:, None], np.cumsum(listed, axis=1), 1)
        rows, cols = np.nonzero(listed)
        w_of = order[rows, cols]
        r_of = rank[rows, cols]
        reach = int(volumes[np.unique(rows[w_of == fw])].sum()) if fw >= 0 else 0

        hcodes = [hosp[h] for h in hidx.tolist()]
        demand_lines.extend(f"{hc},{pcode},{v}" for hc, v in zip(hcodes, volumes.tolist(),
                                                                   strict=True))
        choice_lines.extend(f"{hcodes[i]},{pcode},{wins[w]},{r}" for i, w, r in zip(
            rows.tolist(), w_of.tolist(), r_of.tolist(), strict=True))
        n_demand_rows += m
        n_choice_rows += rows.size
        while share[fw] and float(share[fw]) * total > reach / 2:
            smaller = {"0.1": "0.08", "0.08": "0.05", "0.05": ""}
            share[fw] = smaller[share[fw]]
        for w in range(n_w):
            cap = "" if capacity[w] is None else str(capacity[w])
            winner_lines.append(f"{pcode},{wins[w]},{_price_text(price_units[w])},{cap},{share[w]}")
        n_winner_rows += n_w

    return Instance(
        demand_csv="\n".join(demand_lines) + "\n",
        winners_csv="\n".join(winner_lines) + "\n",
        choices_csv="\n".join(choice_lines) + "\n",
        hospitals=n_h, products=n_p, demand_rows=n_demand_rows, winner_rows=n_winner_rows,
        choice_rows=n_choice_rows, variables=n_choice_rows,
    )


KINDS = {"grouped": generate, "realistic": generate_realistic}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--kind", choices=sorted(KINDS), default="grouped")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", action="store_true", help="print the counts as one JSON line")
    args = ap.parse_args()
    inst = KINDS[args.kind](args.size, args.seed)
    inst.write(args.out)
    if args.json:
        print(json.dumps({"hospitals": inst.hospitals, "products": inst.products,
                          "demand_rows": inst.demand_rows, "winner_rows": inst.winner_rows,
                          "choice_rows": inst.choice_rows, "variables": inst.variables}))
    else:
        print(f"{inst.demand_rows} demand rows, {inst.winner_rows} winners, "
              f"{inst.choice_rows} choices, {inst.variables} variables → {args.out}")


if __name__ == "__main__":
    main()
