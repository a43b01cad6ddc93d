"""Permissions of the Procurement module (集采)."""
from core.models import OrgKind, Role
from core.permissions import declare, grant

VIEW = declare("procurement:home:view", "Open the Procurement module")

for _role in Role:
    grant(OrgKind.enterprise, _role.value, VIEW)
for _role in Role:
    grant(OrgKind.hospital, _role.value, VIEW)
for _role in Role:
    grant(OrgKind.bureau, _role.value, VIEW)
