"""Permissions of the Direct settlement module (医保直付)."""
from core.models import OrgKind, Role
from core.permissions import FUND_OFFICER, declare, grant

VIEW = declare("direct_pay:home:view", "Open the Direct settlement module")

for _role in Role:
    grant(OrgKind.enterprise, _role.value, VIEW)
for _role in Role:
    grant(OrgKind.hospital, _role.value, VIEW)
for _role in Role:
    grant(OrgKind.bureau, _role.value, VIEW)
grant(OrgKind.bureau, FUND_OFFICER, VIEW)
