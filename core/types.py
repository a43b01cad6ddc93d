"""Column types shared by every module: UTC timestamps, string-stored enums, and the bounded
whole numbers every input (query, path, form, JSON, upload cell) is checked against."""
from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.types import TypeDecorator

#: The largest value of an INTEGER column (PostgreSQL ``integer``): ids, counts, ranks, years.
INT_MAX = 2**31 - 1
#: The largest value of a BIGINT column: amounts in fen, agreed volumes.
BIGINT_MAX = 2**63 - 1

# Input types bounded by the column they end in, so that a number the database cannot hold is
# a 422 naming the field at the boundary, never an overflow in the driver (a 500).
#: A reference to a row by its id.
DbId = Annotated[int, Field(ge=1, le=INT_MAX)]
#: A whole number of things stored in an INTEGER column (units, counts, a version).
Count = Annotated[int, Field(ge=0, le=INT_MAX)]
#: A whole number of things stored in a BIGINT column (agreed volumes).
BigCount = Annotated[int, Field(ge=0, le=BIGINT_MAX)]
#: A page number of a listing (``(page - 1) * per_page`` stays far inside BIGINT).
PageNumber = Annotated[int, Field(ge=1, le=INT_MAX)]
#: A calendar year (what ``datetime.date`` can hold).
Year = Annotated[int, Field(ge=1, le=9999)]


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC (all times are stored in UTC)."""
    return datetime.now(UTC)


#: Business days, deadlines and calendars are those of the bureau, in China Standard Time.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local_today(now: datetime | None = None) -> date:
    """Today's date in Asia/Shanghai (the bureau's calendar day)."""
    return (now or utcnow()).astimezone(LOCAL_TZ).date()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetime: ``timestamptz`` on PostgreSQL, naive UTC text on SQLite.

    Naive datetimes are refused on the way in, so a local time can never be stored by mistake.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime expects a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EnumStr(TypeDecorator):
    """A Python Enum stored as its string value in a VARCHAR.

    Not a native database enum: modules add statuses over time, and a VARCHAR needs no
    migration for a new value.
    """

    impl = sa.String(32)
    cache_ok = True

    def __init__(self, enum_cls: type[enum.Enum], length: int = 32) -> None:
        super().__init__(length)
        self.enum_cls = enum_cls

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, self.enum_cls):
            return value.value
        return self.enum_cls(value).value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        return self.enum_cls(value)
