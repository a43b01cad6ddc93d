"""The procurement blueprint and what every page of a batch shares: the tabs (``add_tab``),
the page head (``batch_page``) and the Asia/Shanghai form times. Each ``views*`` module imports
``bp`` from here and adds its routes; ``procurement.init_app`` imports them all, then
registers the blueprint — so no views module imports another."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, render_template

from core.db import get_session
from core.permissions import Actor
from core.types import LOCAL_TZ, utcnow
from core.web import acting
from procurement import services
from procurement.models import Batch

bp = Blueprint("procurement", __name__, url_prefix="/procurement", template_folder="templates",
               static_folder="static")


# --- form times -------------------------------------------------------------------------------

def local_to_utc(value: str) -> str:
    """A ``datetime-local`` input, wall time in Asia/Shanghai, as an ISO instant in UTC. Text
    that is not a date and time is passed on unchanged for the validator to name."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    if at.tzinfo is None:
        at = at.replace(tzinfo=LOCAL_TZ)
    return at.astimezone(UTC).isoformat()


def local_input(value: datetime | None) -> str:
    """A stored UTC instant as the value of a ``datetime-local`` input (Asia/Shanghai)."""
    return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M") if value else ""


# --- the tabs of a batch ----------------------------------------------------------------------

#: The order of a batch's tabs, whichever module adds them first.
TAB_ORDER = ("overview", "report", "reports", "bids", "results", "regions", "choices",
             "allocation", "agreements")


@dataclass(frozen=True)
class Tab:
    """One tab of a batch's pages: shown when the actor holds ``permission`` and ``shown``
    says so for this batch (``shown`` decides only what is offered; the pages and services
    check again)."""

    key: str
    label: str  # an English msgid, translated when rendered
    endpoint: str
    permission: str
    shown: Callable[[Batch, Actor], bool] = lambda batch, actor: True


TABS: list[Tab] = []


def add_tab(tab: Tab) -> None:
    if tab.key not in TAB_ORDER:
        raise ValueError(f"tab {tab.key!r} has no place in TAB_ORDER")
    TABS.append(tab)
    TABS.sort(key=lambda t: TAB_ORDER.index(t.key))


def tabs_for(batch: Batch, actor: Actor) -> list[Tab]:
    return [t for t in TABS if actor.can(t.permission) and t.shown(batch, actor)]


def batch_page(template: str, batch: Batch, tab: str, status: int = 200, **context: Any) -> Any:
    """Render one page of a batch with the shared head: status, lifecycle buttons, tabs."""
    actor = acting()
    actions = services.BATCH_FLOW.allowed_actions(batch, actor)
    # Starting bidding tells the bureau what it leaves behind (the service's rule).
    bidding_check = services.bidding_check(get_session(), actor, batch.id) \
        if "open_bidding" in actions else None
    return render_template(template, batch=batch, tab=tab, tabs=tabs_for(batch, actor),
                           actions=actions, bidding_check=bidding_check,
                           now=utcnow(), **context), status
