"""Procurement strings translated at render time (enum values, actions, rule messages, field
names and error messages); extraction finds them through ``N_``. Regenerate when adding
such strings, then translate them in ``translations/zh_CN``."""
from core.i18n import N_

TERMS: tuple[str, ...] = (
    N_('The demand is below the share of the average usage of the last two years that the rules require; explain why.'),
    N_('explanation'),  # field name
    N_('products'),  # field name
    N_('usage_last_year'),  # field name
    N_('usage_year_before'),  # field name
    N_('demand'),  # field name
    N_('draft'),  # BatchStatus
    N_('reporting'),  # BatchStatus
    N_('bidding'),  # BatchStatus
    N_('evaluating'),  # BatchStatus
    N_('publicizing'),  # BatchStatus
    N_('allocating'),  # BatchStatus
    N_('executing'),  # BatchStatus
    N_('closed'),  # BatchStatus
    N_('cancelled'),  # BatchStatus
    N_('submitted'),  # BidStatus
    N_('withdrawn'),  # BidStatus
    N_('entered'),  # ReportSource
    N_('upload'),  # ReportSource
    N_('action:open_reporting'),  # action button
    N_('vbp_batch.open_reporting'),  # audit action
    N_('action:open_bidding'),  # action button
    N_('vbp_batch.open_bidding'),  # audit action
    N_('action:close_bidding'),  # action button
    N_('vbp_batch.close_bidding'),  # audit action
    N_('action:publicize'),  # action button
    N_('vbp_batch.publicize'),  # audit action
    N_('action:start_allocation'),  # action button
    N_('vbp_batch.start_allocation'),  # audit action
    N_('action:execute'),  # action button
    N_('vbp_batch.execute'),  # audit action
    N_('action:close'),  # action button
    N_('vbp_batch.close'),  # audit action
    N_('action:cancel'),  # action button
    N_('vbp_batch.cancel'),  # audit action
    N_('won_multiplier'),  # selection rule
    N_('won_floor'),  # selection rule
    N_('won_zero_volume'),  # selection rule
    N_('lost_threshold'),  # selection rule
    N_('lost_cap'),  # selection rule
    N_('vbp_batch.create'),  # audit action
    N_('vbp_batch.update'),  # audit action
    N_('vbp_batch.add_product'),  # audit action
    N_('vbp_report.save'),  # audit action
    N_('vbp_bid.submit'),  # audit action
    N_('not allowed: %(permission)s'),  # error (services.py)
    N_('A batch with this code exists.'),  # message (services.py)
    N_('Bidding starts before the reporting deadline or with hospitals still unreported: give the reason.'),  # message (services.py)
    N_('vbp_batch %(id)s cannot be changed when %(status)s'),  # error (services.py)
    N_('the bidding window of vbp_batch %(id)s is fixed once bidding opens'),  # error (services.py)
    N_('products of vbp_batch %(id)s are fixed once reporting opens'),  # error (services.py)
    N_('Give the content value and its unit together.'),  # message (services.py)
    N_('Choose a dosage form of the price-rule table.'),  # message (services.py)
    N_('This batch already has a product with this code.'),  # message (services.py)
    N_('vbp_batch_product %(id)s not found'),  # error (services.py)
    N_('vbp_batch %(id)s is not taking volume reports (%(status)s)'),  # error (services.py)
    N_('the reporting deadline of vbp_batch %(id)s has passed'),  # error (services.py)
    N_('only medical institutions report volumes'),  # error (services.py)
    N_('Enter a whole number of smallest units.'),  # message (services.py)
    N_('The file has no data rows.'),  # message (services.py)
    N_('only companies bid'),  # error (services.py)
    N_('vbp_batch %(id)s is not taking bids'),  # error (services.py)
    N_('Choose an active catalogue product of your company.'),  # message (services.py)
    N_("The unit comparable price is above the batch product's maximum valid price."),  # message (services.py)
    N_('the bids of vbp_batch %(id)s are sealed until bidding closes'),  # error (services.py)
    N_('bidding of vbp_batch %(id)s closes at %(at)s'),  # error (services.py)
    N_('No product of this batch has this code.'),  # message (services.py)
    N_("The product's generic name differs from the batch product's."),  # message (services.py)
    N_('Add the batch products first.'),  # message (services.py)
    N_('Set the reporting deadline.'),  # message (services.py)
    N_('Set the bidding window.'),  # message (services.py)
    N_('This product is already reported on another row.'),  # message (services.py)
    N_('bid_closes_at'),  # field name
    N_('code'),  # field name
    N_('dosage_form'),  # field name
    N_('file'),  # field name
    N_('package_price'),  # field name
    N_('product_code'),  # field name
    N_('product_id'),  # field name
    N_('products'),  # field name
    N_('rep_content_unit'),  # field name
    N_('report_deadline'),  # field name
    N_('Open the Procurement module'),  # permission procurement:home:view
    N_('See procurement batches and their products'),  # permission procurement:batch:read
    N_('Create and run procurement batches and their rule sets'),  # permission procurement:batch:manage
    N_('See volume reports'),  # permission procurement:report:read
    N_("Report the hospital's volumes"),  # permission procurement:report:edit
    N_('See bids (prices only after bidding closes)'),  # permission procurement:bid:read
    N_("Submit and withdraw the company's bids"),  # permission procurement:bid:edit
    # --- the pages (procurement/views*.py, procurement/templates) ---------------------------
    N_('vbp_bid.withdraw'),  # audit action
    N_('vbp_bid %(id)s is already withdrawn'),  # error (services.py)
    N_('Value error, the bidding window must close after it opens'),  # BatchIn validator
    N_('Value error, must be greater than zero'),  # core.money.PositivePrice
    N_('Input should be greater than or equal to 0'),  # pydantic
    N_('Input should be greater than or equal to 1'),  # pydantic
    N_('String should have at most 10 characters'),  # pydantic
    N_('String should have at most 20 characters'),  # pydantic
    N_('String should have at most 120 characters'),  # pydantic
    N_('String should have at most 2000 characters'),  # pydantic
    N_('String should have at most 4000 characters'),  # pydantic
    N_('Input should be a valid date or datetime, input is too short'),  # pydantic
    N_('Input should be a valid date or datetime, month value is outside expected range of '
       '1-12'),  # pydantic
    N_('Input should be a valid date or datetime, day value is outside expected range'),
    N_('Input should be a valid decimal'),  # pydantic
    N_('Fill in the row before saving it.'),  # message (views_reports.py)
    N_('Choose a file.'),  # message (views_reports.py)
    N_('bid_opens_at'),  # field name
    N_('cycle_start'),  # field name
    N_('note'),  # field name
    N_('generic_name'),  # field name
    N_('smallest_unit'),  # field name
    N_('max_ucp'),  # field name
    N_('rep_content_value'),  # field name
    N_('rep_volume_ml'),  # field name
    N_('rep_units'),  # field name
    N_('capacity'),  # field name
    N_("See every hospital's volume reports of a batch"),  # permission procurement:report:overview
    N_("Pick the company's supply regions as a winner"),  # permission procurement:region:pick
    N_('Rank the winners the hospital accepts'),  # permission procurement:choice:edit
    N_('See purchase agreements'),  # permission procurement:agreement:read
    N_('Confirm purchase agreements for the organisation'),  # permission procurement:agreement:sign
    N_('Value error, needs a time zone'),  # BatchIn validator
    N_('select the winners of vbp_batch %(id)s first'),  # services.move_batch
    N_('the publicity of vbp_batch %(id)s runs until %(day)s'),  # services.move_batch
    N_('vbp_batch %(id)s is not at this step of the allocation'),  # services_award
    N_('This winner is ranked twice.'),  # message (api.py)
    N_('vbp_bid.resubmit'),  # audit action (services.BID_FLOW)
    N_('action:disqualify'),  # action of a bid or an allocation run
    N_('action:resubmit'),  # action of a bid or an allocation run
    N_('action:start'),  # action of a bid or an allocation run
    N_('action:solve'),  # action of a bid or an allocation run
    N_('action:find_infeasible'),  # action of a bid or an allocation run
    N_('action:publish'),  # action of a bid or an allocation run
    N_('action:supersede'),  # action of a bid or an allocation run
    N_('vbp_allocation_run.start'),  # audit action (services_allocation.RUN_FLOW)
    N_('vbp_allocation_run.solve'),  # audit action
    N_('vbp_allocation_run.find_infeasible'),  # audit action
    N_('vbp_allocation_run.publish'),  # audit action
    N_('vbp_allocation_run.supersede'),  # audit action
)


