"""Permissions of the Listing module (挂网)."""
from core.models import OrgKind, Role
from core.permissions import declare, grant

VIEW = declare("listing:home:view", "Open the Listing module")

for _role in Role:
    grant(OrgKind.enterprise, _role.value, VIEW)
for _role in Role:
    grant(OrgKind.hospital, _role.value, VIEW)
for _role in Role:
    grant(OrgKind.bureau, _role.value, VIEW)
