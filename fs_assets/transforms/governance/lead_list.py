"""The sales lead list: whom to offer which card and why, as a governed table of a role.

One row per person with a recommended card (marts.cross_sell): a person (person_id: the
golden id, or a core customer identity resolution has not linked) is listed once, through
their person_record (their newest core record, the one the golden record prefers), with
its cust_id, card, reason and campaign stage (the furthest stage of the campaign events
on any of their core records, as the funnel counts the person). The card is the person's
(their features are summed over all their core records): never one they hold open on any
record.
Contact details (e-mail, mobile) only when that record gives marketing consent (the
person's latest word on it) and no core record of the person asks not to be contacted: a
do-not-contact in any linked record binds the person, so nobody is reached through
another of their records; NULL for the rest, and `do_not_contact` reads Yes for the
person then. cust_id and the contact details are the role's own governed columns (the
same SQL as its governed customer view: a keyed token and masked or redacted PII unless a
policy grants clear PII), and the role's row filters apply, so the list holds nothing the
role could not read of mastered.customer.
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
    "campaign_stage": "person_campaign_stage_name",
}


def leads_table(role: str) -> str:
    return f"{GOVERNED_SCHEMA}.{q(view_name(role, LEADS))}"


def contactable_sql() -> str:
    """TRUE for a person who may be contacted: consent in their person_record, and no
    do-not-contact request in it or any other core record of theirs."""
    return (
        f"(marketing_consent = '{_YES}' and do_not_contact = '{_NO}' "
        "and not person_asked_not_to_be_contacted)"
    )


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
        + f",\n  {contact},\n  marketing_consent,\n  "
        f"case when person_asked_not_to_be_contacted then '{_YES}' else do_not_contact end "
        "as do_not_contact\n"
        f"from (select m.*, {leads}, p.asked as person_asked_not_to_be_contacted\n"
        f"      from mastered.customer m\n"
        f"      join {CROSS_SELL} x on x.cust_id = m.cust_id\n"
        f"      join (select x.person_id, bool_or(c.do_not_contact = '{_YES}') as asked\n"
        f"            from {CROSS_SELL} x join mastered.customer c using (cust_id)\n"
        f"            group by 1) p on p.person_id = x.person_id\n"
        f"      where x.person_record and x.recommended_product_id is not null){where}"
    )
