"""Permissions of the Listing module (挂网)."""
from core.models import OrgKind, Role
from core.permissions import declare, grant

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

_ALL = [r.value for r in Role]
_WORKERS = [Role.org_admin.value, Role.operator.value]

for _role in _ALL:
    grant(OrgKind.enterprise, _role, VIEW, CATALOGUE_READ, APP_READ, LISTING_READ)
    grant(OrgKind.hospital, _role, VIEW, CATALOGUE_READ, LISTING_READ)
    grant(OrgKind.bureau, _role, VIEW, CATALOGUE_READ, APP_READ, LISTING_READ)
for _role in _WORKERS:
    grant(OrgKind.enterprise, _role, APP_EDIT, OBJECTION_RAISE)
    grant(OrgKind.hospital, _role, OBJECTION_RAISE)
    grant(OrgKind.bureau, _role, CATALOGUE_IMPORT)
for _role in (Role.org_admin.value, Role.reviewer.value):
    grant(OrgKind.bureau, _role, APP_REVIEW, OBJECTION_RESOLVE, LISTING_MANAGE)
grant(OrgKind.bureau, Role.org_admin.value, RULES_MANAGE)
