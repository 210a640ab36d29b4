"""Customers: the seed's `customer_attribute_helper` distributions, a whole chunk at a time."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fs_assets.generator import text
from fs_assets.generator.names import Pools
from fs_assets.generator.sampling import (
    AS_OF_SECONDS,
    DAY_SECONDS,
    day_number,
    exact_shares,
    grouped_choice,
    second_number,
    uniform_below,
    uniform_index,
    uniform_ints,
    weighted_codes,
    years_before,
)
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.places import (
    CITIES_BY_NATIONALITY,
    COUNTRIES,
    COUNTRY_CODES,
    MOBILE_RANGE,
    RESIDENT_CATEGORY,
    RESIDENT_NATIONALITY,
)
from fs_assets.model.value_sets import (
    AFFLUENCE_WEIGHTS,
    AGE_BUCKETS,
    AS_OF,
    CATEGORIES,
    CATEGORY_WEIGHTS,
    CIBIL_CHECK_WINDOW,
    CIBIL_HIGH_RANGE,
    CIBIL_LOW_RANGE,
    CIBIL_LOW_SHARE,
    CUSTOMER_STATUS_WEIGHTS,
    CUSTOMER_STATUSES,
    CUSTOMER_TYPE_WEIGHTS,
    CUSTOMER_TYPES,
    DO_NOT_CONTACT_WEIGHTS,
    FIRST_CUSTOMER_ID,
    GENDER_WEIGHTS,
    GENDERS,
    HISTORY_START,
    LEVELS,
    MARITAL_BY_TITLE,
    MARITAL_STATUSES,
    MARKETING_CONSENT_WEIGHTS,
    MINOR_TITLE_BY_GENDER,
    NATIONALITIES,
    NATIONALITY_WEIGHTS,
    OCCUPATION_WEIGHTS,
    OCCUPATIONS,
    ORG_DOB_SHARE,
    ORG_DOB_WINDOW,
    PRIVILEGE_WEIGHTS,
    RISK_WEIGHTS,
    SEGMENT_WEIGHTS,
    SEGMENTS,
    SOURCING_CHANNELS,
    SOURCING_WEIGHTS,
    TITLES,
    TITLES_BY_GENDER,
    YES_NO,
)

MIDDLE_NAME_SHARE = 0.5  # the seed: randint(1, 10) > 5
ADDRESS_LINE3_SHARE = 0.7  # the rest have no third address line
EMAIL_DOMAIN = "@gmail.com"
# Contact details are drawn, not derived: the seed computed mobile = cust_id + offset and
# the e-mail number from cust_id, so anyone holding a customer id could recompute both.
EMAIL_NUMBER_RANGE = (1, 99_999)  # first.last<number>@gmail.com
EMAIL_MAX = CUSTOMER.column("email_addr").max_length or 50
ADDRESS_MAX = CUSTOMER.column("customer_addressline1").max_length or 50

_PERSONAL = CUSTOMER_TYPES.index("Personal")
_YES, _NO = YES_NO.index("Yes"), YES_NO.index("No")
_MALE, _FEMALE = GENDERS.index("Male"), GENDERS.index("Female")
_MINOR_BUCKET = next(i for i, b in enumerate(AGE_BUCKETS) if b[3] == "Yes")
# Faker's date_of_birth(min, max): the birthday lies between max+1 years ago (exclusive) and
# min years ago, so the age in whole years is within [min, max]. The span is drawn against
# AS_OF and placed against the version's modified_at, the day the flags describe.
_DOB_LOW = np.array([day_number(years_before(AS_OF, b[1] + 1)) + 1 for b in AGE_BUCKETS])
_DOB_HIGH = np.array([day_number(years_before(AS_OF, b[0])) for b in AGE_BUCKETS])
_BUCKET_MINOR = np.array([b[3] == "Yes" for b in AGE_BUCKETS])
_BUCKET_SENIOR = np.array([b[4] == "Yes" for b in AGE_BUCKETS])

_TITLE_OPTIONS = [[TITLES.index(t) for t in TITLES_BY_GENDER[g]] for g in GENDERS]
_MARITAL_OPTIONS = [[MARITAL_STATUSES.index(m) for m in MARITAL_BY_TITLE[t]] for t in TITLES]
_MINOR_TITLE = {GENDERS.index(g): TITLES.index(t) for g, t in MINOR_TITLE_BY_GENDER.items()}

# Every (city, state, pin, country) row once; nationalities pick among their own rows.
_CITY_ROWS = [row for nat in NATIONALITIES for row in CITIES_BY_NATIONALITY[nat]]
_CITY_BOUNDS = np.cumsum([0, *(len(CITIES_BY_NATIONALITY[nat]) for nat in NATIONALITIES)])
_CITY_OPTIONS = [list(range(a, b)) for a, b in pairwise(_CITY_BOUNDS)]
_CITY, _STATE, _PIN = (pa.array([r[i] for r in _CITY_ROWS], pa.string()) for i in range(3))
_CITY_COUNTRY = np.array([COUNTRIES.index(r[3]) for r in _CITY_ROWS])
_COUNTRY_CODE_TEXT = [COUNTRY_CODES[c] for c in COUNTRIES]
# Scores as text, indexed by score: a lookup is cheaper than formatting each row.
_SCORE_TEXT = pa.array([str(s) for s in range(CIBIL_HIGH_RANGE[1] + 1)], pa.string())


@dataclass(frozen=True)
class CustomerChunk:
    """The written columns plus the facts accounts are derived from."""

    columns: dict[str, pa.Array]
    cust_id: pa.Array  # text, reused by accounts and transactions
    personal: np.ndarray
    cibil_score: np.ndarray
    country: np.ndarray  # index into COUNTRIES
    created_s: np.ndarray
    affluence: np.ndarray  # index into LEVELS
    risk: np.ndarray  # index into LEVELS
    # A campaign may contact them: a living adult personal customer with marketing
    # consent and no do-not-contact request.
    contactable: np.ndarray

    @property
    def size(self) -> int:
        return len(self.cust_id)


def years_before_days(days: np.ndarray, years: int) -> np.ndarray:
    """`years_before` for an array of day numbers: 29 February falls back to the 28th."""
    d = days.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day_of_month = (d - month).astype(np.int64)
    back = month - np.timedelta64(12 * years, "M")
    first = back.astype("datetime64[D]")
    length = ((back + np.timedelta64(1, "M")).astype("datetime64[D]") - first).astype(np.int64)
    return first.astype(np.int64) + np.minimum(day_of_month, length - 1)


def _dob_as_of(bucket: np.ndarray, offset: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Dates of birth whose age in whole years on `day` lies in each row's age bucket."""
    rows = np.arange(bucket.shape[0])
    low = np.stack([years_before_days(day, b[1] + 1) + 1 for b in AGE_BUCKETS])[bucket, rows]
    high = np.stack([years_before_days(day, b[0]) for b in AGE_BUCKETS])[bucket, rows]
    return np.minimum(low + offset, high - 1)


