"""Identity resolution as Dagster assets and checks, on a real instance and DuckDB file: a
no-op without multi-source data, the linked tables and the model's metadata and charts,
each check failing on planted bad data, stable golden ids across a second batch, and
overrides flipping a decision both ways."""

from __future__ import annotations

import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from asset_checks.identity_checks import IDENTITY_CHECKS
from fs_assets.defs.identity import IDENTITY_ASSETS, NO_DATA
from fs_assets.defs.keys import (
    CLUSTERS_KEY,
    CUSTOMER_IDENTITY_KEY,
    GOLDEN_CUSTOMER_KEY,
    GOLDEN_ID_LOG_KEY,
    LINKAGE_MODEL_KEY,
    PREDICTIONS_KEY,
    REVIEW_PAIRS_KEY,
    SOURCE_RECORDS_KEY,
)
from fs_assets.generator import generate_landing
from fs_assets.generator.sources import generate_sources
from fs_assets.model.paths import DataPaths
from resources.landing_zone import LandingZoneResource
from resources.warehouse import WarehouseResource
from tests.pii_scan import scan

CUSTOMERS = 300  # core customers; about 620 source records in three sources
TRAINING = {"ops": {"identity__linkage_model": {"config": {"u_max_pairs": 1e5}}}}
RELINK = [SOURCE_RECORDS_KEY, PREDICTIONS_KEY, CLUSTERS_KEY, REVIEW_PAIRS_KEY,
          CUSTOMER_IDENTITY_KEY, GOLDEN_ID_LOG_KEY, GOLDEN_CUSTOMER_KEY]  # fmt: skip


def _landing(root: Path, sources: bool) -> Path:
    landing = root / "landing"
    generate_landing(landing, customers=CUSTOMERS, seed=5)
    for folder in landing.iterdir():
        if folder.name != "customer":
            shutil.rmtree(folder)
    if sources:
        generate_sources(landing, seed=5)
    return root


def _materialize(
    root: Path, keys: Sequence[dg.AssetKey] | None = None, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    """Materialize identity assets (all, or `keys`) with their checks on a real instance."""
    resources = {
        "warehouse": WarehouseResource(home=str(root)),
        "landing": LandingZoneResource(home=str(root)),
    }
    selection = dg.AssetSelection.assets(*keys) if keys else None
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [*IDENTITY_ASSETS, *IDENTITY_CHECKS],
            resources=resources,
            instance=instance,
            selection=selection,
            run_config=run_config or (TRAINING if keys is None else {}),
            raise_on_error=False,
        )


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.materialization.asset_key == key
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _run_check(root: Path, name: str) -> dg.AssetCheckResult:
    """One identity check called on the data folder as it is (the fixture's run shows
    them all passing inside a materialization)."""
    warehouse = WarehouseResource(home=str(root))
    landing = LandingZoneResource(home=str(root))
    (check,) = [c for c in IDENTITY_CHECKS if next(iter(c.check_specs)).name == name]
    if name == "precision_recall_against_truth":
        return check(warehouse=warehouse, landing=landing)
    return check(warehouse=warehouse)


def _execute(root: Path, sql: str, params: dict | None = None) -> None:
    with duckdb.connect(str(DataPaths(root).warehouse)) as con:
        con.execute(sql, params or {})


