"""Messages translated at render time rather than written as a literal ``_()`` call.

Templates translate values such as ``_(org.kind.value)``, ``_(item.label)``, ``_(e.message)``
or ``_(error.title)``; the extractor cannot see those strings. ``N_`` marks each of them here
so ``pybabel extract -k N_`` puts it in the catalog (``make translations-extract``).

When you add an enum value, a role, a permission, a navigation entry, a domain error title or
a fixed error message that reaches a page, add its English text to ``TERMS`` and translate it
in ``translations/zh_CN``; ``tests/core/test_i18n.py`` fails on any untranslated msgid.
Only fixed strings belong here: a message built with an f-string cannot be looked up.
"""
from __future__ import annotations


class Term(str):
    """A parameter of a message that names something internal (an object kind, a status, an
    action): its ``str`` is the internal name (logs, ``DomainError.detail``), and the rendered
    message shows the translation of ``msgid``, its label."""

    msgid: str

    def __new__(cls, value: str, msgid: str | None = None) -> Term:
        term = super().__new__(cls, value)
        term.msgid = value if msgid is None else msgid
        return term


class Message(str):
    """A message filled in from a template (a field error naming a row or a column): its
    ``str`` is the English text (the API's ``message``), and a page shows the translated
    ``template`` with ``params``. Mark the template with ``N_`` so extraction finds it."""

    template: str
    params: dict

    def __new__(cls, template: str, **params: object) -> Message:
        message = super().__new__(cls, template % params if params else template)
        message.template, message.params = template, params
        return message


def translate(message: str) -> str:
    """A fixed message or a ``Message`` in the request's language (never %-formats a fixed
    one, so a literal "%" is safe)."""
    if isinstance(message, Message):
        return render(message.template, message.params)
    return render(message)


def render(template: str, params: dict | None = None) -> str:
    """``template`` with ``params`` in the request's language, each ``Term`` translated too;
    outside a request, the English text with the internal names."""
    from flask import has_request_context
    from flask_babel import gettext

    if not has_request_context():
        return template % params if params else template
    if not params:
        return gettext(template)
    return gettext(template, **{k: gettext(v.msgid) if isinstance(v, Term) else v
                                for k, v in params.items()})


def N_(s: str) -> str:  # noqa: N802  (the conventional name of the no-op gettext marker)
    """Mark ``s`` for extraction without translating it (it is translated when rendered)."""
    return s