def _pick(rng: np.random.Generator, pools: list[pa.Array], group: np.ndarray) -> np.ndarray:
    """Row indexes into the concatenation of `pools`, uniform within each row's pool."""
    sizes = np.array([len(p) for p in pools], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    return offsets[group] + uniform_index(rng, sizes[group], group.shape[0])


def _pick1(rng: np.random.Generator, pool: pa.Array, n: int) -> np.ndarray:
    """Uniform row indexes into one pool."""
    return uniform_index(rng, len(pool), n)


def _emails(first: pa.Array, last: pa.Array, number: pa.Array) -> pa.Array:
    """first.last<number>@gmail.com in lower case, as the seed builds them.

    Names are ASCII letters (the pool filter), so ascii_lower is enough. Long names are cut
    so the address stays within the column's length rule.
    """
    first, last = pc.ascii_lower(first), pc.ascii_lower(last)
    room = EMAIL_MAX - len(EMAIL_DOMAIN) - text.longest(number)
    if text.longest(first) + 1 + text.longest(last) <= room:
        return pc.binary_join_element_wise(first, ".", last, number, EMAIL_DOMAIN, "")
    name = text.truncate(pc.binary_join_element_wise(first, last, "."), room)
    return pc.binary_join_element_wise(name, number, EMAIL_DOMAIN, "")


def build_customers(
    rng: np.random.Generator, first_index: int, n: int, pools: Pools
) -> CustomerChunk:
    """Customers FIRST_CUSTOMER_ID + first_index onwards; `n` of them."""
    ids = FIRST_CUSTOMER_ID + first_index + np.arange(n, dtype=np.int64)
    ctype = weighted_codes(rng, CUSTOMER_TYPE_WEIGHTS, n)
    personal = ctype == _PERSONAL
    org = ~personal
    n_personal = int(personal.sum())

    # Ages: the seed's exact bucket counts, shuffled; the remainder are minors.
    bucket = np.zeros(n, dtype=np.int8)
    shares = [b[2] for b in AGE_BUCKETS]
    bucket[personal] = exact_shares(rng, shares, n_personal, remainder=_MINOR_BUCKET)
    dob_offset = uniform_below(rng, _DOB_HIGH[bucket] - _DOB_LOW[bucket])
    minor = personal & _BUCKET_MINOR[bucket]
    senior = personal & _BUCKET_SENIOR[bucket]
    org_has_dob = np.zeros(n, dtype=bool)
    org_has_dob[org] = exact_shares(rng, [ORG_DOB_SHARE], int(org.sum()), remainder=1) == 0
    org_dob = uniform_ints(rng, *(day_number(d) for d in ORG_DOB_WINDOW), n)

    gender = weighted_codes(rng, GENDER_WEIGHTS, n)
    title = grouped_choice(rng, gender, _TITLE_OPTIONS)
    for g, t in _MINOR_TITLE.items():
        title[minor & (gender == g)] = t
    marital = grouped_choice(rng, np.maximum(title, 0), _MARITAL_OPTIONS)
    marital[title < 0] = -1
    marital[minor] = MARITAL_STATUSES.index("Single")
    occupation = weighted_codes(rng, OCCUPATION_WEIGHTS, n)
    occupation[minor] = OCCUPATIONS.index("Non Salaried")
    status = weighted_codes(rng, CUSTOMER_STATUS_WEIGHTS, n)
    status[minor] = CUSTOMER_STATUSES.index("Active")

    # Names: pool 0 male, 1 female, 2 any first name, 3 organisation words.
    first_group = np.where(gender == _MALE, 0, np.where(gender == _FEMALE, 1, 2))
    first_group[org] = 3
    first_pools = [pools.first_male, pools.first_female, pools.first_any, pools.org_words]
    first = pa.concat_arrays(first_pools).take(_pick(rng, first_pools, first_group))
    has_middle = personal & (rng.random(n) < MIDDLE_NAME_SHARE)
    middle = text.labels(pools.first_male, _pick1(rng, pools.first_male, n), has_middle)
    last_pools = [pools.last, pools.org_suffixes]
    last = pa.concat_arrays(last_pools).take(_pick(rng, last_pools, org.astype(np.int64)))

    segment = weighted_codes(rng, SEGMENT_WEIGHTS, n)
    category = weighted_codes(rng, CATEGORY_WEIGHTS, n)
    privilege = weighted_codes(rng, PRIVILEGE_WEIGHTS, n)
    nationality = weighted_codes(rng, NATIONALITY_WEIGHTS, n)
    resident = category == CATEGORIES.index(RESIDENT_CATEGORY)
    home = np.where(resident, NATIONALITIES.index(RESIDENT_NATIONALITY), nationality)
    city_row = grouped_choice(rng, home, _CITY_OPTIONS)
    country = _CITY_COUNTRY[city_row]
    sourcing = weighted_codes(rng, SOURCING_WEIGHTS, n)
    risk = weighted_codes(rng, RISK_WEIGHTS, n)
    affluence = weighted_codes(rng, AFFLUENCE_WEIGHTS, n)

    streets = pools.streets
    building = pools.buildings.take(_pick1(rng, pools.buildings, n))
    line1 = pc.binary_join_element_wise(building, streets.take(_pick1(rng, streets, n)), " ")
    line2 = streets.take(_pick1(rng, streets, n))
    has_line3 = rng.random(n) < ADDRESS_LINE3_SHARE
    line3 = text.labels(pools.landmarks, _pick1(rng, pools.landmarks, n), has_line3)

    check_window = (day_number(d) for d in CIBIL_CHECK_WINDOW)
    cibil_check = uniform_ints(rng, *check_window, n)
    low = exact_shares(rng, [CIBIL_LOW_SHARE], n, remainder=1) == 0
    cibil = np.where(
        low, uniform_ints(rng, *CIBIL_LOW_RANGE, n), uniform_ints(rng, *CIBIL_HIGH_RANGE, n)
    )
    # An organisation becomes a customer after it is incorporated.
    onboarding = np.full(n, second_number(HISTORY_START), dtype=np.int64)
    incorporated = org_has_dob & (org_dob * DAY_SECONDS > onboarding)
    onboarding[incorporated] = org_dob[incorporated] * DAY_SECONDS
    created = onboarding + uniform_below(rng, AS_OF_SECONDS - 1 - onboarding)
    modified = created + uniform_below(rng, AS_OF_SECONDS - created)
    # The minor and senior flags hold as of modified_at (`minor_flag__matches_dob`).
    person_dob = _dob_as_of(bucket, dob_offset, modified // DAY_SECONDS)
    dob = np.where(personal, person_dob, org_dob)

    cust_id = text.integers(ids)
    # Drawn last from this chunk's stream, so every other column keeps its values.
    mobile = uniform_ints(rng, *MOBILE_RANGE, n)
    email_number = text.integers(uniform_ints(rng, *EMAIL_NUMBER_RANGE, n))
    email = _emails(first, last, email_number)
    # Marketing permissions, drawn after everything else for the same reason.
    consent = weighted_codes(rng, MARKETING_CONSENT_WEIGHTS, n)
    do_not_contact = weighted_codes(rng, DO_NOT_CONTACT_WEIGHTS, n)
    columns = {
        "cust_id": cust_id,
        "cust_dob": text.dates(dob, personal | org_has_dob),
        "cust_first_name": first,
        "cust_last_name": last,
        "cust_middle_name": middle,
        "cust_segment": text.labels(SEGMENTS, segment),
        "cust_title": text.labels(TITLES, title, personal),
        "customer_category": text.labels(CATEGORIES, category),
        "customer_privelege": text.labels(YES_NO, privilege),
        "customer_type": text.labels(CUSTOMER_TYPES, ctype),
        "email_addr": email,
        "gender": text.labels(GENDERS, gender, personal),
        "marital_status": text.labels(MARITAL_STATUSES, marital, personal),
        "minor_flag": text.labels(YES_NO, np.where(minor, _YES, _NO), personal),
        "mobile_number1": text.integers(mobile),
        "nationality": text.labels(NATIONALITIES, nationality),
        "occupation": text.labels(OCCUPATIONS, occupation, personal),
        "senior_citizen_flag": text.labels(YES_NO, np.where(senior, _YES, _NO), personal),
        "sourcing_channel": text.labels(SOURCING_CHANNELS, sourcing),
        "customer_risk_category": text.labels(LEVELS, risk),
        "afflunce_level": text.labels(LEVELS, affluence),
        "customer_status": text.labels(CUSTOMER_STATUSES, status),
        "customer_addressline1": text.truncate(line1, ADDRESS_MAX),
        "customer_addressline2": text.truncate(line2, ADDRESS_MAX),
        "customer_addressline3": text.truncate(line3, ADDRESS_MAX),
        "city": text.labels(_CITY, city_row),
        "state": text.labels(_STATE, city_row),
        "country": text.labels(COUNTRIES, country),
        "pin": text.labels(_PIN, city_row),
        "created_at": text.timestamps(created),
        "modified_at": text.timestamps(modified),
        "cibil_check_date": text.dates(cibil_check),
        "cibil_score": text.labels(_SCORE_TEXT, cibil),
        "country_code": text.labels(_COUNTRY_CODE_TEXT, country),
        "marketing_consent": text.labels(YES_NO, consent),
        "do_not_contact": text.labels(YES_NO, do_not_contact),
    }
    return CustomerChunk(
        columns=columns,
        cust_id=cust_id,
        personal=personal,
        cibil_score=cibil,
        country=country,
        created_s=created,
        affluence=affluence,
        risk=risk,
        contactable=personal
        & ~minor
        & (status != CUSTOMER_STATUSES.index("Deceased"))
        & (consent == _YES)
        & (do_not_contact == _NO),
    )