def register_labels() -> None:
    """Name procurement's kinds of object on pages (``core.labels``): not-found pages,
    conflict messages and the audit log say 集采批次 3, not ``vbp_batch 3``. Rows without a
    page of their own link to their batch's page."""
    from core.labels import ObjectKind, register
    from procurement import models as m

    def in_batch(key: str, label: str, endpoint: str, model: type) -> ObjectKind:
        return ObjectKind(key, label, endpoint, "batch_id", model=model, via="batch_id")

    register(
        ObjectKind("vbp_batch", N_("procurement batch"), "procurement.batch_detail",
                   "batch_id"),
        in_batch("vbp_batch_product", N_("batch product"), "procurement.batch_detail",
                 m.BatchProduct),
        in_batch("vbp_volume_report", N_("volume report"), "procurement.reports_overview",
                 m.VolumeReport),
        in_batch("vbp_bid", N_("bid"), "procurement.bids", m.Bid),
        in_batch("vbp_selection", N_("winner selection"), "procurement.results", m.Selection),
        in_batch("vbp_winner", N_("winner"), "procurement.regions", m.Winner),
        in_batch("vbp_region_pick", N_("supply region pick"), "procurement.regions",
                 m.RegionPick),
        in_batch("vbp_choice", N_("hospital choice"), "procurement.choices", m.Choice),
        in_batch("vbp_allocation_run", N_("allocation run"), "procurement.allocation",
                 m.AllocationRun),
        ObjectKind("vbp_allocation_line", N_("allocation line")),
        ObjectKind("vbp_agreement", N_("purchase agreement"), "procurement.agreements",
                   "batch_id", model=m.Agreement, via="batch_id", status_prefix="agreement:"),
        ObjectKind("vbp_award", N_("award step of a batch")),
    )
