"""Bid pages (投标申报): a company bids on the products of a batch with its own catalogue
products; everyone else sees the bids sealed (密封) until the bidding window closes, after
which the bureau sees the opened bids with their unit comparable prices."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _

from core.db import get_session
from core.forms import parse
from core.i18n import N_
from core.models import OrgKind
from core.web import acting, attempt, requires, xlsx_download
from procurement import services, services_pages
from procurement.blueprint import batch_page, bp
from procurement.permissions import BID_EDIT, BID_READ


def _bids_page(batch_id: int, status: int = 200, *, errors: dict[int, list] | None = None,
               posted: int | None = None) -> Any:
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    products = services.batch_products(session, actor, batch_id)
    sealed = services.bids_sealed(batch)
    bidder = actor.org_kind == OrgKind.enterprise
    views = services.list_bids(session, actor, batch_id)
    by_product: dict[int, list[Any]] = {}
    if not bidder and not sealed and actor.is_bureau:
        # Opened: the submitted bids with their prices, per product.
        for p in products:
            by_product[p.id] = services.opened_bids(session, actor, p.id)
    else:
        for v in views:
            by_product.setdefault(v.batch_product_id, []).append(v)
    bids = [b for rows in by_product.values() for b in rows]
    context: dict[str, Any] = {
        "products": products, "by_product": by_product, "sealed": sealed, "bidder": bidder,
        "bidding_open": services.bidding_open(batch),
        "catalogue": services_pages.products_by_id(session, actor, [b.product_id for b in bids]),
        "org_names": services_pages.org_names(session, actor, [b.org_id for b in bids]),
        "errors": errors or {}, "posted": posted, "form": request.form,
    }
    if bidder:
        context["choices"] = services_pages.biddable_products(
            session, actor, [p.generic_name for p in products])
        context["own"] = {v.batch_product_id: v for v in views if v.org_id == actor.org_id}
        context["can_bid"] = actor.can(BID_EDIT) and context["bidding_open"]
    return batch_page("procurement/bids.html", batch, "bids", status, **context)


@bp.route("/batches/<int:batch_id>/bids")
@requires(BID_READ)
def bids(batch_id: int):
    return _bids_page(batch_id)


@bp.route("/batches/<int:batch_id>/products/<int:bp_id>/bid", methods=["POST"])
@requires(BID_EDIT)
def bid_submit(batch_id: int, bp_id: int):
    """Submit (or replace) the company's sealed bid on one batch product."""
    done = attempt(lambda: services.submit_bid(get_session(), acting(), bp_id,
                                               parse(services.BidIn, request.form)))
    if not done.ok:
        return _bids_page(batch_id, done.status, errors={bp_id: done.errors}, posted=bp_id)
    flash(_("Bid saved. It stays sealed until bidding closes."), "success")
    return redirect(url_for("procurement.bids", batch_id=batch_id) + f"#p{bp_id}")


@bp.route("/batches/<int:batch_id>/bids/<int:bid_id>/withdraw", methods=["POST"])
@requires(BID_EDIT)
def bid_withdraw(batch_id: int, bid_id: int):
    """Withdraw the company's own bid while bidding is open; it may bid again."""
    done = attempt(lambda: services.withdraw_bid(get_session(), acting(), bid_id))
    if not done.ok:
        return _bids_page(batch_id, done.status)
    flash(_("Bid withdrawn."), "success")
    return redirect(url_for("procurement.bids", batch_id=batch_id))


@bp.route("/batches/<int:batch_id>/bids/export.xlsx")
@requires(BID_READ)
def bids_xlsx(batch_id: int):
    """The bids as the caller may see them (sealed: no price, no capacity) as a workbook."""
    actor = acting()
    session = get_session()
    batch = services.get_batch(session, actor, batch_id)
    views = services.list_bids(session, actor, batch_id)
    products = {p.id: p for p in services.batch_products(session, actor, batch_id)}
    catalogue = services_pages.products_by_id(session, actor, [b.product_id for b in views])
    names = services_pages.org_names(session, actor, [b.org_id for b in views])

    def offered(product_id: int) -> str:
        p = catalogue.get(product_id)
        return f"{p.code} {p.spec}" if p else ""

    return xlsx_download(f"{batch.code}-bids.xlsx", [
        N_("Product code"), N_("Generic name"), N_("Company"), N_("Product offered"),
        N_("Status"), N_("Package price"), N_("Unit comparable price"), N_("Capacity"),
        N_("Submitted")], (
        [products[b.batch_product_id].code, products[b.batch_product_id].generic_name,
         names.get(b.org_id, ""), offered(b.product_id), b.status, b.package_price, b.ucp,
         b.capacity, b.submitted_at] for b in views), N_("Bids"))
