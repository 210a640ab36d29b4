"""The landing-data generator, tested through the files it writes.

One 100k-customer data set is built per module and read back from CSV, so the tests see
exactly what the ingestion sees. Shares are checked against entities.py within four
standard errors (plus a little slack for the seed's exact-count rounding).
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from fs_assets.generator import GenerationStats, generate_landing
from fs_assets.generator.campaigns import CAMPAIGNS
from fs_assets.generator.customers import MOBILE_RANGE
from fs_assets.generator.names import ORG_SUFFIXES
from fs_assets.generator.writer import PartFile
from fs_assets.model import columns, places, products
from fs_assets.model import entities as em
from fs_assets.model import value_sets as vs

N = 100_000
CHUNK = 40_000  # three parts, the last one short
SEED = 7
PARTS = math.ceil(N / CHUNK)
# Entities written as one file whatever the customer count, in the order they are written.
ONE_FILE_ENTITIES = ("product", "fx_rate", "campaign")
TYPE_FORMATS = {
    "DATE": columns.ISO_DATE,
    "TIMESTAMP": r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
    "DECIMAL(18,2)": r"^-?[0-9]+\.[0-9]{2}$",
    "INTEGER": r"^-?[0-9]+$",
    "BIGINT": r"^-?[0-9]+$",
    "DOUBLE": r"^-?[0-9]+(\.[0-9]+)?$",
}


def read_csv_parts(folder: Path) -> pa.Table:
    """All part files of one entity, every column as text, empty fields as null."""
    tables = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8") as handle:
            header = handle.readline().rstrip("\n").split(",")
        options = pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=True,
            null_values=[""],
        )
        tables.append(pacsv.read_csv(path, convert_options=options))
    return pa.concat_tables(tables)


def entity_view(entity: columns.Entity, table: pa.Table) -> pa.Table:
    """Source headers back to column names, without the index column."""
    names = {c.source_header: c.name for c in entity.columns}
    return table.drop_columns([""]).rename_columns([names[h] for h in table.column_names[1:]])


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationStats]:
    out = tmp_path_factory.mktemp("landing")
    return out, generate_landing(out, N, seed=SEED, chunk_customers=CHUNK)


@pytest.fixture(scope="module")
def raw(landing: tuple[Path, GenerationStats]) -> dict[str, pa.Table]:
    out, _ = landing
    return {name: read_csv_parts(out / name) for name in em.ENTITY_NAMES}


@pytest.fixture(scope="module")
def tables(raw: dict[str, pa.Table]) -> dict[str, pa.Table]:
    return {name: entity_view(em.entity(name), t) for name, t in raw.items()}


@pytest.fixture(scope="module")
def db(tables: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    for name, table in tables.items():
        conn.register(name, table)
    return conn


def mix(values: Sequence[object], weights: Sequence[float]) -> dict[object, float]:
    return dict(zip(values, weights, strict=True))


def shares(column: pa.Array | pa.ChunkedArray) -> dict[object, float]:
    counts = pc.value_counts(column).to_pylist()
    total = sum(c["counts"] for c in counts)
    return {c["values"]: c["counts"] / total for c in counts}


def assert_shares(
    column: pa.Array | pa.ChunkedArray, expected: Mapping[object, float], slack: float = 0.001
) -> None:
    """Observed shares within four standard errors of the (normalised) expected ones."""
    total = sum(expected.values())
    observed = shares(column)
    n = len(column) - column.null_count
    assert set(observed) <= set(expected), f"unexpected values {set(observed) - set(expected)}"
    for value, weight in expected.items():
        p = weight / total
        tolerance = 4 * math.sqrt(p * (1 - p) / n) + slack
        got = observed.get(value, 0.0)
        assert abs(got - p) <= tolerance, f"{value}: {got:.4f} vs {p:.4f} (±{tolerance:.4f})"


def scalar(db: duckdb.DuckDBPyConnection, sql: str) -> object:
    rows = db.execute(sql).fetchall()
    return rows[0][0]


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------
def test_files_are_named_and_counted(
    landing: tuple[Path, GenerationStats], raw: dict[str, pa.Table]
) -> None:
    out, stats = landing
    for name in em.ENTITY_NAMES:
        parts = 1 if name in ONE_FILE_ENTITIES else PARTS
        expected = [f"{name}_s{SEED}_p{p:05d}.csv" for p in range(parts)]
        assert sorted(p.name for p in (out / name).iterdir()) == expected  # no temp files left
        assert stats.rows[name] == raw[name].num_rows
    assert sorted(stats.files) == sorted(out.glob("*/*.csv"))
    assert stats.rows["product"] == len(products.PRODUCT_CATALOG)
    assert stats.total_seconds > 0 and set(stats.seconds) == set(em.ENTITY_NAMES)


def test_csv_has_pandas_shape(landing: tuple[Path, GenerationStats]) -> None:
    out, _ = landing
    for name in em.ENTITY_NAMES:
        for path in (out / name).glob("*.csv"):
            with path.open(encoding="utf-8") as handle:
                header = handle.readline()
                first = handle.readline()
            headers = [c.source_header for c in em.entity(name).columns]
            assert header == ",".join(["", *headers]) + "\n"
            assert first.startswith("0,"), "the index restarts at 0 in every file"
            index = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(include_columns=[""]))
            assert index.column(0).to_pylist() == list(range(index.num_rows))
            assert b'"' not in path.read_bytes(), "no value needs quoting"


def test_failed_part_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), PartFile(tmp_path, em.PRODUCT, 1, 0, "csv"):
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_tiny_and_empty_runs(tmp_path: Path) -> None:
    stats = generate_landing(tmp_path / "tiny", 3, chunk_customers=2)  # slices with no rows
    assert stats.rows["customer"] == 3
    assert len(list((tmp_path / "tiny" / "customer").glob("*.csv"))) == 2
    empty = generate_landing(tmp_path / "empty", 0)
    assert empty.rows == {
        "customer": 0,
        "product": len(products.PRODUCT_CATALOG),
        "account": 0,
        # Rates do not depend on customers: every currency, every window day.
        "fx_rate": len(vs.CURRENCIES) * 365,
        "transaction": 0,
        # One campaign per card, whoever the customers are; nobody to contact.
        "campaign": len(CAMPAIGNS),
        "campaign_event": 0,
    }
    assert [p.parent.name for p in empty.files] == list(ONE_FILE_ENTITIES)


def test_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fmt"):
        generate_landing(tmp_path, 10, fmt="json")


# ---------------------------------------------------------------------------------------
# Every value within the entity model
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", em.ENTITY_NAMES)
def test_values_follow_entity_model(name: str, tables: dict[str, pa.Table]) -> None:
    entity = em.entity(name)
    table = tables[name]
    assert table.column_names == list(entity.column_names)
    personal = pc.equal(table["customer_type"], "Personal") if name == "customer" else None
    for col in entity.columns:
        values = table[col.name]
        present = pc.drop_null(values)
        where = f"{name}.{col.name}"
        if col.personal_only and personal is not None:
            personal_values = pc.filter(values, personal)
            others = pc.filter(values, pc.invert(personal))
            assert others.null_count == len(others), f"{where} set for an organisation"
            if col.required:
                assert personal_values.null_count == 0, f"{where} missing for a person"
        elif col.required:
            assert values.null_count == 0, f"{where} has nulls"
        if len(present) == 0:
            continue
        if col.values is not None:
            outside = set(pc.unique(present).to_pylist()) - set(col.values)
            assert not outside, f"{where} values {outside} not in {col.values}"
        lengths = pc.utf8_length(present)
        if col.max_length is not None:
            assert pc.max(lengths).as_py() <= col.max_length, f"{where} too long"
        if col.exact_length is not None:
            assert pc.all(pc.equal(lengths, col.exact_length)).as_py(), f"{where} length"
        for pattern in (col.pattern, TYPE_FORMATS.get(col.type)):
            if pattern is not None:
                ok = pc.all(pc.match_substring_regex(present, pattern)).as_py()
                assert ok, f"{where} does not match {pattern}"
        if col.type == "DATE":
            pc.cast(present, pa.date32())  # a real calendar date
        if col.value_range is not None:
            numbers = pc.cast(present, pa.float64())
            low, high = col.value_range
            assert low <= pc.min(numbers).as_py() and pc.max(numbers).as_py() <= high, where


def test_keys_unique_and_references_resolve(db: duckdb.DuckDBPyConnection) -> None:
    for entity in em.ENTITIES.values():
        dupes = scalar(db, f"select count(*) - count(distinct {entity.key}) from {entity.name}")
        assert dupes == 0, f"{entity.name}.{entity.key} is not unique"
        for fk in entity.foreign_keys:
            orphans = scalar(
                db,
                f"select count(*) from {entity.name} x anti join {fk.entity} r "
                f"on x.{fk.column} = r.{fk.ref_column}",
            )
            assert orphans == 0, f"{entity.name}.{fk.column} has orphans"
    mismatched = scalar(
        db,
        "select count(*) from transaction t join account a using (account_id) "
        "where t.cust_id <> a.cust_id or t.currency <> a.currency",
    )
    assert mismatched == 0


def test_ids_are_sequential(db: duckdb.DuckDBPyConnection) -> None:
    first = scalar(db, "select min(cust_id::bigint) from customer")
    last = scalar(db, "select max(cust_id::bigint) from customer")
    assert first == vs.FIRST_CUSTOMER_ID and last == vs.FIRST_CUSTOMER_ID + N - 1
    for entity, key in (("account", "account_id"), ("transaction", "transaction_id")):
        span = scalar(
            db, f"select max({key}::hugeint) - min({key}::hugeint) + 1 = count(*) from {entity}"
        )
        assert span, f"{entity} ids have gaps"


# ---------------------------------------------------------------------------------------
# Distributions of the seed
# ---------------------------------------------------------------------------------------
def test_customer_mix(tables: dict[str, pa.Table]) -> None:
    customer = tables["customer"]
    assert_shares(customer["customer_type"], mix(vs.CUSTOMER_TYPES, vs.CUSTOMER_TYPE_WEIGHTS))
    assert_shares(customer["cust_segment"], mix(vs.SEGMENTS, vs.SEGMENT_WEIGHTS))
    assert_shares(customer["nationality"], mix(vs.NATIONALITIES, vs.NATIONALITY_WEIGHTS))
    assert_shares(customer["customer_category"], mix(vs.CATEGORIES, vs.CATEGORY_WEIGHTS))
    assert_shares(customer["customer_privelege"], mix(vs.YES_NO, vs.PRIVILEGE_WEIGHTS))
    assert_shares(customer["sourcing_channel"], mix(vs.SOURCING_CHANNELS, vs.SOURCING_WEIGHTS))
    assert_shares(customer["customer_risk_category"], mix(vs.LEVELS, vs.RISK_WEIGHTS))
    assert_shares(customer["afflunce_level"], mix(vs.LEVELS, vs.AFFLUENCE_WEIGHTS))


def test_personal_demographics(db: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    persons = tables["customer"].filter(pc.equal(tables["customer"]["customer_type"], "Personal"))
    assert_shares(persons["gender"], mix(vs.GENDERS, vs.GENDER_WEIGHTS))
    minor_share = 1 - sum(b[2] for b in vs.AGE_BUCKETS if b[3] == "No")
    assert_shares(persons["minor_flag"], {"Yes": minor_share, "No": 1 - minor_share})
    senior_share = sum(b[2] for b in vs.AGE_BUCKETS if b[4] == "Yes")
    assert_shares(persons["senior_citizen_flag"], {"Yes": senior_share, "No": 1 - senior_share})
    adults = persons.filter(pc.equal(persons["minor_flag"], "No"))
    assert_shares(adults["occupation"], mix(vs.OCCUPATIONS, vs.OCCUPATION_WEIGHTS))
    assert_shares(persons["cust_middle_name"].is_null(), {True: 0.5, False: 0.5})

    # Age bands (as of each version's modified_at, the day the flags describe) that do not
    # straddle two buckets, against the buckets' uniform mix.
    ages = db.sql(
        "select date_sub('year', cust_dob::date, modified_at::timestamp::date) as age, minor_flag, "
        "senior_citizen_flag from customer where customer_type = 'Personal'"
    ).to_arrow_table()
    age = ages["age"]
    minor_bucket_extra = 1 - sum(b[2] for b in vs.AGE_BUCKETS)
    bands = {
        "10-17": (10, 17),
        "18-29": (18, 29),
        "31-44": (31, 44),
        "46-59": (46, 59),
        "60-100": (60, 100),
    }
    expected = {}
    for label, (low, high) in bands.items():
        share = 0.0
        for b_low, b_high, b_share, minor, _ in vs.AGE_BUCKETS:
            b_share += minor_bucket_extra if minor == "Yes" else 0.0
            overlap = max(0, min(high, b_high) - max(low, b_low) + 1)
            share += b_share * overlap / (b_high - b_low + 1)
        expected[label] = share
    band_of = np.full(len(age), "other", dtype=object)
    age_np = age.to_numpy()
    for label, (low, high) in bands.items():
        band_of[(age_np >= low) & (age_np <= high)] = label
    other = 1 - sum(expected.values())
    assert_shares(pa.array(band_of.tolist()), {**expected, "other": other})
    # Flags agree with the ages.
    assert pc.min(pc.filter(age, pc.equal(ages["minor_flag"], "Yes"))).as_py() >= 10
    assert pc.max(pc.filter(age, pc.equal(ages["minor_flag"], "Yes"))).as_py() <= 17
    assert pc.min(pc.filter(age, pc.equal(ages["senior_citizen_flag"], "Yes"))).as_py() >= 60
    assert pc.max(age).as_py() <= 100


def test_personal_rules_of_the_seed(db: duckdb.DuckDBPyConnection) -> None:
    title_pairs = [(g, t) for g, ts in vs.TITLES_BY_GENDER.items() for t in ts]
    marital_pairs = [(t, m) for t, ms in vs.MARITAL_BY_TITLE.items() for m in ms]
    db.execute("create or replace temp table title_ok (gender varchar, title varchar)")
    db.executemany("insert into title_ok values (?, ?)", title_pairs)
    db.execute("create or replace temp table marital_ok (title varchar, marital varchar)")
    db.executemany("insert into marital_ok values (?, ?)", marital_pairs)
    minors_off = scalar(
        db,
        "select count(*) from customer where minor_flag = 'Yes' and ("
        " marital_status <> 'Single' or occupation <> 'Non Salaried'"
        " or customer_status <> 'Active'"
        " or (gender = 'Male' and cust_title <> 'Mr')"
        " or (gender = 'Female' and cust_title <> 'Miss'))",
    )
    assert minors_off == 0
    bad_titles = scalar(
        db,
        "select count(*) from customer c where customer_type = 'Personal' and minor_flag = 'No'"
        " and not (cust_title is null and gender = 'I prefer not to say')"
        " and not exists (select 1 from title_ok o where o.gender = c.gender"
        "                 and o.title = c.cust_title)",
    )
    assert bad_titles == 0
    bad_marital = scalar(
        db,
        "select count(*) from customer c where customer_type = 'Personal' and minor_flag = 'No'"
        " and not (cust_title is null and marital_status is null)"
        " and not exists (select 1 from marital_ok o where o.title = c.cust_title"
        "                 and o.marital = c.marital_status)",
    )
    assert bad_marital == 0


def test_customer_status_of_adults_and_organisations(tables: dict[str, pa.Table]) -> None:
    customer = tables["customer"]
    not_minor = pc.fill_null(pc.not_equal(customer["minor_flag"], "Yes"), True)
    weights = mix(vs.CUSTOMER_STATUSES, vs.CUSTOMER_STATUS_WEIGHTS)
    assert_shares(customer.filter(not_minor)["customer_status"], weights)


def test_customer_dates(db: duckdb.DuckDBPyConnection) -> None:
    check_low, check_high = vs.CIBIL_CHECK_WINDOW
    wrong = scalar(
        db,
        "select count(*) from customer where"
        f" created_at::timestamp < TIMESTAMP '{vs.HISTORY_START}'"
        f" or modified_at::timestamp > DATE '{vs.AS_OF}' or modified_at < created_at"
        f" or cibil_check_date::date not between DATE '{check_low}' and DATE '{check_high}'",
    )
    assert wrong == 0


def test_cibil_split(tables: dict[str, pa.Table]) -> None:
    score = pc.cast(tables["customer"]["cibil_score"], pa.int64())
    low = pc.less_equal(score, vs.CIBIL_LOW_RANGE[1])
    assert_shares(low, {True: vs.CIBIL_LOW_SHARE, False: 1 - vs.CIBIL_LOW_SHARE})
    assert pc.min(score).as_py() >= vs.CIBIL_LOW_RANGE[0]
    assert pc.max(score).as_py() <= vs.CIBIL_HIGH_RANGE[1]


def test_organisations(tables: dict[str, pa.Table]) -> None:
    customer = tables["customer"]
    orgs = customer.filter(pc.not_equal(customer["customer_type"], "Personal"))
    assert orgs["cust_middle_name"].null_count == len(orgs)
    assert set(pc.unique(orgs["cust_last_name"]).to_pylist()) <= set(ORG_SUFFIXES)
    assert_shares(orgs["cust_dob"].is_null(), {False: vs.ORG_DOB_SHARE, True: 1 - vs.ORG_DOB_SHARE})
    dob = pc.cast(pc.drop_null(orgs["cust_dob"]), pa.date32())
    low, high = vs.ORG_DOB_WINDOW
    assert low <= pc.min(dob).as_py() and pc.max(dob).as_py() <= high
    dated = orgs.filter(pc.is_valid(orgs["cust_dob"]))
    onboarded = pc.cast(pc.utf8_slice_codeunits(dated["created_at"], 0, 10), pa.date32())
    assert pc.all(pc.greater_equal(onboarded, pc.cast(dated["cust_dob"], pa.date32()))).as_py()


def test_contact_and_address_derivations(db: duckdb.DuckDBPyConnection) -> None:
    low, high = MOBILE_RANGE
    wrong = scalar(
        db,
        "select count(*) from customer where "
        f" not regexp_full_match(mobile_number1, '[6-9][0-9]{{9}}')"
        f" or not mobile_number1::bigint between {low} and {high}"
        " or not regexp_full_match(email_addr, '[a-z.]+[0-9]{1,5}@gmail[.]com')"
        " or not starts_with(lower(cust_first_name || '.' || cust_last_name),"
        "   regexp_replace(email_addr, '[0-9]+@gmail[.]com$', ''))",
    )
    assert wrong == 0
    # Not derivable from the id (the seed's mobile = cust_id + offset, e-mail number =
    # cust_id - offset): no common offset, and no id's digits in its e-mail address.
    n = scalar(db, "select count(*) from customer")
    offsets = scalar(
        db, "select count(distinct mobile_number1::bigint - cust_id::bigint) from customer"
    )
    assert offsets > 0.99 * n
    assert scalar(db, "select count(*) from customer where contains(email_addr, cust_id)") == 0
    rows = [(nat, *row) for nat, rows in places.CITIES_BY_NATIONALITY.items() for row in rows]
    db.execute(
        "create or replace temp table places (nationality varchar, city varchar,"
        " state varchar, pin varchar, country varchar)"
    )
    db.executemany("insert into places values (?, ?, ?, ?, ?)", rows)
    misplaced = scalar(
        db,
        "select count(*) from customer c where not exists (select 1 from places p where"
        f" p.nationality = case when c.customer_category = '{places.RESIDENT_CATEGORY}'"
        f"   then '{places.RESIDENT_NATIONALITY}' else c.nationality end"
        " and p.city = c.city and p.state = c.state and p.pin = c.pin and p.country = c.country)",
    )
    assert misplaced == 0
    codes = dict(db.execute("select distinct country, country_code from customer").fetchall())
    assert codes == {c: places.COUNTRY_CODES[c] for c in codes}
    assert_shares(
        db.sql("select customer_addressline3 is null from customer").to_arrow_table().column(0),
        {True: 0.3, False: 0.7},
    )


def test_accounts_follow_products_and_scores(db: duckdb.DuckDBPyConnection) -> None:
    catalog = [
        (p.product_id, p.product_type, p.min_cibil_score, p.credit_limit)
        for p in products.PRODUCT_CATALOG
    ]
    db.execute(
        "create or replace temp table catalog (product_id varchar, product_type varchar,"
        " min_cibil integer, credit_limit double)"
    )
    db.executemany("insert into catalog values (?, ?, ?, ?)", catalog)
    facts = db.execute(
        """
        with a as (
            select a.*, row_number() over (partition by a.cust_id order by a.account_id) as slot,
                   c.customer_type, c.cibil_score::int as score, c.country,
                   c.created_at as customer_created, p.product_type, p.min_cibil,
                   p.credit_limit as product_limit
            from account a join customer c using (cust_id) join catalog p using (product_id)
        )
        select
            count(*) filter (where slot = 1 and customer_type = 'Personal'
                             and product_type <> 'Savings Account') as bad_personal_first,
            count(*) filter (where slot = 1 and customer_type <> 'Personal'
                             and product_id <> 'PRD0000003') as bad_org_first,
            count(*) filter (where product_type = 'Credit Card' and score < min_cibil)
                as ineligible_cards,
            count(*) filter (where (credit_limit is null) <> (product_type <> 'Credit Card')
                             or credit_limit::double <> product_limit) as bad_limits,
            count(*) filter (where created_at < customer_created or modified_at < created_at
                             or open_date::date <> created_at::timestamp::date
                             or created_at::timestamp > DATE '{as_of}') as bad_dates,
            count(*) filter (where account_status = 'Closed' and current_balance <> '0.00')
                as closed_with_balance,
            max(slot) as most_accounts,
            count(distinct cust_id) as holders
        from a
        """.replace("{as_of}", str(vs.AS_OF))
    ).fetchall()
    *problems, most, holders = facts[0]
    assert problems == [0] * len(problems)
    assert most == max(vs.ACCOUNTS_PER_CUSTOMER) and holders == N
    currencies = db.execute(
        "select distinct c.country, a.currency from account a join customer c using (cust_id)"
    ).fetchall()
    assert all(vs.CURRENCY_BY_COUNTRY[country] == cur for country, cur in currencies)
    statuses = db.sql("select account_status from account").to_arrow_table().column(0)
    assert_shares(statuses, mix(vs.ACCOUNT_STATUSES, vs.ACCOUNT_STATUS_WEIGHTS))
    per_customer = db.sql("select count(*)::varchar from account group by cust_id").to_arrow_table()
    weights = mix([str(k) for k in vs.ACCOUNTS_PER_CUSTOMER], vs.ACCOUNTS_PER_CUSTOMER_WEIGHTS)
    assert_shares(per_customer.column(0), weights)


def test_transactions(db: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    transaction = tables["transaction"]
    per_customer = transaction.num_rows / N
    assert abs(per_customer - vs.TRANSACTIONS_PER_CUSTOMER) < 0.03 * vs.TRANSACTIONS_PER_CUSTOMER
    on_closed = scalar(
        db,
        "select count(*) from transaction t join account a using (account_id)"
        " where a.account_status not in ('Active', 'Dormant')",
    )
    assert on_closed == 0
    window_end = f"date_trunc('month', DATE '{vs.AS_OF}')"
    window_start = f"{window_end} - INTERVAL {vs.TRANSACTION_WINDOW_MONTHS} MONTH"
    outside = scalar(
        db,
        "select count(*) from transaction t join account a using (account_id) where"
        f" t.transaction_ts::timestamp < {window_start}"
        f" or t.transaction_ts::timestamp >= {window_end}"
        " or t.transaction_ts < a.created_at"
        " or t.created_at <> t.transaction_ts or t.modified_at <> t.transaction_ts",
    )
    assert outside == 0
    reasons = mix(vs.TRANSACTION_REASONS, vs.TRANSACTION_REASON_WEIGHTS)
    assert_shares(transaction["transaction_reason"], reasons)
    assert_shares(
        transaction["transaction_mode"],
        mix(vs.TRANSACTION_MODES, vs.TRANSACTION_MODE_WEIGHTS),
    )
    assert_shares(
        transaction["transaction_status"],
        mix(vs.TRANSACTION_STATUSES, vs.TRANSACTION_STATUS_WEIGHTS),
    )
    assert_shares(transaction["transaction_type"], {"Debit": 0.95, "Credit": 0.05})
    # Drawn in the reporting currency, paid in the account's: back at the base rates.
    medians = dict(
        db.execute(
            "select transaction_reason, median(t.amount::double * b.rate) from transaction t "
            "join (select unnest(?::varchar[]) as c, unnest(?::double[]) as rate) b "
            "on t.currency = b.c group by 1",
            [list(vs.FX_BASE_RATES), list(vs.FX_BASE_RATES.values())],
        ).fetchall()
    )
    for reason, (median, _) in vs.TRANSACTION_AMOUNT_PARAMS.items():
        assert abs(medians[reason] / median - 1) < 0.05, reason


def test_transactions_fill_whole_months_with_the_calendars_seasonality(
    db: duckdb.DuckDBPyConnection,
) -> None:
    """Every day of every window month has payments; volume follows the calendar, not a ramp."""
    months = db.execute(
        """select date_trunc('month', transaction_ts::timestamp)::date as month, count(*),
                  count(distinct transaction_ts::timestamp::date), count(distinct cust_id)
           from transaction group by 1 order by 1"""
    ).fetchall()
    assert len(months) == vs.TRANSACTION_WINDOW_MONTHS
    assert months[-1][0] == (vs.AS_OF.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    days = [calendar.monthrange(m.year, m.month)[1] for m, *_ in months]
    # Whole months: no part month at either end (the old window began on its last day).
    assert [d for _, _, d, _ in months] == days
    expected = [
        vs.TRANSACTION_MONTH_INTENSITY[m.month - 1] * d
        for (m, *_), d in zip(months, days, strict=True)
    ]
    volume = [n for _, n, _, _ in months]
    for m, n, e in zip(months, volume, expected, strict=True):
        share, expected_share = n / sum(volume), e / sum(expected)
        assert abs(share / expected_share - 1) < 0.03, (m[0], share, expected_share)
    # Festive December is the busiest month, February the quietest, and not three to one.
    assert max(volume) / min(volume) < 1.5
    # A stable customer base: the paying customers of a month stay within a band; the
    # last month (October, festive) has at most a fifth more than the first (November).
    active = [a for *_, a in months]
    assert max(active) / min(active) < 1.35
    assert active[-1] / active[0] < 1.2


# ---------------------------------------------------------------------------------------
# Determinism and Parquet
# ---------------------------------------------------------------------------------------
SMALL = 3_000
SMALL_CHUNK = 1_000


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.*"))}


def test_same_arguments_same_bytes(tmp_path: Path) -> None:
    generate_landing(tmp_path / "a", SMALL, seed=3, chunk_customers=SMALL_CHUNK)
    generate_landing(tmp_path / "b", SMALL, seed=3, chunk_customers=SMALL_CHUNK)
    generate_landing(tmp_path / "c", SMALL, seed=4, chunk_customers=SMALL_CHUNK)
    first, second = file_bytes(tmp_path / "a"), file_bytes(tmp_path / "b")
    parts = SMALL // SMALL_CHUNK  # product, fx_rate and campaign: one file each
    assert len(first) == len(ONE_FILE_ENTITIES) + (len(em.ENTITY_NAMES) - 3) * parts
    assert first == second
    other = file_bytes(tmp_path / "c")
    for entity in ("customer", "account", "transaction", "fx_rate"):
        name = f"{entity}/{entity}_s3_p00000.csv"
        assert first[name] != other[name.replace("_s3_", "_s4_")]


def test_parquet_holds_the_csv_text(tmp_path: Path) -> None:
    csv_stats = generate_landing(tmp_path / "csv", SMALL, seed=5, chunk_customers=SMALL_CHUNK)
    pq_stats = generate_landing(
        tmp_path / "pq", SMALL, seed=5, fmt="parquet", chunk_customers=SMALL_CHUNK
    )
    assert pq_stats.rows == csv_stats.rows
    assert all(p.suffix == ".parquet" for p in pq_stats.files)
    for name in em.ENTITY_NAMES:
        from_csv = read_csv_parts(tmp_path / "csv" / name).drop_columns([""])
        parts = sorted((tmp_path / "pq" / name).glob("*.parquet"))
        from_parquet = pa.concat_tables([pq.read_table(p) for p in parts])
        assert from_parquet.num_rows == csv_stats.rows[name]
        assert from_parquet.column_names == from_csv.column_names
        assert from_parquet.equals(from_csv), name


@pytest.mark.parametrize("opened", ["before", "during", "after"])
def test_transaction_times_never_precede_the_account(opened: str) -> None:
    """Accounts all opened before, during or after the window: times stay in their place."""
    from fs_assets.generator.accounts import AccountChunk
    from fs_assets.generator.timing import (
        MONTH_EDGES,
        MONTH_SHARE,
        MonthlyRates,
        transaction_times,
    )
    from fs_assets.generator.transactions import RATE_PER_ACCOUNT, draw_transaction_counts

    n = 2_000
    rng = np.random.default_rng(11)
    start, end = int(MONTH_EDGES[0]), int(MONTH_EDGES[-1])
    low, high = {
        "before": (start - 400 * 86_400, start),
        "during": (start + 150 * 86_400, end - 1),
        "after": (end, end + 20 * 86_400),
    }[opened]
    ids = pa.array([str(i) for i in range(n)])
    accounts = AccountChunk(
        columns={},
        account_id=ids,
        cust_id=ids,
        currency=np.zeros(n, dtype=np.int64),
        transacting=np.arange(n) % 10 != 0,  # every tenth account is closed
        created_s=rng.integers(low, high, n),
    )
    counts = draw_transaction_counts(rng, accounts)
    assert counts[~accounts.transacting].sum() == 0
    if opened == "after":
        assert counts.sum() == 0
        return
    # Each month from the first opening on has its share of the year's volume; months
    # before any account opened have none.
    first = int(np.searchsorted(MONTH_EDGES, accounts.created_s.min(), side="right")) - 1
    share = MONTH_SHARE[max(first, 0) :].sum()
    expected = RATE_PER_ACCOUNT * accounts.transacting.sum() * share
    assert abs(counts.sum() / expected - 1) < 0.05
    account = np.repeat(np.arange(n), counts)
    ts = transaction_times(rng, MonthlyRates.of(accounts, RATE_PER_ACCOUNT), accounts, account)
    assert (ts >= accounts.created_s[account]).all()
    assert (ts >= start).all() and (ts < end).all()


def test_marketing_permissions(tables: dict[str, pa.Table]) -> None:
    """Consent and do-not-contact are drawn per customer at their model rates."""
    customer = tables["customer"]
    assert_shares(
        customer["marketing_consent"],
        dict(zip(vs.YES_NO, vs.MARKETING_CONSENT_WEIGHTS, strict=True)),
    )
    assert_shares(
        customer["do_not_contact"], dict(zip(vs.YES_NO, vs.DO_NOT_CONTACT_WEIGHTS, strict=True))
    )
