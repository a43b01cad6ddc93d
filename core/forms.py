"""Turning submitted form or JSON data into validated input models (the boundary)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import MultiDict

from core.errors import FieldError, Invalid
from core.i18n import N_

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Mapping[str, Any] | MultiDict, *,
          lists: tuple[str, ...] = ()) -> M:
    """Validate ``data`` into ``model``; every problem becomes a ``FieldError`` naming its field.

    For a ``MultiDict`` (an HTML form) the names in ``lists`` are read as lists; empty strings
    count as missing, so optional fields left blank are None.
    """
    if isinstance(data, MultiDict):
        values: dict[str, Any] = {}
        for key in data.keys():
            if key == "csrf_token":
                continue
            if key in lists:
                values[key] = [v for v in data.getlist(key) if v != ""]
            else:
                v = data.get(key)
                if v != "":
                    values[key] = v
        for key in lists:
            values.setdefault(key, [])
    else:
        values = dict(data)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "body"
            errors.append(FieldError(loc, err["msg"]))
        raise Invalid(errors) from None


#: The form field an irreversible action's confirmation (确认) sends, and its value.
CONFIRM_FIELD = N_("confirm")
CONFIRMED = "yes"


def require_confirmation(data: Mapping[str, Any] | MultiDict) -> None:
    """Refuse (422 naming ``confirm``) a form that did not confirm its irreversible action:
    the page's dialog, or its check box without JavaScript, sends ``confirm=yes``."""
    if data.get(CONFIRM_FIELD) != CONFIRMED:
        raise Invalid.one(CONFIRM_FIELD, N_("Confirm the action first."))