TERMS: tuple[str, ...] = (
    # --- OrgKind values (core.models) --------------------------------------------------------
    N_("enterprise"),
    N_("hospital"),
    N_("bank"),
    N_("bureau"),
    # --- OrgStatus values, user and token states (badges, ``current_status``) --------------
    N_("active"),
    N_("suspended"),
    N_("disabled"),
    N_("enabled"),
    N_("revoked"),
    # --- JobStatus values --------------------------------------------------------------------
    N_("queued"),
    N_("running"),
    N_("retrying"),
    N_("succeeded"),
    N_("dead"),
    # --- role labels (core.permissions.declare_role) ----------------------------------------
    N_("Organisation admin"),
    N_("Operator"),
    N_("Reviewer"),
    N_("Viewer"),
    # --- permission descriptions (core.permissions and each module's permissions.py) --------
    N_("Anyone, without logging in"),
    N_("Any logged-in user"),
    N_("View organisations"),
    N_("Create, edit, suspend organisations"),
    N_("View users"),
    N_("Create users, set roles, disable, reset passwords"),
    N_("Create and revoke the organisation's API tokens"),
    N_("View background jobs"),
    N_("Requeue background jobs"),
    N_("Read the audit log"),
    N_("Read one's own organisation profile"),
    N_("Open the Listing module"),
    N_("Open the Procurement module"),
    N_("Open the Direct settlement module"),
    N_("Open the Order financing module"),
    N_("Open the Price governance module"),
    # --- navigation labels (NavItem in core/views.py and the modules' views.py) -------------
    N_("Organisations"),
    N_("Users"),
    N_("API tokens"),
    N_("Jobs"),
    N_("Audit log"),
    N_("Listing"),
    N_("Procurement"),
    N_("Direct settlement"),
    N_("Order financing"),
    N_("Price governance"),
    # --- DomainError titles (core.errors, core.auth, core.states, core.web) -----------------
    N_("Bad request"),
    N_("Not found"),
    N_("Authentication required"),
    N_("Forbidden"),
    N_("Conflict"),
    N_("Too many requests"),
    N_("Precondition required"),
    N_("Invalid input"),
    N_("Too many failed logins"),
    N_("Wrong username or password"),
    N_("Illegal transition"),
    N_("The record was changed by someone else"),
    N_("Internal error"),
    # Werkzeug HTTP error names and descriptions, shown by core.web for abort() and 4xx/5xx.
    N_("Bad Request"),
    N_("Unauthorized"),
    N_("Method Not Allowed"),
    N_("Request Entity Too Large"),
    N_("The browser (or proxy) sent a request that this server could not understand."),
    N_("You don't have the permission to access the requested resource. It is either "
       "read-protected or not readable by the server."),
    N_("The method is not allowed for the requested URL."),
    N_("The data value transmitted exceeds the capacity limit."),
    # --- fixed details and messages of core.services ----------------------------------------
    N_("must match the region in the institution code"),
    N_("another organisation already has this code"),
    N_("only the bureau admin creates organisations"),
    N_("only the bureau admin edits organisations"),
    N_("the organisation was changed by someone else; reload and retry"),
    N_("the kind of an organisation cannot change"),
    N_("an organisation cannot suspend itself"),
    N_("not allowed to manage users"),
    N_("an initial password is required"),
    N_("this username is taken"),
    N_("the user was changed by someone else; reload and retry"),
    N_("you cannot remove your own admin role"),
    N_("you cannot disable yourself"),
    N_("the user is already disabled"),
    N_("the user is already enabled"),
    N_("only people have passwords"),
    N_("the current password is wrong"),
    N_("the new password must differ from the current one"),
    N_("only an organisation admin creates API tokens"),
    N_("must be in the future"),
    N_("only an organisation admin revokes API tokens"),
    N_("the token is already revoked"),
    N_("only an organisation admin sees API tokens"),
    # check_password_strength joins fixed parts (MIN_PASSWORD_LENGTH is 10): its three results.
    N_("password needs at least 10 characters"),
    N_("password needs three of: lower-case, upper-case, digit, symbol"),
    N_("password needs at least 10 characters and three of: lower-case, upper-case, digit, "
       "symbol"),
    # --- core.jobs ---------------------------------------------------------------------------
    N_("only a dead job can be requeued"),
    # --- core.web ----------------------------------------------------------------------------
    N_("invalid, expired or revoked API token"),
    N_("log in or send an API token"),
    N_("you do not have the permission for this page"),
    N_("the record was changed by someone else; reload and retry"),
    N_("no such page"),
    N_("the form expired or was not sent from this site; reload the page and try again"),
    N_("an unexpected error occurred; it has been logged"),
    N_("This number is out of range."),
    # --- core.tabular ------------------------------------------------------------------------
    N_("Enter a whole number."),
    # --- core.api and core.states (If-Match) -------------------------------------------------
    N_("Send the version you last read as an entity-tag, such as If-Match: \"3\"."),
    N_("This write changes only with the version it was read at: send If-Match."),
    N_("%(name)s %(id)s changes only with the version it was read at (If-Match)"),
    # --- core.codes --------------------------------------------------------------------------
    N_("The unified social credit code must be 18 characters long."),
    N_("The unified social credit code has an invalid format: the first 8 characters must be "
       "digits and the rest digits or capital letters other than I, O, S, V and Z."),
    N_("The unified social credit code is not valid: its check character is wrong."),
    N_("The unified social credit code is not valid."),
    N_("The region code must be 6 digits."),
    N_("The region code does not start with a valid province code."),
    N_("The institution code must be 12 characters long."),
    N_("The institution code must start with H (medical institution) or P (pharmacy)."),
    N_("Characters 2 to 7 of the institution code must be a valid region code."),
    N_("The last 5 characters of the institution code must be digits."),
    N_("The drug code may contain only capital letters and digits."),
    N_("A western medicine drug code (starting with X) must be 23 characters long."),
    N_("A Chinese patent medicine drug code (starting with Z) must be 20 characters long."),
    N_("The drug code must start with X or Z."),
    N_("The consumable code may contain only capital letters and digits."),
    N_("The consumable code must start with C."),
    N_("The consumable code must be 27 characters long."),
    N_("Unknown organisation kind."),
    # codes._normalise(value, field, what) with its fixed ``what`` values.
    N_("Enter the unified social credit code."),
    N_("The unified social credit code must be text."),
    N_("Enter the region code."),
    N_("The region code must be text."),
    N_("Enter the institution code."),
    N_("The institution code must be text."),
    N_("Enter the drug code."),
    N_("The drug code must be text."),
    N_("Enter the consumable code."),
    N_("The consumable code must be text."),
    # --- core.money --------------------------------------------------------------------------
    N_("The price must not be negative."),
    N_("The price is too large."),
    N_("The price may have at most 4 decimal places."),
    N_("The amount may have at most 2 decimal places."),
    N_("The amount is too large."),
    # money._parse_decimal(value, field, what) with ``what`` "price" or "amount".
    N_("Enter the price."),
    N_("The price must be a plain decimal number, such as 12.5."),
    N_("The price must be a finite number."),
    N_("Enter the amount."),
    N_("The amount must be a plain decimal number, such as 12.5."),
    N_("The amount must be a finite number."),
    # --- field names of FieldError / Invalid and of pydantic errors (``_(e.field)``) --------
    N_("body"),
    N_("kind"),
    N_("name"),
    N_("short_name"),
    N_("code"),
    N_("region_code"),
    N_("contact_name"),
    N_("contact_phone"),
    N_("address"),
    N_("username"),
    N_("display_name"),
    N_("email"),
    N_("phone"),
    N_("password"),
    N_("roles"),
    N_("current_password"),
    N_("new_password"),
    N_("scopes"),
    N_("expires_at"),
    N_("price"),
    N_("amount"),
    # --- pydantic v2 messages the forms of core.services produce ----------------------------
    N_("Field required"),
    N_("Input should be a valid string"),
    N_("Input should be a valid list"),
    N_("Input should be a valid integer, unable to parse string as an integer"),
    N_("Input should be 'enterprise', 'hospital', 'bank' or 'bureau'"),
    N_("String should have at least 1 character"),
    N_("String should have at least 2 characters"),
    N_("String should have at least 3 characters"),
    N_("String should have at least 6 characters"),
    N_("String should have at most 6 characters"),
    N_("String should have at most 32 characters"),
    N_("String should have at most 40 characters"),
    N_("String should have at most 60 characters"),
    N_("String should have at most 64 characters"),
    N_("String should have at most 100 characters"),
    N_("String should have at most 200 characters"),
    N_("String should have at most 300 characters"),
    N_("String should match pattern '^[A-Za-z0-9_.\\-@]+$'"),
    N_("List should have at least 1 item after validation, not 0"),
    N_("Input should be a valid datetime or date, input is too short"),
    N_("Input should be a valid datetime or date, invalid character in year"),
    N_("Input should be a valid datetime or date, month value is outside expected range of 1-12"),
    N_("Input should be a valid datetime or date, day value is outside expected range"),
    N_("Input should be a valid datetime or date, unexpected extra characters at the end of "
       "the input"),
    # --- templated domain errors (core.states, core.scoping): translated with their params ---
    N_("%(name)s cannot %(action)s from %(status)s"),
    N_("unknown action %(action)s for %(name)s"),
    N_("not allowed to %(action)s a %(name)s"),
    N_("%(name)s %(id)s is at version %(version)s, not %(expected)s"),
    N_("%(object)s %(id)s not found"),
    N_('Value error, Send the price as a decimal string, not a number.'),  # core.money
    # --- audit actions of the kernel (the audit log and the bureau home show them) ----------
    N_("auth.login"),
    N_("auth.login_failed"),
    N_("auth.logout"),
    N_("demo.load"),
    N_("job.requeue"),
    N_("organisation.create"),
    N_("organisation.update"),
    N_("organisation.suspend"),
    N_("organisation.activate"),
    N_("action:activate"),
    N_("user.create"),
    N_("user.update"),
    N_("user.disable"),
    N_("user.enable"),
    N_("user.reset_password"),
    N_("user.change_password"),
    N_("token.create"),
    N_("token.revoke"),
    # --- keys of audit records' before/after (the audit log shows them in words) -----------
    N_("amount_fen"),
    N_("application_id"),
    N_("batch_id"),
    N_("batch_product_id"),
    N_("category"),
    N_("created"),
    N_("error_count"),
    N_("filename"),
    N_("holidays"),
    N_("ids"),
    N_("lines"),
    N_("listings_synced"),
    N_("migrated_listings"),
    N_("objection_id"),
    N_("organisations_by_kind"),
    N_("organisations_created"),
    N_("params"),
    N_("prefix"),
    N_("publicity_end"),
    N_("publicity_start"),
    N_("ranks"),
    N_("rule_version"),
    N_("run_id"),
    N_("sha256"),
    N_("status"),
    N_("total_rows"),
    N_("unchanged"),
    N_("units"),
    N_("updated"),
    N_("users_created"),
    N_("version"),
    N_("winners"),
    N_("workday"),
    # --- background job names (the jobs page shows them) -------------------------------------
    N_("core.prune_login_attempts"),
    N_("core.requeue_stale_jobs"),
    N_("listing.end_publicity"),
    N_("procurement.allocate"),
    # --- core.tabular: upload errors --------------------------------------------------------
    N_("The file is empty."),
    N_("The file has no header row."),
    N_("The file is not a readable .xlsx workbook."),
    N_("The file's text encoding is not recognised: save it as UTF-8 CSV."),
    N_("The file's text is not valid in the encoding its byte-order mark announces."),
    N_("The workbook's first sheet is damaged and cannot be read."),
)

__all__ = ["N_", "TERMS", "Message", "Term", "render", "translate"]
