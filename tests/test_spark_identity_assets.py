"""Identity resolution's assets on the Spark engine against the same assets on DuckDB.

One landing folder (the generator's files of every entity plus its CRM and card-platform
files and truth file) is built twice through Dagster, raw -> mastered -> identity -> the
golden customer's governed tables and the person-level marts (`customer_features`,
`cross_sell`): once with `engine: duckdb`, once with `engine: spark` (`local[2]`, the
process's one session). On Spark the sources are read from Spark's mastered tables,
Splink blocks, trains and scores on Spark, and `mastered.customer_identity` /
`mastered.golden_customer`, every role's `governed.<role>_golden_customer` and the marts
are Parquet tables behind their build manifests. The test requires the truth file's
precision and recall of both, the Spark tables to agree with DuckDB's (the same records,
the same people, the same golden records), every role's governed golden table to hold
the same masked values on both, and the marts to be DuckDB's row for row (the golden
ids, people and person features read from the identity tables Spark published).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
from engine_rows import differences, mart_columns, mart_rows
from sources_support import SPARK_TEST_CONF, sources_landing
from spark_graph import step_seconds

from asset_checks.identity_checks import IDENTITY_CHECKS
from fs_assets.defs.governed import GOVERNED_ASSETS
from fs_assets.defs.identity import IDENTITY_ASSETS
from fs_assets.defs.keys import (
    CLUSTER_VIEW_KEY,
    CLUSTERS_KEY,
    CUSTOMER_IDENTITY_KEY,
    GOLDEN_CUSTOMER_KEY,
    GOLDEN_ID_LOG_KEY,
    LINKAGE_MODEL_KEY,
    PREDICTIONS_KEY,
    REVIEW_PAIRS_KEY,
    SOURCE_RECORDS_KEY,
    mastered_key,
    raw_key,
)
from fs_assets.defs.marts import cross_sell, customer_features
from fs_assets.defs.mastered import MASTERED_ASSETS
from fs_assets.defs.raw import RAW_ASSETS
from fs_assets.defs.sources import SOURCE_ASSETS, SOURCE_ENTITIES
from fs_assets.engines.publish import current_build
from fs_assets.engines.spark_identity import WORK_FOLDER
from fs_assets.identity import tables
from fs_assets.identity.evaluate import pairwise_score, truth_path
from fs_assets.identity.golden_entity import GOLDEN_ENTITY
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import CROSS_SELL_PATH, FEATURES_PATH, MARTS_SCHEMA
from fs_assets.transforms.governance import GOVERNED_SCHEMA
from resources.landing_zone import LandingZoneResource
from resources.masking_key import MaskingKeyResource
from resources.warehouse import WarehouseResource

pytestmark = pytest.mark.slow

CUSTOMERS = 300  # core customers; about 620 source records in three sources
MASKING_KEY = "spark-identity-assets-key-0123456789"
# Fewer random pairs for u than the default: the sample is small, and on Spark each
# training step is a few jobs (its cost is their overhead, not the data).
TRAINING = {"ops": {"identity__linkage_model": {"config": {"u_max_pairs": 1e5}}}}
STEP_SECONDS: dict[str, dict[str, float]] = {}  # each engine's build, step by step
PRECISION, RECALL = 0.99, 0.98  # what the DuckDB assets must meet (test_identity_assets)
# A role per masking operator: keyed hash (restricted-acess), quarter bucket
# (dob-bucketing), pass-through (pii-reader); each also redacts what it is not granted.
GOLDEN_VIEWS = tuple(
    f"{r}_{GOLDEN_ENTITY.name}" for r in ("restricted_acess", "dob_bucketing", "pii_reader")
)


def _golden_assets() -> list[dg.AssetsDefinition]:
    return [a for a in GOVERNED_ASSETS if a.key.path[-1] in GOLDEN_VIEWS]


def _build(home: Path, engine: str, keys: list[dg.AssetKey] | None = None) -> None:
    """Raw and mastered of every entity and the sources, the identity assets and checks,
    the roles' governed golden customers and the person-level marts, on `engine` (or only
    `keys`)."""
    entities = [*ENTITIES, *(e.name for e in SOURCE_ENTITIES)]
    data_keys = [k(e) for e in entities for k in (raw_key, mastered_key)]
    readers = [*_golden_assets(), customer_features, cross_sell]  # of the identity tables
    identity = [a for a in IDENTITY_ASSETS if CLUSTER_VIEW_KEY not in a.keys]
    spark = {"spark_master": "local[2]", "spark_conf": SPARK_TEST_CONF}
    warehouse = WarehouseResource(
        home=str(home), engine=engine, lock_timeout_s=60, **(spark if engine == "spark" else {})
    )
    assets = [*RAW_ASSETS, *MASTERED_ASSETS, *SOURCE_ASSETS, *identity, *readers]
    keys = keys or [*data_keys, *(k for a in [*identity, *readers] for k in a.keys)]
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*assets, *IDENTITY_CHECKS],
            selection=dg.AssetSelection.assets(*keys),
            instance=instance,
            run_config=TRAINING if LINKAGE_MODEL_KEY in keys else {},
            resources={
                "warehouse": warehouse,
                "landing": LandingZoneResource(home=str(home)),
                "masking_key": MaskingKeyResource(key=MASKING_KEY),
            },
        )
        assert result.success
        STEP_SECONDS.setdefault(engine, step_seconds(instance, result.run_id))


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same landing folder built on each engine; the data folder of each."""
    base = tmp_path_factory.mktemp("spark_identity_assets")
    landing = sources_landing(base / "landing", CUSTOMERS, 5, keep=ENTITIES)
    out = {}
    for engine in ("duckdb", "spark"):
        home = base / engine
        shutil.copytree(landing, home / "landing")
        shutil.copy(truth_path(landing), truth_path(home / "landing"))
        out[engine] = home
    # A killed step's work folder (features: PII): the next identity step deletes it.
    killed = out["spark"] / "warehouse" / WORK_FOLDER / "killed-step" / "features"
    killed.mkdir(parents=True)
    (killed / "part-0.parquet").write_bytes(b"planted")
    for engine, home in out.items():
        _build(home, engine)
    return out


