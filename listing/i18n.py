"""Listing strings translated at render time (enum values, actions, rule messages, field
names and error messages); extraction finds them through ``N_``. Regenerate when adding
such strings, then translate them in ``translations/zh_CN``."""
from core.i18n import N_

TERMS: tuple[str, ...] = (
    N_('new_listing'),  # ApplicationKind
    N_('price_change'),  # ApplicationKind
    N_('delisting'),  # ApplicationKind
    N_('relisting'),  # ApplicationKind
    N_('draft'),  # ApplicationStatus
    N_('submitted'),  # ApplicationStatus
    N_('under_review'),  # ApplicationStatus
    N_('returned'),  # ApplicationStatus
    N_('publicizing'),  # ApplicationStatus
    N_('listed'),  # ApplicationStatus
    N_('rejected'),  # ApplicationStatus
    N_('withdrawn'),  # ApplicationStatus
    N_('submit'),  # CheckStage
    N_('review'),  # CheckStage
    N_('products'),  # ImportKind
    N_('reference_prices'),  # ImportKind
    N_('succeeded'),  # ImportStatus
    N_('failed'),  # ImportStatus
    N_('regular'),  # ListingCategory
    N_('vbp_winner'),  # ListingCategory
    N_('negotiated'),  # ListingCategory
    N_('vbp_non_supplying'),  # ListingCategory
    N_('reference_preparation'),  # ListingCategory
    N_('consistency_passed'),  # ListingCategory
    N_('not_passed'),  # ListingCategory
    N_('above_national_lowest'),  # ListingReason
    N_('no_transactions'),  # ListingReason
    N_('above_anchor'),  # ListingReason
    N_('credit_rating'),  # ListingReason
    N_('supply_failure'),  # ListingReason
    N_('refused_linkage'),  # ListingReason
    N_('false_price_information'),  # ListingReason
    N_('company_request'),  # ListingReason
    N_('corrected'),  # ListingReason
    N_('other'),  # ListingReason
    N_('suspended'),  # ListingStatus
    N_('delisted'),  # ListingStatus
    N_('open'),  # ObjectionStatus
    N_('upheld'),  # ObjectionStatus
    N_('dismissed'),  # ObjectionStatus
    N_('drug'),  # ProductKind
    N_('consumable'),  # ProductKind
    N_('active'),  # ProductStatus
    N_('proposed'),  # ProductStatus
    N_('retired'),  # ProductStatus
    N_('action:submit'),  # action button
    N_('listing_application.submit'),  # audit action
    N_('action:withdraw'),  # action button
    N_('listing_application.withdraw'),  # audit action
    N_('action:start_review'),  # action button
    N_('listing_application.start_review'),  # audit action
    N_('action:return'),  # action button
    N_('listing_application.return'),  # audit action
    N_('action:approve'),  # action button
    N_('listing_application.approve'),  # audit action
    N_('action:reject'),  # action button
    N_('listing_application.reject'),  # audit action
    N_('action:uphold_objection'),  # action button
    N_('listing_application.uphold_objection'),  # audit action
    N_('action:complete'),  # action button
    N_('listing_application.complete'),  # audit action
    N_('action:uphold'),  # action button
    N_('objection.uphold'),  # audit action
    N_('action:dismiss'),  # action button
    N_('objection.dismiss'),  # audit action
    N_('action:suspend'),  # action button
    N_('listing.suspend'),  # audit action
    N_('action:resume'),  # action button
    N_('listing.resume'),  # audit action
    N_('action:delist'),  # action button
    N_('listing.delist'),  # audit action
    N_('action:relist'),  # action button
    N_('listing.relist'),  # audit action
    N_('action:withdraw_listing'),  # action button
    N_('listing.withdraw_listing'),  # audit action
    N_('stage:submit'),  # rule panel
    N_('stage:review'),  # rule panel
    N_('linkage'),  # rule panel
    N_('diff_ratio'),  # rule panel
    N_('vbp'),  # rule panel
    N_('k_form'),  # rule panel
    N_('k_content'),  # rule panel
    N_('k_volume'),  # rule panel
    N_('k_units'),  # rule panel
    N_('k_material'),  # rule panel
    N_('k_package_form'),  # rule panel
    N_('Price linkage: the price %(price)s must not exceed the lowest price elsewhere, %(lowest_price)s (%(lowest_province)s, %(lowest_date)s).'),  # price rule message
    N_('Price linkage does not apply: no price elsewhere was declared or imported.'),  # price rule message
    N_('Price-difference ratio: the price %(price)s must not exceed %(cap)s, the price %(rep_price)s of the representative product %(rep_label)s times K %(k_product)s.'),  # price rule message
    N_('The price-difference ratio does not apply: no representative product was given.'),  # price rule message
    N_('VBP winner supplying this province: the price %(price)s must not exceed the winning price %(own_winning_price)s.'),  # price rule message
    N_('VBP winner not supplying this province: the price %(price)s must not exceed %(cap)s, %(multiplier)s times the own winning price %(own_winning_price)s.'),  # price rule message
    N_('VBP winner not supplying this province: the price %(price)s must not exceed %(cap)s, the larger of %(multiplier)s times the own winning price %(own_winning_price)s (%(multiplied_cap)s) and the highest winning price %(highest_winning_price)s.'),  # price rule message
    N_('The VBP rule does not apply: the product has no volume-based procurement result.'),  # price rule message
    N_('Unknown action.'),  # message (api.py)
    N_('Choose a file.'),  # message (api.py)
    N_('listing.demo.load'),  # audit action
    N_('A content by mass cannot be compared with a content in international units.'),  # message (price_rules.py)
    N_('Give the fill volume of both specifications, or of neither.'),  # message (price_rules.py)
    N_('holiday.set'),  # audit action
    N_('holiday.delete'),  # audit action
    N_('listing_application.create'),  # audit action
    N_('listing_application.update'),  # audit action
    N_('listing_application.evidence'),  # audit action
    N_('listing_application.assign'),  # audit action
    N_('objection.raise'),  # audit action
    N_('attachment.add'),  # audit action
    N_('no calendar entry for %(day)s'),  # error (services.py)
    N_('not allowed: %(permission)s'),  # error (services.py)
    N_('listing_application %(id)s not found'),  # error (services.py)
    N_('Give the content value and its unit together.'),  # message (services.py)
    N_('This code is already in the catalogue; choose the product instead.'),  # message (services.py)
    N_('Give the winning price of the procurement batch.'),  # message (services.py)
    N_('application %(id)s for this product is already in progress'),  # error (services.py)
    N_('Relisting is barred for two years after delisting for refusing price linkage or false price information.'),  # message (services.py)
    N_('only companies apply for listing'),  # error (services.py)
    N_('The kind of an application cannot change.'),  # message (services.py)
    N_('listing_application %(id)s cannot be changed when %(status)s'),  # error (services.py)
    N_('listing_application %(id)s is at version %(version)s, not %(expected)s'),  # error (services.py)
    N_('listing_application %(id)s cannot be assigned when %(status)s'),  # error (services.py)
    N_('Choose a reviewer of the bureau.'),  # message (services.py)
    N_('Give the reasons; the applicant sees them.'),  # message (services.py)
    N_('listing.create'),  # audit action
    N_('Give the reason for the objection.'),  # message (services.py)
    N_('Attach the evidence for the objection (PDF, JPEG or PNG).'),  # message (services.py)
    N_('an applicant cannot object to its own application'),  # error (services.py)
    N_('the objection window of %(number)s has closed'),  # error (services.py)
    N_('Give the resolution; the objector sees it.'),  # message (services.py)
    N_('listing %(id)s is at version %(version)s, not %(expected)s'),  # error (services.py)
    N_('Give the proposed listing price.'),  # message (services.py)
    N_('Choose the listing this application is about.'),  # message (services.py)
    N_('The representative product must be another product of the same generic name from the same applicant.'),  # message (services.py)
    N_('the product is already listed (listing %(id)s)'),  # error (services.py)
    N_('The date lies in the future.'),  # message (services.py)
    N_('Declare at least one price from another province with its document (price linkage).'),  # message (services.py)
    N_('the price %(price)s is above the cap %(cap)s (%(rule)s rule)'),  # error (services.py)
    N_('listing.price_change'),  # audit action
    N_('Choose a product from the catalogue or propose a new one.'),  # message (services.py)
    N_('No such listing of your company.'),  # message (services.py)
    N_('Attach the document to this application first.'),  # message (services.py)
    N_('The price is above the cap set by the price rules; see the price check.'),  # message (services.py)
    N_('No such product.'),  # message (services.py)
    N_('Your company already lists this product: apply for a price change or a relisting of that listing instead.'),  # message (services.py)
    N_('An application of your company to list this product is already in progress.'),  # message (services.py)
    N_('Give the new price.'),  # message (services.py)
    N_('Only a listed product can change its price.'),  # message (services.py)
    N_("Only the product's marketing-authorisation holder or manufacturer may apply to list it."),  # message (services.py)
    N_('The new price equals the listed price.'),  # message (services.py)
    N_('Give the reason for delisting.'),  # message (services.py)
    N_('The listing is already delisted.'),  # message (services.py)
    N_('A price increase needs a justification; it is reviewed strictly.'),  # message (services.py)
    N_('Only a suspended listing can be relisted.'),  # message (services.py)
    N_('only bureau staff may import the catalogue and reference prices'),  # error (services_catalogue.py)
    N_('only bureau staff see import batches'),  # error (services_catalogue.py)
    N_('there is no bureau organisation to own the import'),  # error (services_catalogue.py)
    N_('Enter 是 or 否 (Y/N, 1/0, true/false).'),  # message (services_catalogue.py)
    N_('Enter a date such as 2026-01-15.'),  # message (services_catalogue.py)
    N_('The date must not be in the future.'),  # message (services_catalogue.py)
    N_('Enter the insurance code.'),  # message (services_catalogue.py)
    N_('Enter the unit of the content.'),  # message (services_catalogue.py)
    N_('This field is required.'),  # message (services_catalogue.py)
    N_('The file has no data rows.'),  # message (services_catalogue.py)
    N_('not allowed to browse the catalogue'),  # error (services_catalogue.py)
    N_('Enter 药品 or 耗材 (drug or consumable).'),  # message (services_catalogue.py)
    N_('The code must start with X or Z (drug) or C (consumable).'),  # message (services_catalogue.py)
    N_('The content unit must be one of mg, g, μg, IU, 万IU.'),  # message (services_catalogue.py)
    N_('Enter the content for its unit.'),  # message (services_catalogue.py)
    N_('The conversion ratio must be a whole number greater than 0.'),  # message (services_catalogue.py)
    N_('some of these products were changed at the same time; import the file again'),  # error (services_catalogue.py)
    N_('Enter the source, e.g. the title of the price notice.'),  # message (services_catalogue.py)
    N_('The price must be greater than 0.'),  # message (services_catalogue.py)
    N_('Choose a reason code.'),  # message (views.py)
    N_('rule_set.publish'),  # audit action
    N_('rule set %(name)s has no version %(version)s'),  # error (rules.py)
    N_('unknown rule set %(name)s'),  # error (rules.py)
    N_('action'),  # field name
    N_('assigned_to'),  # field name
    N_('attachment_id'),  # field name
    N_('code'),  # field name
    N_('content_unit'),  # field name
    N_('content_value'),  # field name
    N_('evidence'),  # field name
    N_('evidence_date'),  # field name
    N_('file'),  # field name
    N_('files'),  # field name
    N_('justification'),  # field name
    N_('kind'),  # field name
    N_('listing_id'),  # field name
    N_('new_product.code'),  # field name
    N_('new_product.content_unit'),  # field name
    N_('price'),  # field name
    N_('price_date'),  # field name
    N_('product_code'),  # field name
    N_('product_id'),  # field name
    N_('proposed_price'),  # field name
    N_('province'),  # field name
    N_('reason'),  # field name
    N_('reason_code'),  # field name
    N_('rep_volume_ml'),  # field name
    N_('representative_product_id'),  # field name
    N_('resolution'),  # field name
    N_('source'),  # field name
    N_('units_per_package'),  # field name
    N_('vbp_own_price'),  # field name
    N_('volume_ml'),  # field name
    N_('catalogue.import'),  # audit action
    N_('Open the Listing module'),  # permission listing:home:view
    N_('Browse the product catalogue'),  # permission listing:catalogue:read
    N_('Import products and reference prices from Excel or CSV'),  # permission listing:catalogue:import
    N_('See listing applications'),  # permission listing:application:read
    N_('Prepare, submit and withdraw listing applications and upload evidence'),  # permission listing:application:edit
    N_('Review listing applications: assign, return, approve, reject'),  # permission listing:application:review
    N_('Raise an objection during publicity'),  # permission listing:objection:raise
    N_('Resolve objections'),  # permission listing:objection:resolve
    N_('See listings and their history'),  # permission listing:listing:read
    N_('Suspend, resume and delist listings'),  # permission listing:listing:manage
    N_('Edit the price rules and the holiday calendar'),  # permission listing:rules:manage
    N_('Review queue'),  # nav item
    N_('Listing search'),  # nav item
    N_('Listing publicity'),  # public nav item
    N_('Only PDF, JPEG and PNG files are accepted.'),  # upload error (storage.py)
    N_('The file is larger than 10 MB.'),  # upload error (storage.py)
    N_('Product catalogue'),  # nav item
    N_('product.activate'),  # audit action (services.PRODUCT_FLOW)
    N_('action:retire'),  # action of a catalogue product
    N_('action:propose_again'),  # action of a catalogue product
    N_('product.retire'),  # audit action
    N_('product.propose_again'),  # audit action
)


def register_labels() -> None:
    """Name listing's kinds of object on pages (``core.labels``): not-found pages, conflict
    messages and the audit log say 挂网申请 12, not ``listing_application 12``."""
    from core.labels import ObjectKind, register

    register(
        ObjectKind("listing_application", N_("listing application"),
                   "listing.application_detail", "app_id"),
        ObjectKind("listing", N_("listing"), "listing.listing_detail", "listing_id"),
        ObjectKind("objection", N_("objection"), "listing.objection_detail", "objection_id"),
        ObjectKind("product", N_("product")),
        ObjectKind("import_batch", N_("catalogue import"), "listing.import_detail",
                   "batch_id"),
        ObjectKind("reference_price", N_("reference price")),
        ObjectKind("holiday", N_("holiday calendar"), "listing.holidays"),
        ObjectKind("price_evidence", N_("price evidence")),
        ObjectKind("price_check", N_("price check")),
        ObjectKind("attachment", N_("attachment")),
        ObjectKind("listing_search_name", N_("search name")),
    )
