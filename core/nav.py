"""Navigation entries, registered by each module and filtered by the actor's permissions."""
from __future__ import annotations

from dataclasses import dataclass

from core.permissions import Actor


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str          # an English msgid, translated when rendered
    endpoint: str
    permission: str
    order: int = 100
    section: str = "main"   # main | admin | public (the public pages' header, no login)


_ITEMS: dict[str, NavItem] = {}


def register(item: NavItem) -> None:
    _ITEMS[item.key] = item


def items_for(actor: Actor | None, section: str = "main") -> list[NavItem]:
    """The entries of ``section`` the actor may open; the ``public`` section's (the public
    pages' header: listing search, publicity boards, procurement results) for anyone."""
    if section == "public":
        return sorted((i for i in _ITEMS.values() if i.section == "public"),
                      key=lambda i: (i.order, i.key))
    if actor is None:
        return []
    return sorted((i for i in _ITEMS.values() if i.section == section and actor.can(i.permission)),
                  key=lambda i: (i.order, i.key))
