"""What the app factory sets up and the web layer uses: the CSRF protection and Flask-Login's
user. Apart from ``core.app`` so that ``core.web`` and the views import them without importing
the factory (which imports them)."""
from __future__ import annotations

from typing import Any

from flask_login import UserMixin
from flask_wtf.csrf import CSRFProtect

#: Unconfigured until ``create_app`` calls ``csrf.init_app``.
csrf = CSRFProtect()

#: The interface languages (the default first).
LANGUAGES = {"zh_CN": "中文", "en": "English"}


class LoginUser(UserMixin):
    """Flask-Login's view of a user: the id carries the session epoch, so a password change
    or a disable logs the user out of every other session."""

    def __init__(self, user: Any) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_epoch}"
