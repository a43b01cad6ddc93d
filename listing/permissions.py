"""Permissions of the Listing module (挂网)."""
from core.i18n import N_
from core.models import OrgKind, Role
from core.permissions import FUND_OFFICER, PROFILE_READ, declare, declare_role, grant

VIEW = declare("listing:home:view", "Open the Listing module")
CATALOGUE_READ = declare("listing:catalogue:read", "Browse the product catalogue")
CATALOGUE_IMPORT = declare("listing:catalogue:import",
                           "Import products and reference prices from Excel or CSV")
APP_READ = declare("listing:application:read", "See listing applications")
APP_EDIT = declare("listing:application:edit",
                   "Prepare, submit and withdraw listing applications and upload evidence")
APP_REVIEW = declare("listing:application:review",
                     "Review listing applications: assign, return, approve, reject")
OBJECTION_RAISE = declare("listing:objection:raise", "Raise an objection during publicity")
OBJECTION_RESOLVE = declare("listing:objection:resolve", "Resolve objections")
LISTING_READ = declare("listing:listing:read", "See listings and their history")
LISTING_MANAGE = declare("listing:listing:manage", "Suspend, resume and delist listings")
RULES_MANAGE = declare("listing:rules:manage",
                       "Edit the price rules and the holiday calendar")

#: The bureau's catalogue department (目录管理员): keeps the product catalogue and the
#: reference prices of other provinces.
CATALOGUE_MANAGER = declare_role("catalogue_manager", N_("Catalogue manager"))

_ALL = [r.value for r in Role]

for _role in _ALL:
    grant(OrgKind.enterprise, _role, VIEW, CATALOGUE_READ, APP_READ, LISTING_READ)
    grant(OrgKind.hospital, _role, VIEW, CATALOGUE_READ, LISTING_READ)
    grant(OrgKind.bureau, _role, VIEW, CATALOGUE_READ, APP_READ, LISTING_READ)
for _role in (Role.org_admin.value, Role.operator.value):
    grant(OrgKind.enterprise, _role, APP_EDIT, OBJECTION_RAISE)
    grant(OrgKind.hospital, _role, OBJECTION_RAISE)
# The bureau's own work, each part to the job that does it (a bureau operator or viewer reads).
grant(OrgKind.bureau, Role.org_admin.value, CATALOGUE_IMPORT, APP_REVIEW, OBJECTION_RESOLVE,
      LISTING_MANAGE, RULES_MANAGE)
grant(OrgKind.bureau, Role.reviewer.value, APP_REVIEW, OBJECTION_RESOLVE, LISTING_MANAGE)
grant(OrgKind.bureau, CATALOGUE_MANAGER, VIEW, CATALOGUE_READ, LISTING_READ, CATALOGUE_IMPORT)
# The fund pays for what was bought at listed prices: it reads listings, changes none.
grant(OrgKind.bureau, FUND_OFFICER, VIEW, CATALOGUE_READ, LISTING_READ)
grant(OrgKind.bureau, CATALOGUE_MANAGER, PROFILE_READ)
