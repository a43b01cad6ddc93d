"""Permissions of the Order financing module (订单贷)."""
from core.models import OrgKind, Role
from core.permissions import declare, grant

VIEW = declare("supply_finance:home:view", "Open the Order financing module")

for _role in Role:
    grant(OrgKind.enterprise, _role.value, VIEW)
for _role in Role:
    grant(OrgKind.bank, _role.value, VIEW)
for _role in Role:
    grant(OrgKind.bureau, _role.value, VIEW)
