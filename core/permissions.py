"""Named permissions, the grants of each role per organisation kind, and the ``Actor``.

Every view and API route declares one permission (``core.web.requires``); a test walks
``app.url_map`` and fails on any route without one. Business modules declare their own
permissions and grant them to roles with ``grant`` when their package is imported.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import Forbidden
from core.i18n import N_
from core.models import OrgKind, Role

# Pseudo-permissions for routes open to everyone / to any logged-in user.
PUBLIC = "public"
AUTHENTICATED = "authenticated"

_DECLARED: dict[str, str] = {PUBLIC: "Anyone, without logging in",
                             AUTHENTICATED: "Any logged-in user"}
_GRANTS: dict[tuple[OrgKind, str], set[str]] = {}
_ROLE_LABELS: dict[str, str] = {}


def declare(name: str, description: str) -> str:
    """Register a permission name (``module:object:action``) and return it as the constant."""
    if name.count(":") != 2:
        raise ValueError(f"permission {name!r} must read module:object:action")
    _DECLARED[name] = description
    return name


def declare_role(role: str, label: str) -> str:
    """Register a role name (modules add roles such as ``fund_officer``)."""
    _ROLE_LABELS[role] = label
    return role


def grant(kind: OrgKind, role: str, *permissions: str) -> None:
    for perm in permissions:
        if perm not in _DECLARED:
            raise ValueError(f"undeclared permission {perm!r}")
    _GRANTS.setdefault((kind, role), set()).update(permissions)


def roles_granted(kind: OrgKind) -> list[str]:
    """Roles holding any permission in an organisation of this kind, base roles first."""
    return [r for r in roles_for_kind(kind) if _GRANTS.get((kind, r))]


def permissions_table() -> str:
    """The role × permission table, as Markdown: one table per organisation kind, a row per
    permission that some role of that kind holds, a column per role. The README carries it
    between ``<!-- permissions-table -->`` markers and a test fails when they differ, so the
    README always says what the code grants."""
    out: list[str] = []
    for kind in OrgKind:
        roles = roles_granted(kind)
        held = {p for r in roles for p in _GRANTS.get((kind, r), set())}
        if not roles:
            continue
        out.append(f"**{kind.value}**\n")
        out.append("| permission | " + " | ".join(f"`{r}`" for r in roles) + " |")
        out.append("|---|" + ":-:|" * len(roles))
        for perm, description in _DECLARED.items():
            if perm not in held:
                continue
            marks = ["✓" if perm in _GRANTS.get((kind, r), set()) else "" for r in roles]
            out.append(f"| `{perm}` {description} | " + " | ".join(marks) + " |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def is_declared(name: str) -> bool:
    return name in _DECLARED


def declared_permissions() -> dict[str, str]:
    return dict(_DECLARED)


def role_labels() -> dict[str, str]:
    return dict(_ROLE_LABELS)


def roles_for_kind(kind: OrgKind) -> list[str]:
    """Roles that mean something in an organisation of this kind (the base four first)."""
    base = [r.value for r in Role]
    extra = sorted({role for (k, role) in _GRANTS if k == kind and role not in base})
    return base + extra


def permissions_for(kind: OrgKind, roles: frozenset[str] | set[str]) -> frozenset[str]:
    perms: set[str] = set()
    for role in roles:
        perms |= _GRANTS.get((kind, role), set())
    return frozenset(perms)


def grantable_scopes(kind: OrgKind, roles: frozenset[str] | set[str]) -> list[str]:
    """Scopes an API token may carry: what its creator's roles hold, minus people-only ones."""
    return sorted(p for p in permissions_for(kind, roles) if p not in PEOPLE_ONLY)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user, an API token, or the system (jobs, CLI).

    Services take an ``Actor`` explicitly and never read ``flask.g``, so the same service
    runs from a view, an API call, a job or the CLI.
    """

    org_id: int | None
    org_kind: OrgKind | None
    name: str
    user_id: int | None = None
    token_id: int | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    permissions: frozenset[str] = field(default_factory=frozenset)
    ip: str | None = None
    system: bool = False

    @classmethod
    def system_actor(cls, name: str = "system") -> Actor:
        return cls(org_id=None, org_kind=None, name=name, system=True)

    def can(self, permission: str) -> bool:
        if permission == PUBLIC:
            return True
        if permission == AUTHENTICATED:
            return self.system or self.org_id is not None
        return self.system or permission in self.permissions

    @property
    def is_bureau(self) -> bool:
        return self.system or self.org_kind == OrgKind.bureau


# --- core permissions ------------------------------------------------------------------------

ORG_READ = declare("core:organisation:read", "View organisations")
ORG_MANAGE = declare("core:organisation:manage", "Create, edit, suspend organisations")
USER_READ = declare("core:user:read", "View users")
USER_MANAGE = declare("core:user:manage", "Create users, set roles, disable, reset passwords")
TOKEN_MANAGE = declare("core:token:manage", "Create and revoke the organisation's API tokens")
JOB_READ = declare("core:job:read", "View background jobs")
JOB_MANAGE = declare("core:job:manage", "Requeue background jobs")
AUDIT_READ = declare("core:audit:read", "Read the audit log")
PROFILE_READ = declare("core:profile:read", "Read one's own organisation profile")

# Managing people and tokens is never delegated to a machine token.
PEOPLE_ONLY = frozenset({USER_MANAGE, TOKEN_MANAGE, ORG_MANAGE, JOB_MANAGE})

declare_role(Role.org_admin.value, "Organisation admin")
declare_role(Role.operator.value, "Operator")
declare_role(Role.reviewer.value, "Reviewer")
declare_role(Role.viewer.value, "Viewer")

# Bureau job roles: each bureau department gets the permissions of its job and no other, so
# a fund officer cannot open a procurement batch or import the catalogue. The business modules
# declare the roles of their own departments (listing: catalogue_manager, procurement:
# procurement_manager); the fund officer (基金结算经办) is declared here because listing and
# procurement, below direct pay in the module order, grant it what it reads of theirs.
FUND_OFFICER = declare_role("fund_officer", N_("Fund officer"))

for _kind in OrgKind:
    grant(_kind, Role.org_admin.value, USER_READ, USER_MANAGE, TOKEN_MANAGE, PROFILE_READ)
    for _role in (Role.operator, Role.reviewer, Role.viewer):
        grant(_kind, _role.value, PROFILE_READ)

grant(OrgKind.bureau, Role.org_admin.value, ORG_READ, ORG_MANAGE, JOB_READ, JOB_MANAGE,
      AUDIT_READ)
grant(OrgKind.bureau, Role.reviewer.value, ORG_READ, AUDIT_READ)
grant(OrgKind.bureau, Role.operator.value, ORG_READ)
grant(OrgKind.bureau, Role.viewer.value, ORG_READ)
grant(OrgKind.bureau, FUND_OFFICER, PROFILE_READ, ORG_READ)


def require(actor: Actor, permission: str) -> None:
    """Services check the caller's permission themselves (views are not the only callers)."""
    if not actor.can(permission):
        raise Forbidden("not allowed: %(permission)s", params={"permission": permission})
