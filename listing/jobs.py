"""Background jobs of the listing module: thin wrappers over the services."""
from __future__ import annotations

from datetime import date

from sqlmodel import Session

from core.jobs import job, periodic
from core.permissions import Actor
from listing import services


@job("listing.end_publicity")
def end_publicity(session: Session, as_of: str | None = None) -> dict[str, int]:
    """List the applications whose objection window (公示期) has ended without objection.

    ``as_of`` (an ISO date) runs it as of that day, for replaying a missed day.
    """
    day = date.fromisoformat(as_of) if as_of else None
    return services.end_publicity(session, Actor.system_actor("publicity"), as_of=day)


# Hourly rather than once a night: a missed tick (a restart at midnight) is caught up within
# the hour, and a repeated tick finds nothing left to do.
periodic("listing.end_publicity", "7 * * * *")
