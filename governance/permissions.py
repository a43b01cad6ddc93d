"""Permissions of the Price governance module (价格治理)."""
from core.models import OrgKind, Role
from core.permissions import declare, grant

VIEW = declare("governance:home:view", "Open the Price governance module")

for _role in Role:
    grant(OrgKind.bureau, _role.value, VIEW)