def _query(root: Path, sql: str, params: dict | None = None) -> list[tuple]:
    with duckdb.connect(str(DataPaths(root).warehouse), read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


@pytest.fixture(scope="module")
def linked_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Three sources landed and every identity asset and check materialized once."""
    root = _landing(tmp_path_factory.mktemp("identity_assets"), sources=True)
    result = _materialize(root)
    assert result.success
    return root, {
        "model": _metadata(result, LINKAGE_MODEL_KEY),
        "clusters": _metadata(result, CLUSTERS_KEY),
        "predictions": _metadata(result, PREDICTIONS_KEY),
        "checks": _checks(result),
    }


@pytest.fixture
def linked(tmp_path: Path, linked_template: tuple[Path, dict]) -> Path:
    """A private copy of the linked data folder."""
    root = tmp_path / "home"
    shutil.copytree(linked_template[0], root)
    return root


def test_core_feed_only_is_a_no_op_that_says_so(tmp_path: Path) -> None:
    root = _landing(tmp_path, sources=False)
    result = _materialize(root)
    assert result.success
    for key in (SOURCE_RECORDS_KEY, LINKAGE_MODEL_KEY, CUSTOMER_IDENTITY_KEY, GOLDEN_CUSTOMER_KEY):
        assert _metadata(result, key)["status"] == NO_DATA
    assert all(c.passed for c in _checks(result).values())
    counts = _query(
        root,
        "select (select count(*) from identity.records), (select count(*) from "
        "mastered.customer_identity), (select count(*) from mastered.golden_customer)",
    )
    assert counts == [(0, 0, 0)]
    assert not DataPaths(root).identity_model.exists()


def test_assets_link_the_sources_and_the_checks_pass(linked_template) -> None:
    root, seen = linked_template
    checks = seen["checks"]
    assert set(checks) == {
        "one_golden_id_per_record",
        "one_national_id_per_person",
        "precision_recall_against_truth",
    }
    assert all(c.passed for c in checks.values()), checks
    score = checks["precision_recall_against_truth"].metadata
    assert score["precision"].value >= 0.99 and score["recall"].value >= 0.98
    assert score["true_pairs"].value > 200
    records, linked, people, golden = _query(
        root,
        "select (select count(*) from identity.records), (select count(distinct unique_id) "
        "from mastered.customer_identity), (select count(distinct golden_id) from "
        "mastered.customer_identity), (select count(*) from mastered.golden_customer)",
    )[0]
    assert records == linked > CUSTOMERS and people == golden < records
    low, high = _query(
        root, "select min(match_probability), max(match_probability) from identity.review_pairs"
    )[0]
    assert low is None or 0.5 <= low <= high < 0.95
    assert seen["predictions"]["candidate_pairs"] >= seen["predictions"]["dagster/row_count"] > 0
    assert "| 2 |" in seen["clusters"]["cluster_sizes"]


def test_the_model_is_saved_owner_only_and_shown_with_its_charts(linked_template) -> None:
    root, seen = linked_template
    model = seen["model"]
    path = DataPaths(root).identity_model
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert 0 < model["lambda"] < 1
    assert (
        "| email |" in model["m_u_parameters"]
        and "| first_name_last_name |" in model["m_u_parameters"]
    )
    for chart in ("match_weights", "m_u_parameters"):
        assert (
            model[f"chart/{chart}"].startswith("**")
            and "data:image/png;base64," in model[f"chart/{chart}"]
        )
        html = Path(model[f"chart/{chart}_html"])
        assert html.parent == DataPaths(root).reports / "identity"
        assert "vega" in html.read_text(encoding="utf-8")
    # Nothing outside the warehouse holds a record's values: the model and the charts.
    rows = _query(root, "select email, mobile, address_line1 from identity.records")
    values = {
        "email": {r[0] for r in rows if r[0]},
        "mobile": {r[1] for r in rows if r[1] and len(r[1]) >= 8},
        "address": {r[2] for r in rows if r[2] and len(r[2]) >= 8},
    }
    files = [path, *(DataPaths(root).reports / "identity").iterdir()]
    assert scan(files, values) == []


@pytest.mark.parametrize(
    ("check", "plant"),
    [
        (
            "one_golden_id_per_record",
            "delete from mastered.customer_identity where unique_id = "
            "(select min(unique_id) from mastered.customer_identity)",
        ),
        (
            "one_golden_id_per_record",
            "insert into mastered.customer_identity select source, source_id, unique_id, "
            "'G9999999999' from mastered.customer_identity limit 1",
        ),
        (
            "one_national_id_per_person",
            "update identity.features set national_id = 'PLANTED' || unique_id "
            "where unique_id in (select unique_id from mastered.customer_identity where "
            "golden_id = (select golden_id from mastered.customer_identity group by all "
            "having count(*) > 1 order by golden_id limit 1))",
        ),
        (
            "precision_recall_against_truth",
            "update mastered.customer_identity set golden_id = 'G0000000001'",
        ),
    ],
)
def test_each_check_fails_on_planted_bad_data(
    linked_template, linked: Path, check: str, plant: str
) -> None:
    assert linked_template[1]["checks"][check].passed
    _execute(linked, plant)
    evaluation = _run_check(linked, check)
    assert not evaluation.passed, evaluation.metadata
