"""Permissions of the Procurement module (集采)."""
from core.i18n import N_
from core.models import OrgKind, Role
from core.permissions import FUND_OFFICER, PROFILE_READ, declare, declare_role, grant
from listing import permissions as listing_permissions

VIEW = declare("procurement:home:view", "Open the Procurement module")
BATCH_READ = declare("procurement:batch:read", "See procurement batches and their products")
BATCH_MANAGE = declare("procurement:batch:manage",
                       "Create and run procurement batches and their rule sets")
REPORT_READ = declare("procurement:report:read", "See volume reports")
REPORT_EDIT = declare("procurement:report:edit", "Report the hospital's volumes")
REPORT_OVERVIEW = declare("procurement:report:overview",
                          "See every hospital's volume reports of a batch")
BID_READ = declare("procurement:bid:read", "See bids (prices only after bidding closes)")
BID_EDIT = declare("procurement:bid:edit", "Submit and withdraw the company's bids")
REGION_PICK = declare("procurement:region:pick",
                      "Pick the company's supply regions as a winner")
CHOICE_EDIT = declare("procurement:choice:edit", "Rank the winners the hospital accepts")
AGREEMENT_READ = declare("procurement:agreement:read", "See purchase agreements")
AGREEMENT_SIGN = declare("procurement:agreement:sign",
                         "Confirm purchase agreements for the organisation")

#: The bureau's procurement department (集采经办): creates and runs the batches.
PROCUREMENT_MANAGER = declare_role("procurement_manager", N_("Procurement manager"))

_ALL = [r.value for r in Role]
_WORKERS = [Role.org_admin.value, Role.operator.value]
_BUREAU_READS = (VIEW, BATCH_READ, REPORT_READ, BID_READ, AGREEMENT_READ, REPORT_OVERVIEW)

for _role in _ALL:
    grant(OrgKind.enterprise, _role, VIEW, BATCH_READ, BID_READ, AGREEMENT_READ)
    grant(OrgKind.hospital, _role, VIEW, BATCH_READ, REPORT_READ, AGREEMENT_READ)
    grant(OrgKind.bureau, _role, *_BUREAU_READS)
for _role in _WORKERS:
    grant(OrgKind.enterprise, _role, BID_EDIT, REGION_PICK, AGREEMENT_SIGN)
    grant(OrgKind.hospital, _role, REPORT_EDIT, CHOICE_EDIT, AGREEMENT_SIGN)
# Running batches is the procurement department's job (and the administrator's), not every
# bureau operator's; it reads the catalogue its batch products come from.
grant(OrgKind.bureau, Role.org_admin.value, BATCH_MANAGE)
grant(OrgKind.bureau, PROCUREMENT_MANAGER, *_BUREAU_READS, BATCH_MANAGE)
grant(OrgKind.bureau, PROCUREMENT_MANAGER, listing_permissions.VIEW,
      listing_permissions.CATALOGUE_READ, listing_permissions.LISTING_READ)
# The fund settles against the agreements: it reads batches and agreements, changes none.
grant(OrgKind.bureau, FUND_OFFICER, VIEW, BATCH_READ, AGREEMENT_READ)
grant(OrgKind.bureau, PROCUREMENT_MANAGER, PROFILE_READ)