def _parquet(home: Path, schema: str, name: str) -> str:
    """The Parquet files of a Spark table's current version, as a plain reader finds them
    (its build manifest), for DuckDB's read_parquet."""
    folder = current_build(home / "warehouse", f"{schema}.{name}")[f"{schema}/{name}"]
    return str(folder / "*.parquet")


def test_spark_identity_tables_are_published_and_agree_with_duckdbs(homes, record_property) -> None:
    record_property("step_seconds", STEP_SECONDS)
    duck = duckdb.connect(str(homes["duckdb"] / "warehouse.duckdb"), read_only=True)
    spark_home = homes["spark"]
    con = duckdb.connect()
    con.execute(
        "create table spark_identity as select * from read_parquet(?)",
        [_parquet(spark_home, *tables.CUSTOMER_IDENTITY.split("."))],
    )
    con.execute(
        "create table spark_golden as select * from read_parquet(?)",
        [_parquet(spark_home, *tables.GOLDEN_CUSTOMER.split("."))],
    )
    records = duck.execute(f"select count(*) from {tables.CUSTOMER_IDENTITY}").fetchone()[0]
    assert records > CUSTOMERS
    # A plain pyarrow reader finds the same tables by their build manifests.
    for table, rows in ((tables.CUSTOMER_IDENTITY, records), (tables.GOLDEN_CUSTOMER, None)):
        folder = Path(_parquet(spark_home, *table.split("."))).parent
        expected = rows or con.execute("select count(*) from spark_golden").fetchone()[0]
        assert pq.read_table(folder).num_rows == expected > 0, table
    # The same records, each with one golden id, on both.
    spark_ids = con.execute("select source, source_id from spark_identity order by all").fetchall()
    duck_ids = duck.execute(
        f"select source, source_id from {tables.CUSTOMER_IDENTITY} order by all"
    ).fetchall()
    assert spark_ids == duck_ids and len(set(spark_ids)) == records
    # Against the truth file, as DuckDB's build is held to it.
    truth = truth_path(spark_home / "landing")
    spark_score = pairwise_score(con, truth, "spark_identity")
    duck_score = pairwise_score(duck, truth, tables.CUSTOMER_IDENTITY)
    for score in (spark_score, duck_score):
        assert score.precision >= PRECISION and score.recall >= RECALL, score
    # The same people: each engine's record pairs of one golden id, the other's too.
    duck_pairs = set(_co_clustered(duck, tables.CUSTOMER_IDENTITY))
    spark_pairs = set(_co_clustered(con, "spark_identity"))
    agree = len(duck_pairs & spark_pairs) / max(len(duck_pairs | spark_pairs), 1)
    assert agree >= 0.99, (len(duck_pairs), len(spark_pairs), agree)
    # The same golden records, golden ids aside (numbered by cluster: the same when the
    # clusters are): one row per person, the values and winning sources per attribute.
    columns = [c.name for c in GOLDEN_ENTITY.columns if c.name not in ("golden_id",)]
    listed = ", ".join(f'"{c}"' for c in columns)
    spark_rows = con.execute(f"select {listed} from spark_golden order by all").fetchall()
    duck_rows = duck.execute(
        f"select {listed} from {tables.GOLDEN_CUSTOMER} order by all"
    ).fetchall()
    same = _overlap(spark_rows, duck_rows)
    assert len(spark_rows) == len(set(_hashable(spark_rows))) and same >= 0.98, same
    if duck_pairs == spark_pairs:
        assert spark_rows == duck_rows
    # Splink's work folders (PII: the features) are gone after every step, a killed
    # step's too.
    work = spark_home / "warehouse" / WORK_FOLDER
    assert not work.exists() or not any(work.iterdir())


