"""The procurement rule-set page: everyone in the module reads it, the bureau's managers
publish new versions, every problem is named by its field and nothing is stored then."""
from __future__ import annotations

from decimal import Decimal

from core import rules
from core.models import OrgKind
from procurement import services
from tests.listing.factories import seed_rules
from tests.support import csrf_token, login, make_org, make_user


def _form(client, **changes):
    data = {"csrf_token": csrf_token(client, "/procurement/rules"), "anchor": "mean_sd",
            "winner_multiplier": "1.5", "price_floor": "0.08", "entrant_cap_max": "10",
            "entrant_cap_k": "2", "min_winners": "1", "zero_volume_sd": "2",
            "result_publicity_working_days": "5",
            "report_min_share": "0.8", "cycle_years": "3", "pool_lowest_share": "0.3",
            "rounding": "half_up",
            "agreed_ratios_min_winners": ["1", "2", "3", ""],
            "agreed_ratios_ratio": ["0.5", "0.6", "0.7", ""],
            "retention_bands_max_ratio": ["1.1", "1.2", "", ""],
            "retention_bands_retained": ["1", "0.95", "0.85", ""], "note": "第十批规则"}
    data.update(changes)
    return data


def _manager(session, client, role="procurement_manager"):
    seed_rules(session)
    org = make_org(session, OrgKind.bureau)
    user = make_user(session, org, role)
    login(client, user.username)


def test_a_manager_publishes_a_new_version(session, client):
    _manager(session, client)
    before = rules.current(session, services.RULE_SET).version
    page = client.get("/procurement/rules")
    assert page.status_code == 200 and "1.8" in page.get_data(as_text=True)
    resp = client.post("/procurement/rules", data=_form(client))
    assert resp.status_code == 302
    current = rules.current(session, services.RULE_SET)
    assert current.version == before + 1
    p = current.params
    assert (p.anchor, p.winner_multiplier, p.price_floor, p.entrant_cap_k, p.zero_volume_sd,
            p.cycle_years, p.rounding, p.result_publicity_working_days) == (
        "mean_sd", Decimal("1.5"), Decimal("0.08"), 2, Decimal("2"), 3, "half_up", 5)
    assert [(s.min_winners, s.ratio) for s in p.agreed_ratios] == [
        (1, Decimal("0.5")), (2, Decimal("0.6")), (3, Decimal("0.7"))]
    assert [(b.max_ratio, b.retained) for b in p.retention_bands] == [
        (Decimal("1.1"), Decimal("1")), (Decimal("1.2"), Decimal("0.95")),
        (None, Decimal("0.85"))]


def test_bad_rules_name_the_field_and_store_nothing(session, client):
    _manager(session, client)
    before = rules.current(session, services.RULE_SET).version
    resp = client.post("/procurement/rules", data=_form(
        client, winner_multiplier="-1", retention_bands_max_ratio=["1.1", "1.2", "1.3", ""],
        retention_bands_retained=["1", "0.95", "0.9", ""]))
    assert resp.status_code == 422
    text = resp.get_data(as_text=True)
    assert "winner_multiplier" in text
    assert rules.current(session, services.RULE_SET).version == before


def test_others_read_but_cannot_publish(session, client):
    seed_rules(session)
    hosp = make_org(session, OrgKind.hospital)
    login(client, make_user(session, hosp, "operator").username)
    page = client.get("/procurement/rules")
    assert page.status_code == 200 and "Publish a new version" not in page.get_data(as_text=True)
    assert 'name="winner_multiplier"' in page.get_data(as_text=True)
    before = rules.current(session, services.RULE_SET).version
    resp = client.post("/procurement/rules", data=_form(client), follow_redirects=True)
    assert "procurement:batch:manage" in resp.get_data(as_text=True)  # the refusal, shown
    assert rules.current(session, services.RULE_SET).version == before
