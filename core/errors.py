"""Domain errors that carry their HTTP status.

Services raise these; one error handler (``core.web``) renders them as an HTML page or as
``application/problem+json`` (RFC 9457). An expected conflict is never a 500.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    """One problem with one input field, optionally on one row of an upload (1-based line)."""

    field: str
    message: str
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.row is not None:
            out["row"] = self.row
        return out


class DomainError(Exception):
    """Base of every expected business error."""

    status: int = 400
    type_slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str | None = None, *, params: dict[str, Any] | None = None,
                 **extra: Any) -> None:
        # ``detail`` may be a template with %(name)s placeholders filled from ``params``: the
        # template is the msgid the page translates, the filled text is the API's detail.
        self.template = detail or self.title
        self.params = params or {}
        self.detail = self.template % self.params if self.params else self.template
        super().__init__(self.detail)
        self.extra = extra

    def message(self) -> str:
        """The detail in the request's language, statuses, actions and object kinds in words
        (``detail`` keeps the English text with internal names, for logs)."""
        from core.i18n import render
        return render(self.template, self.params)

    @property
    def type_uri(self) -> str:
        return f"/problems/{self.type_slug}"

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.message(),
        }
        body.update(self.extra)
        return body


class NotFound(DomainError):
    """The object does not exist *or the caller may not know that it exists*."""

    status = 404
    type_slug = "not-found"
    title = "Not found"


class Unauthorized(DomainError):
    status = 401
    type_slug = "unauthorized"
    title = "Authentication required"


class Forbidden(DomainError):
    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class Conflict(DomainError):
    """The request clashes with the current state (illegal transition, stale version)."""

    status = 409
    type_slug = "conflict"
    title = "Conflict"


class PreconditionRequired(DomainError):
    """A write that would overwrite a row was sent without the version it was based on
    (``If-Match``, RFC 6585 §3): refused so that nobody's change is lost unseen."""

    status = 428
    type_slug = "precondition-required"
    title = "Precondition required"


class TooManyRequests(DomainError):
    status = 429
    type_slug = "too-many-requests"
    title = "Too many requests"


class Invalid(DomainError):
    """Bad input: every problem is listed, nothing is written."""

    status = 422
    type_slug = "invalid"
    title = "Invalid input"

    def __init__(
        self,
        errors: list[FieldError] | FieldError | None = None,
        detail: str | None = None,
    ) -> None:
        if isinstance(errors, FieldError):
            errors = [errors]
        self.errors: list[FieldError] = list(errors or [])
        if detail is None and self.errors:
            detail = self._joined()
        super().__init__(detail)

    def message(self) -> str:
        if not self.errors or self.template != self._joined():
            return super().message()
        from core.i18n import render, translate
        return "; ".join(
            (render("row %(n)s", {"n": e.row}) + " " if e.row is not None else "")
            + f"{translate(e.field)}: {translate(e.message)}" for e in self.errors[:20])

    def _joined(self) -> str:
        return "; ".join(
            (f"row {e.row}: " if e.row is not None else "") + f"{e.field}: {e.message}"
            for e in self.errors[:20])

    @classmethod
    def one(cls, field: str, message: str, row: int | None = None) -> Invalid:
        return cls([FieldError(field, message, row)])

    def problem(self) -> dict[str, Any]:
        body = super().problem()
        body["errors"] = [e.as_dict() for e in self.errors]
        return body


@dataclass
class ErrorCollector:
    """Collects field errors across a whole input so all of them are reported at once."""

    errors: list[FieldError] = field(default_factory=list)

    def add(self, field_name: str, message: str, row: int | None = None) -> None:
        self.errors.append(FieldError(field_name, message, row))

    def raise_if_any(self) -> None:
        if self.errors:
            raise Invalid(self.errors)

    def __bool__(self) -> bool:
        return bool(self.errors)
