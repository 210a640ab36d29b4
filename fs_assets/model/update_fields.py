"""The attributes the update tool lets a user change, per customer type."""

from __future__ import annotations

# The attributes the seed's update tool lets a user change, per customer type.
PERSONAL_UPDATABLE = (
    "cust_segment",
    "cust_title",
    "customer_category",
    "customer_privelege",
    "customer_type",
    "email_addr",
    "gender",
    "marital_status",
    "minor_flag",
    "mobile_number1",
    "nationality",
    "occupation",
    "senior_citizen_flag",
    "customer_risk_category",
    "afflunce_level",
    "customer_status",
    "customer_addressline1",
    "customer_addressline2",
    "customer_addressline3",
    "city",
    "state",
    "country",
    "pin",
    "country_code",
    "cibil_check_date",
    "cibil_score",
    "marketing_consent",
    "do_not_contact",
)
ORGANISATION_UPDATABLE = tuple(
    c
    for c in PERSONAL_UPDATABLE
    if c
    not in {
        "cust_title",
        "gender",
        "marital_status",
        "minor_flag",
        "occupation",
        "senior_citizen_flag",
    }
)
