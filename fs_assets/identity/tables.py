"""The tables identity resolution writes, named once, and their empty forms.

When only one source has landed there is nothing to link: every table is still there
(empty, or as the last multi-source run left the mastered ones), so readers and the
catalog find what the definitions declare.
"""

from __future__ import annotations

import duckdb

from fs_assets.identity import canonical
from fs_assets.identity.canonical import SCHEMA
from fs_assets.identity.golden_entity import GOLDEN_ENTITY
from fs_assets.model.keys import MASTERED_SCHEMA

RECORDS = f"{SCHEMA}.records"
FEATURES = f"{SCHEMA}.features"
PAIRS = f"{SCHEMA}.pairs"
CLUSTER_EDGES = f"{SCHEMA}.cluster_edges"
CUT_EDGES = f"{SCHEMA}.cut_edges"
CLUSTERS = f"{SCHEMA}.clusters"
REVIEW_PAIRS = f"{SCHEMA}.review_pairs"
GOLDEN_ID_LOG = f"{SCHEMA}.golden_id_log"
# What the last run linked, for an incremental re-link (fs_assets/identity/incremental.py).
SCORED_FEATURES = f"{SCHEMA}.scored_features"  # the features as last scored
LINK_STATE = f"{SCHEMA}.link_state"  # the model the pairs were scored with
CLUSTERED_RECORDS = f"{SCHEMA}.clustered_records"  # records and national ids last clustered
CLUSTERED_PAIRS = f"{SCHEMA}.clustered_pairs"  # strong pairs last clustered
COMPONENTS = f"{SCHEMA}.components"  # connected components before any cut
READ_STATE = f"{SCHEMA}.read_state"  # the mastered builds identity.records was read from
SURVIVED = f"{SCHEMA}.survived"  # golden id -> fingerprint of its records as last survived
SNAPSHOTS = (
    READ_STATE,
    SURVIVED,
    SCORED_FEATURES,
    LINK_STATE,
    CLUSTERED_RECORDS,
    CLUSTERED_PAIRS,
    COMPONENTS,
)
CUSTOMER_IDENTITY = f"{MASTERED_SCHEMA}.customer_identity"
GOLDEN_CUSTOMER = f"{MASTERED_SCHEMA}.golden_customer"
# What identity resolution gives the rest of the warehouse: on the Spark engine each is
# also a Spark table behind its own build manifest (`IdentityBackend.publish`).
PUBLISHED = (CUSTOMER_IDENTITY, GOLDEN_CUSTOMER)

_PAIR_COLUMNS = (
    "unique_id_l varchar, unique_id_r varchar, match_weight double, match_probability double"
)
WORKING_DDL = {
    PAIRS: _PAIR_COLUMNS,
    REVIEW_PAIRS: _PAIR_COLUMNS,
    # edge_reason: NULL for a scored pair, the override's reason for a must-link edge
    CLUSTER_EDGES: f"{_PAIR_COLUMNS}, edge_reason varchar",
    # edge_reason: the cannot-link override that cut the edge
    CUT_EDGES: f"{_PAIR_COLUMNS}, edge_reason varchar",
    CLUSTERS: "unique_id varchar, cluster_id varchar",
}
LOG_DDL = (
    "logged_at timestamp, run_id varchar, event varchar, golden_id varchar, "
    "other_golden_id varchar, unique_id_l varchar, unique_id_r varchar, "
    "match_weight double, reason varchar"
)
CUSTOMER_IDENTITY_DDL = "source varchar, source_id varchar, unique_id varchar, golden_id varchar"


def golden_customer_ddl() -> str:
    """The golden customer's columns (golden_entity.py declares them)."""
    return ", ".join(f"{c.name} {c.type.lower()}" for c in GOLDEN_ENTITY.columns)


def sources_linked(con: duckdb.DuckDBPyConnection) -> int:
    """How many sources `identity.records` holds (0 when it does not exist)."""
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = $s "
        "and table_name = 'records'",
        {"s": SCHEMA},
    ).fetchall()[0][0]
    if not found:
        return 0
    return con.execute(f"select count(distinct source) from {RECORDS}").fetchall()[0][0]


def create_kept_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The tables that outlive a run (golden ids, golden records, the log), if missing."""
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(f"create schema if not exists {MASTERED_SCHEMA}")
    con.execute(f"create table if not exists {GOLDEN_ID_LOG} ({LOG_DDL})")
    con.execute(f"create table if not exists {CUSTOMER_IDENTITY} ({CUSTOMER_IDENTITY_DDL})")
    con.execute(f"create table if not exists {GOLDEN_CUSTOMER} ({golden_customer_ddl()})")


def reset_working_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Empty working tables (nothing to link): records, features, pairs, edges, clusters."""
    canonical.create_records(con)
    canonical.latest_versions(con)
    canonical.standardise(con)
    for table, columns in WORKING_DDL.items():
        con.execute(f"create or replace table {table} ({columns})")
    for table in SNAPSHOTS:  # the next run links in full
        con.execute(f"drop table if exists {table}")
    create_kept_tables(con)