def _co_clustered(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return con.execute(
        f"select a.unique_id, b.unique_id from {table} a join {table} b "
        "on a.golden_id = b.golden_id and a.unique_id < b.unique_id"
    ).fetchall()


def _duckdb_governed(home: Path, view: str) -> list[tuple]:
    """A DuckDB governed view's rows, read with the build's masking key set."""
    warehouse = WarehouseResource(home=str(home))
    key = MaskingKeyResource(key=MASKING_KEY).get()
    with warehouse.open_engine() as engine, engine.reading(key) as reader:
        return reader.execute(f"select * from {GOVERNED_SCHEMA}.{view} order by all").fetchall()


def _hashable(rows: list[tuple]) -> list[tuple]:
    """Rows with their list values (the golden record's `sources`) as tuples."""
    return [tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in rows]


def _overlap(left: list[tuple], right: list[tuple]) -> float:
    left, right = _hashable(left), _hashable(right)
    return len(set(left) & set(right)) / max(len(set(left) | set(right)), 1)


def test_governed_golden_tables_hold_the_same_masked_values_on_spark(homes) -> None:
    views = [a.key.path[-1] for a in _golden_assets()]
    assert len(views) == len(GOLDEN_VIEWS)
    con = duckdb.connect()
    same_people = _co_clustered_both(homes)
    for view in views:
        spark_rows = con.execute(
            "select * from read_parquet(?) order by all",
            [_parquet(homes["spark"], GOVERNED_SCHEMA, view)],
        ).fetchall()
        duck_rows = _duckdb_governed(homes["duckdb"], view)
        assert len(spark_rows) > CUSTOMERS // 2, view
        # The same policies give the same masked values (golden ids are keyed tokens:
        # the same when the engines found the same people).
        if same_people:
            assert spark_rows == duck_rows, view
        else:
            assert _overlap(spark_rows, duck_rows) >= 0.98, view


def _co_clustered_both(homes: dict[str, Path]) -> bool:
    """Whether both engines put exactly the same records together."""
    duck = duckdb.connect(str(homes["duckdb"] / "warehouse.duckdb"), read_only=True)
    con = duckdb.connect()
    spark = _parquet(homes["spark"], *tables.CUSTOMER_IDENTITY.split("."))
    con.execute("create table spark_identity as select * from read_parquet(?)", [spark])
    return set(_co_clustered(duck, tables.CUSTOMER_IDENTITY)) == set(
        _co_clustered(con, "spark_identity")
    )


def test_spark_marts_are_duckdbs_person_for_person(homes) -> None:
    """The features and cross-sell on Spark join the identity tables Spark's identity
    assets published, as DuckDB's join its file's: the same golden ids, people, person
    records and person features, and so the same archetypes and cards, row for row."""
    assert _co_clustered_both(homes), "the engines linked other people: no mart can agree"
    duck = duckdb.connect(str(homes["duckdb"] / "warehouse.duckdb"), read_only=True)
    for name in (FEATURES_PATH[-1], CROSS_SELL_PATH[-1]):
        ours = mart_rows(duck, f"{MARTS_SCHEMA}.{name}")
        theirs = mart_rows(duck, "read_parquet(?)", [_parquet(homes["spark"], MARTS_SCHEMA, name)])
        differ = differences(mart_columns(duck, f"{MARTS_SCHEMA}.{name}"), ours, theirs)
        assert len(ours) == len(theirs) >= CUSTOMERS and not differ, (name, differ[:5])
    # People, not records of their own: most core customers carry a golden id.
    linked = duck.execute(
        f"select count(golden_id) from {MARTS_SCHEMA}.{FEATURES_PATH[-1]}"
    ).fetchone()[0]
    assert linked > CUSTOMERS // 2


def _logged(home: Path) -> int:
    """How many merges, splits and retirements the golden id log holds (the state file)."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as state:
        return state.execute(f"select count(*) from {tables.GOLDEN_ID_LOG}").fetchone()[0]


def test_a_second_spark_run_keeps_every_golden_id_and_publishes_a_new_version(homes) -> None:
    """The stable-id code on Spark's build: a relink of the same records renumbers no one
    and logs nothing; the tables are published again, as new versions. (Last in the
    module: it relinks the Spark data folder the tests above read.)"""
    home = homes["spark"]
    identity = tables.CUSTOMER_IDENTITY.split(".")
    con = duckdb.connect()
    read = "select unique_id, golden_id from read_parquet(?) order by all"
    before_files = _parquet(home, *identity)
    before, logged = con.execute(read, [before_files]).fetchall(), _logged(home)
    relink = [SOURCE_RECORDS_KEY, PREDICTIONS_KEY, CLUSTERS_KEY, REVIEW_PAIRS_KEY,
              CUSTOMER_IDENTITY_KEY, GOLDEN_ID_LOG_KEY, GOLDEN_CUSTOMER_KEY]  # fmt: skip
    _build(home, "spark", relink)
    after_files = _parquet(home, *identity)
    assert after_files != before_files
    assert con.execute(read, [after_files]).fetchall() == before
    assert _logged(home) == logged
