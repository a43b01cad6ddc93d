"""Authentication: password hashing, login with lockout, session users and API tokens.

Passwords are hashed with Argon2id (argon2-cffi). Failed logins are stored so lockouts hold
across every web process: ``login_max_failures`` failures for one account, or
``login_ip_max_failures`` from one address, within ``login_window_minutes`` lock further
attempts until the window has passed.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, select

from core import audit
from core.errors import TooManyRequests, Unauthorized
from core.events import user_logged_in
from core.models import ApiToken, LoginAttempt, Organisation, OrgStatus, User, UserRole
from core.permissions import Actor, permissions_for
from core.types import utcnow

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters

TOKEN_PREFIX = "yc_"
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A hash of a random password: verifying against it when the username is unknown keeps the
# response time of "no such user" equal to "wrong password" (no username enumeration).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountLocked(TooManyRequests):
    type_slug = "account-locked"
    title = "Too many failed logins"

    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}", locked_until=until.isoformat())
        self.until = until


class LoginFailed(Unauthorized):
    type_slug = "login-failed"
    title = "Wrong username or password"


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    ip_max_failures: int = 30
    window: timedelta = timedelta(minutes=15)


def _locked_until(session: Session, username: str, ip: str, policy: LoginPolicy,
                  now: datetime) -> datetime | None:
    since = now - policy.window
    checks = ((LoginAttempt.username == username, policy.max_failures),
              (LoginAttempt.ip == ip, policy.ip_max_failures))
    for cond, limit in checks:
        row = session.execute(
            sa.select(sa.func.count(), sa.func.max(LoginAttempt.at))
            .where(cond, LoginAttempt.at > since)
        ).one()
        count, last = row
        # MAX keeps the column type, so ``last`` comes back as an aware UTC datetime.
        if count >= limit and last is not None:
            return last + policy.window
    return None


def authenticate(session: Session, username: str, password: str, ip: str,
                 policy: LoginPolicy) -> User:
    """Check a login; record failures; raise ``AccountLocked`` or ``LoginFailed``.

    The failure row is written in the caller's transaction, which must be committed even
    when this raises (``core.views`` does so), or a brute force would leave no trace.
    """
    username = username.strip()
    now = utcnow()
    until = _locked_until(session, username, ip, policy, now)
    if until is not None:
        raise AccountLocked(until)
    user = session.exec(select(User).where(User.username == username)).first()
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    org = session.get(Organisation, user.org_id) if user else None
    if not ok or user is None or user.disabled or org is None or org.status != OrgStatus.active:
        session.add(LoginAttempt(username=username[:64], ip=ip[:64], at=now))
        session.flush()
        audit.record(session, Actor(org_id=None, org_kind=None, name=username[:100], ip=ip),
                     "auth.login_failed", "user", user.id if user else None,
                     org_id=user.org_id if user else None)
        until = _locked_until(session, username, ip, policy, now)
        if until is not None:
            raise AccountLocked(until)
        raise LoginFailed()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    # A successful login clears the account's failure history.
    session.execute(sa.delete(LoginAttempt).where(LoginAttempt.username == username))
    user.last_login_at = now
    session.add(user)
    session.flush()
    actor = actor_for_user(session, user, ip=ip)
    audit.record(session, actor, "auth.login", "user", user.id)
    user_logged_in.send("core", user_id=user.id, session=session)
    return user


def user_roles(session: Session, user_id: int) -> frozenset[str]:
    return frozenset(session.exec(select(UserRole.role).where(UserRole.user_id == user_id)).all())


def actor_for_user(session: Session, user: User, ip: str | None = None) -> Actor:
    org = session.get(Organisation, user.org_id)
    assert org is not None
    roles = user_roles(session, user.id)
    return Actor(org_id=org.id, org_kind=org.kind, name=user.display_name, user_id=user.id,
                 roles=roles, permissions=permissions_for(org.kind, roles), ip=ip)


# --- API tokens ------------------------------------------------------------------------------

def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def actor_for_token(session: Session, secret: str, ip: str | None = None) -> Actor | None:
    """The actor an ``Authorization: Bearer`` secret stands for, or None if it is not valid."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == token_digest(secret))
                         ).first()
    now = utcnow()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    org = session.get(Organisation, token.org_id)
    if org is None or org.status != OrgStatus.active:
        return None
    creator = session.get(User, token.created_by)
    if creator is None or creator.disabled or creator.org_id != org.id:
        return None
    # A token never holds more than its scopes, nor more than its creator holds today.
    creator_perms = permissions_for(org.kind, user_roles(session, creator.id))
    perms = frozenset(token.scopes) & creator_perms
    # Touch last_used_at at most once a minute to keep reads cheap.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        session.execute(sa.update(ApiToken).where(ApiToken.id == token.id)
                        .values(last_used_at=now))
    return Actor(org_id=org.id, org_kind=org.kind, name=f"token:{token.name}"[:100],
                 token_id=token.id, roles=frozenset(), permissions=perms, ip=ip)
