"""The sales lead list: whom to offer which card and why, as a governed table of a role.

One row per customer with a recommended card (marts.cross_sell): cust_id, the card, the
reason, the campaign stage reached, and the contact details (e-mail, mobile) only for
customers who gave marketing consent and did not ask not to be contacted; NULL for the
rest. cust_id and the contact details are the role's own governed columns (the same SQL
as its governed customer view: a keyed token and masked or redacted PII unless a policy
grants clear PII), and the role's row filters apply, so the list holds nothing the role
could not read of mastered.customer.
"""

from __future__ import annotations

from fs_assets.model.rules import q
from fs_assets.model.value_sets import YES_NO
from fs_assets.transforms.governance import GOVERNED_SCHEMA, view_name

LEADS = "leads"
CONTACT_COLUMNS = ("email_addr", "mobile_number1")
CROSS_SELL = "marts.cross_sell"
_YES, _NO = YES_NO
# The lead's columns from marts.cross_sell, as named in the list.
LEAD_FIELDS = {
    "recommended_card": "recommended_card",
    "recommendation_reason": "recommendation_reason",
    "campaign_stage": "campaign_stage_name",
}


def leads_table(role: str) -> str:
    return f"{GOVERNED_SCHEMA}.{q(view_name(role, LEADS))}"


def contactable_sql() -> str:
    """TRUE for a customer who may be contacted (consent, no do-not-contact request)."""
    return f"(marketing_consent = '{_YES}' and do_not_contact = '{_NO}')"


def lead_list_sql(columns: dict[str, str], row_filter: str | None) -> str:
    """The lead list's select; `columns` maps cust_id and the contact columns to the role's
    governed SQL for them (over mastered.customer's column names)."""
    leads = ", ".join(f"x.{q(src)} as {q(name)}" for name, src in LEAD_FIELDS.items())
    contact = ",\n  ".join(
        f"case when {contactable_sql()} then {columns[c]} end as {q(c)}" for c in CONTACT_COLUMNS
    )
    where = f"\nwhere {row_filter}" if row_filter else ""
    return (
        f"select\n  {columns['cust_id']} as cust_id,\n  "
        + ", ".join(q(name) for name in LEAD_FIELDS)
        + f",\n  {contact},\n  marketing_consent, do_not_contact\n"
        f"from (select m.*, {leads} from mastered.customer m\n"
        f"      join {CROSS_SELL} x on x.cust_id = m.cust_id\n"
        f"      where x.recommended_product_id is not null){where}"
    )
