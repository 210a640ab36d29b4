"""Identity resolution as Dagster assets and checks, on a real instance and DuckDB file: a
no-op without multi-source data, the linked tables and the model's metadata and charts,
each check failing on planted bad data, stable golden ids across a second batch, and
overrides flipping a decision both ways."""

from __future__ import annotations

import csv
import logging
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from asset_checks.identity_checks import IDENTITY_CHECKS
from fs_assets.catalog.graph_view import MASKED_TAG
from fs_assets.defs.governed import GOVERNED_ASSETS
from fs_assets.defs.identity import IDENTITY_ASSETS, NO_DATA, UNCHANGED, splink_messages_to
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
)
from fs_assets.defs.sources import SOURCE_ENTITIES
from fs_assets.engines.duckdb_engine import ingest_files
from fs_assets.generator import generate_landing
from fs_assets.generator.sources import generate_sources
from fs_assets.identity import link
from fs_assets.identity.overrides import Overrides
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.paths import PROJECT_ROOT, DataPaths
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS
from fs_assets.transforms.governance.export import export_role, exported_tables
from fs_assets.transforms.governance.lead_list import LEADS
from fs_assets.transforms.governance.masking_key import MaskingKey
from fs_assets.transforms.governance.policies import (
    ANALYST,
    BRANCH_MAHARASHTRA,
    DOB_BUCKETING,
    PII_READER,
    RESTRICTED,
    SALES,
)
from fs_assets.transforms.landing_files import list_landing
from fs_assets.transforms.mastering import build_mastered
from resources.landing_zone import LandingZoneResource
from resources.masking_key import MaskingKeyResource
from resources.warehouse import WarehouseResource
from tests.pii_scan import pii_values, scan, vocabulary

MASKING_KEY = "identity-test-key-0123456789"
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
    _master_landed(root)
    return root


def _master_landed(root: Path) -> None:
    """Raw and mastered of the core feed and every source: linkage reads mastered."""
    with duckdb.connect(str(DataPaths(root).warehouse)) as con:
        for schema in LAYER_SCHEMAS:
            con.execute(f"create schema if not exists {schema}")
        for ent in (CUSTOMER, *SOURCE_ENTITIES):
            files = list_landing(root / "landing" / ent.folder).files
            outcomes = ingest_files(con, ent, files, "test")
            assert all(o.status != "rejected" for o in outcomes), outcomes
            build_mastered(con, ent)


def _materialize(
    root: Path, keys: Sequence[dg.AssetKey] | None = None, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    """Materialize identity assets (all, or `keys`) with their checks on a real instance."""
    resources = {
        "warehouse": WarehouseResource(home=str(root)),
        "landing": LandingZoneResource(home=str(root)),
        "masking_key": MaskingKeyResource(key=MASKING_KEY),
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


def _query_rw(root: Path, sql: str, params: dict | None = None) -> list[tuple]:
    with duckdb.connect(str(DataPaths(root).warehouse)) as con:
        return con.execute(sql, params or {}).fetchall()


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
        "cluster_view": _metadata(result, CLUSTER_VIEW_KEY),
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


def test_every_table_identity_writes_is_declared_with_its_writer(linked_template) -> None:
    """The scanner's no_orphan_tables check fails on a table no asset declares: every
    table of the identity schema (the incremental state included) and the mastered
    identity tables are declared, each column described."""
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

    from fs_assets.catalog.tables import declared_tables
    from fs_assets.definitions import defs
    from fs_assets.defs.asset_graph import graph_view

    root, _ = linked_template
    declared = declared_tables(graph_view(AssetGraph.from_assets(list(defs.assets or ()))))
    written = _query(
        root,
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_catalog = current_database() and (table_schema = 'identity' or "
        "table_name in ('customer_identity', 'golden_customer'))",
    )
    assert len(written) >= 15
    undeclared = sorted(name for (name,) in written if name not in declared)
    assert undeclared == []
    for (name,) in written:
        columns = _query(
            root,
            "select column_name from information_schema.columns where table_catalog = "
            "current_database() and table_schema || '.' || table_name = $t",
            {"t": name},
        )
        described = {c.name for c in declared[name].columns}
        assert {c for (c,) in columns} <= described, name


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


def test_the_cluster_view_shows_keyed_tokens_and_no_pii_in_clear(linked_template) -> None:
    root, seen = linked_template
    view = seen["cluster_view"]
    assert view["clusters_shown"] == 12 and view["records_shown"] > 24
    assert "data:image/png;base64," in view["chart/cluster_view"]
    html = Path(view["chart/cluster_view_html"])
    assert html.parent == DataPaths(root).reports / "identity"
    png = html.with_suffix(".png")
    assert png.read_bytes().startswith(b"\x89PNG")
    rows = _query(
        root,
        "select r.first_name, r.last_name, r.email, r.mobile, r.national_id, "
        "r.address_line1, cast(r.date_of_birth as varchar), r.unique_id from identity.records r",
    )
    columns = ("first_name", "last_name", "email", "mobile", "national_id", "address", "dob",
               "record")  # fmt: skip
    values = {c: {str(r[i]) for r in rows if r[i] and len(str(r[i])) >= 5}
              for i, c in enumerate(columns)}  # fmt: skip
    assert scan([html, png], values) == []
    # The tokens are the masking operator's keyed hash: a record's e-mail is findable by
    # whoever holds the key, by no one else.
    text = html.read_text(encoding="utf-8")
    key = MaskingKey(MASKING_KEY.encode())
    shown = [e for e in values["email"] if key.token(e)[:8] in text]
    assert shown, "no e-mail token of the shown clusters found in the view"
    assert view["masking_key_id"] == key.key_id


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


def test_linkage_reads_by_the_mastered_rows_not_the_landing_folders(linked: Path) -> None:
    (records,) = _query(linked, "select count(*) from identity.records")[0]
    again = _materialize(linked, [SOURCE_RECORDS_KEY])
    assert _metadata(again, SOURCE_RECORDS_KEY)["status"] == UNCHANGED
    # The sources' landing files archived after mastering: still two sources to link.
    for folder in ("crm_contact", "card_holder"):
        shutil.rmtree(linked / "landing" / folder)
    archived = _metadata(_materialize(linked, [SOURCE_RECORDS_KEY]), SOURCE_RECORDS_KEY)
    assert archived["status"] == UNCHANGED and archived["dagster/row_count"] == records
    assert _query(linked, "select count(*) from identity.records") == [(records,)]
    # A mastered row removed without a mastering write: the row count says read again.
    _execute(linked, "delete from mastered.src_card_platform where source_id = "
             "(select min(source_id) from mastered.src_card_platform)")  # fmt: skip
    reread = _metadata(_materialize(linked, [SOURCE_RECORDS_KEY]), SOURCE_RECORDS_KEY)
    assert "status" not in reread and reread["dagster/row_count"] == records - 1
    assert set(reread["sources_linked"]) == {"core_banking", "card_platform", "crm"}


def _golden_ids(root: Path) -> dict[str, str]:
    return dict(_query(root, "select unique_id, golden_id from mastered.customer_identity"))


def _log(root: Path) -> list[tuple]:
    return _query(
        root,
        "select event, golden_id, other_golden_id, unique_id_l, unique_id_r, match_weight, "
        "reason from identity.golden_id_log order by all",
    )


def _land_second_batch(root: Path) -> tuple[str, str, str]:
    """A CRM file with a changed record, a new record of a core customer and a new
    person; returns their unique ids and the core customer's."""
    core_id, first, last, born, email, mobile = _query(
        root,
        "select unique_id, first_name, last_name, date_of_birth, email, mobile from "
        "identity.records where source = 'core_banking' and email is not null "
        "order by unique_id limit 1",
    )[0]
    changed = _query(
        root,
        "select source_id, first_name, last_name, date_of_birth, email, mobile "
        "from identity.records where source = 'crm' order by source_id limit 1",
    )[0]
    header = ["contact_id", "last_updated", "given_name", "middle_name", "family_name",
              "birth_date", "email_address", "phone", "address_street", "address_locality",
              "town", "region", "postal_code", "country_name"]  # fmt: skip
    stamp = "2030-01-01 00:00:00"
    rows = [
        [changed[0], stamp, changed[1], "", changed[2], changed[3], changed[4], changed[5],
         "", "New locality", "", "", "", ""],
        ["C90000001", stamp, first, "", last, born, email, mobile, "", "", "", "", "", ""],
        ["C90000002", stamp, "Zebulon", "", "Quixotewright", "1931-02-03",
         "zq@example.org", "9000000001", "", "", "", "", "", ""],
    ]  # fmt: skip
    path = root / "landing" / "crm_contact" / "crm batch 2 'late' ü.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return f"crm:{changed[0]}", "crm:C90000001", "crm:C90000002", core_id


def test_a_second_batch_changes_no_existing_golden_id(linked: Path) -> None:
    before = _golden_ids(linked)
    changed, joining, newcomer, core_id = _land_second_batch(linked)
    _master_landed(linked)
    result = _materialize(linked, RELINK)  # the saved model, not retrained
    assert result.success
    assert all(c.passed for c in _checks(result).values())
    after = _golden_ids(linked)
    retired = {other: golden for event, golden, other, *_ in _log(linked) if event == "merge"}
    split = {other for event, _, other, *_ in _log(linked) if event == "split"}
    for record, old in before.items():
        assert after[record] == retired.get(old, old) or old in split, record
    assert after[changed] == before[changed]
    assert after[joining] == before[core_id]
    assert after[newcomer] not in set(before.values())
    assert after[newcomer] > max(before.values())


FULL_RELINK = {
    "ops": {
        "identity__pairwise_predictions": {"config": {"full_relink": True}},
        "identity__clusters": {"config": {"full_relink": True}},
        "identity__golden_ids": {"config": {"full_relink": True}},
        "mastered__golden_customer": {"config": {"full_relink": True}},
    }
}


def _land_merge(root: Path) -> tuple[str, str]:
    """A CRM record alone in its golden id, landed again as a core customer of another
    golden id (same name, birth date, e-mail, mobile): its next link is a merge. Returns
    the CRM record's and the core customer's unique ids."""
    (crm_id,) = _query(
        root,
        "select min(unique_id) from mastered.customer_identity where source = 'crm' and "
        "golden_id in (select golden_id from mastered.customer_identity group by all "
        "having count(*) = 1)",
    )[0]
    core_id, first, last, born, email, mobile = _query(
        root,
        "select unique_id, first_name, last_name, date_of_birth, email, mobile from "
        "identity.records where source = 'core_banking' and email is not null "
        "and mobile is not null order by unique_id desc limit 1",
    )[0]
    header = ["contact_id", "last_updated", "given_name", "family_name", "birth_date",
              "email_address", "phone"]  # fmt: skip
    row = [crm_id.split(":", 1)[1], "2030-01-02 00:00:00", first, last, born, email, mobile]
    full = ["contact_id", "last_updated", "given_name", "middle_name", "family_name",
            "birth_date", "email_address", "phone", "address_street", "address_locality",
            "town", "region", "postal_code", "country_name"]  # fmt: skip
    values = dict(zip(header, row, strict=True))
    path = root / "landing" / "crm_contact" / "crm batch 3 [merge].csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([full, [values.get(c, "") for c in full]])
    return crm_id, core_id


def _partition(root: Path) -> set[frozenset[str]]:
    rows = _query(root, "select cluster_id, list(unique_id) from identity.clusters group by 1")
    return {frozenset(members) for _, members in rows}


def test_an_incremental_relink_equals_a_full_one_with_a_merge(linked: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    shutil.copytree(linked, full)
    before = _golden_ids(linked)
    for root in (linked, full):
        _land_second_batch(root)
        moved, core_id = _land_merge(root)
        _master_landed(root)
    incremental = _materialize(linked, RELINK)
    complete = _materialize(full, RELINK, FULL_RELINK)
    assert incremental.success and complete.success
    predicted = _metadata(incremental, PREDICTIONS_KEY)
    clustered = _metadata(incremental, CLUSTERS_KEY)
    assert predicted["mode"] == clustered["mode"] == "incremental"
    assert _metadata(complete, PREDICTIONS_KEY)["mode"] == "full"
    records = len(_golden_ids(linked))
    # Four CRM records landed (one changed only outside what linkage compares).
    assert 3 <= predicted["records_rescored"] <= 4
    assert 0 < clustered["records_reclustered"] < records / 10
    assert _partition(linked) == _partition(full)
    assert _golden_ids(linked) == _golden_ids(full)
    # Golden ids and survivorship follow the changed people only, to the same tables.
    assigned = _metadata(incremental, CUSTOMER_IDENTITY_KEY)
    survived = _metadata(incremental, GOLDEN_CUSTOMER_KEY)
    assert assigned["mode"] == survived["mode"] == "incremental"
    assert _metadata(complete, GOLDEN_CUSTOMER_KEY)["mode"] == "full"
    assert 0 < assigned["records_assigned"] < records / 10
    assert 0 < survived["people_recomputed"] < survived["dagster/row_count"] / 10
    golden = "select * from mastered.golden_customer order by golden_id"
    assert _query(linked, golden) == _query(full, golden)
    strong = (
        "select unique_id_l, unique_id_r from identity.pairs where match_probability >= 0.95 "
        "order by all"
    )
    assert _query(linked, strong) == _query(full, strong)
    events = [row[:3] for row in _log(linked)]
    assert events == [row[:3] for row in _log(full)]
    after = _golden_ids(linked)
    assert after[moved] == after[core_id] == before[core_id]
    assert ("merge", before[core_id], before[moved]) in events or (
        "merge",
        before[moved],
        before[core_id],
    ) in events
    assert all(c.passed for c in _checks(incremental).values())


def test_a_clustering_killed_half_way_is_redone_in_full(
    linked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the clusters table was rewritten for its scope only: the snapshot
    was dropped first, so the next run clusters everything again and loses no record."""
    expected = _partition(linked)
    real = link._components

    def killed(*args: object) -> None:
        real(*args)
        raise RuntimeError("killed")

    with duckdb.connect(str(DataPaths(linked).warehouse)) as con:
        monkeypatch.setattr(link, "_components", killed)
        with pytest.raises(RuntimeError, match="killed"):
            link.cluster_with_overrides(con, link.Thresholds(), Overrides())
        monkeypatch.undo()
        assert con.execute("select count(*) from identity.clusters").fetchall() != [
            (sum(len(c) for c in expected),)
        ]
        again = link.cluster_with_overrides(con, link.Thresholds(), Overrides())
        assert again.records_reclustered is None  # in full
        incremental = link.cluster_with_overrides(con, link.Thresholds(), Overrides())
        assert incremental.records_reclustered == 0
    assert _partition(linked) == expected


def test_a_golden_id_whose_records_all_disappear_is_logged_retired(linked: Path) -> None:
    before = _golden_ids(linked)
    gone, golden = _query(
        linked,
        "select min(unique_id), golden_id from mastered.customer_identity group by golden_id "
        "having count(*) = 1 and min(source) = 'crm' order by golden_id limit 1",
    )[0]
    # The CRM withdrew the record: its mastered row is deleted (as a source's deletion).
    delete = "delete from mastered.src_crm where source_id = $id returning source_id"
    assert _query_rw(linked, delete, {"id": gone.split(":")[1]}) == [(gone.split(":")[1],)]
    result = _materialize(linked, RELINK)
    assert result.success
    after = _golden_ids(linked)
    assert gone not in after and golden not in set(after.values())
    retired = [row for row in _log(linked) if row[0] == "retire"]
    assert [(r[1], r[2], r[3]) for r in retired] == [(golden, None, gone)]
    assert "no record of it is read any more" in retired[0][6]
    assert _metadata(result, GOLDEN_ID_LOG_KEY)["retired_this_run"] == 1
    assert {r: g for r, g in after.items()} == {r: g for r, g in before.items() if r != gone}


def _overrides(root: Path, kind: str, left: str, right: str, reason: str) -> Path:
    path = root / "overrides.yaml"
    (ls, li), (rs, ri) = left.split(":", 1), right.split(":", 1)
    path.write_text(
        f'{kind}:\n  - left: {{source: {ls}, source_id: "{li}"}}\n'
        f'    right: {{source: {rs}, source_id: "{ri}"}}\n    reason: {reason}\n',
        encoding="utf-8",
    )
    return path


def _relink_with(root: Path, overrides: Path) -> dg.ExecuteInProcessResult:
    keys = [CLUSTERS_KEY, CUSTOMER_IDENTITY_KEY, GOLDEN_ID_LOG_KEY, GOLDEN_CUSTOMER_KEY]
    config = {"ops": {"identity__clusters": {"config": {"overrides_file": str(overrides)}}}}
    result = _materialize(root, keys, config)
    assert result.success
    return result


def test_must_link_merges_and_cannot_link_splits_on_the_next_run(linked: Path) -> None:
    before = _golden_ids(linked)
    # Two people the model keeps apart (without national ids: the blocking check would
    # refuse a person with two): the first records of two such golden ids.
    (a, ga), (b, gb) = _query(
        linked,
        "select min(unique_id), golden_id from mastered.customer_identity join "
        "identity.features using (unique_id) group by golden_id "
        "having count(national_id) = 0 order by golden_id limit 2",
    )
    path = _overrides(linked, "must_link", a, b, "same passport at the branch")
    result = _relink_with(linked, path)
    after = _golden_ids(linked)
    assert after[a] == after[b] == min(ga, gb)  # the older id survives
    assert ("merge", min(ga, gb), max(ga, gb)) in {row[:3] for row in _log(linked)}
    (reason,) = [r[6] for r in _log(linked) if r[0] == "merge"]
    assert reason == "must_link: same passport at the branch"
    meta = _metadata(result, CLUSTERS_KEY)
    assert meta["must_link_edges_added"] == 1 and len(meta["overrides_sha256"]) == 64
    assert {r: g for r, g in after.items() if g != min(ga, gb)} == {
        r: g for r, g in before.items() if g not in (ga, gb)
    }
    # The same pair declared different people: apart again, the split logged.
    path = _overrides(linked, "cannot_link", a, b, "twins, KYC confirmed")
    _relink_with(linked, path)
    again = _golden_ids(linked)
    assert again[a] != again[b]
    splits = [r for r in _log(linked) if r[0] == "split"]
    assert len(splits) == 1 and splits[0][6] == "cannot_link: twins, KYC confirmed"


def test_cannot_link_cuts_the_weakest_edges_of_a_matched_cluster(linked: Path) -> None:
    before = _golden_ids(linked)
    (golden,) = _query(
        linked,
        "select golden_id from mastered.customer_identity group by golden_id "
        "having count(*) = 3 order by golden_id limit 1",
    )[0]
    members = sorted(r for r, g in before.items() if g == golden)
    result = _relink_with(
        linked, _overrides(linked, "cannot_link", members[0], members[-1], "two people")
    )
    after = _golden_ids(linked)
    assert after[members[0]] != after[members[-1]]
    assert golden in {after[m] for m in members}  # the larger part keeps the id
    assert _metadata(result, CLUSTERS_KEY)["edges_cut_by_cannot_link"] >= 1
    assert {r: g for r, g in after.items() if r not in members} == {
        r: g for r, g in before.items() if r not in members
    }


def test_a_malformed_overrides_file_fails_the_run_naming_line_and_field(linked: Path) -> None:
    before = _golden_ids(linked)
    path = linked / "overrides.yaml"
    path.write_text(
        'cannot_link:\n  - left: {source: crm, source_id: "C1"}\n'
        "    right: {source: crm, sourceid: C2}\n    reason: typo\n",
        encoding="utf-8",
    )
    config = {"ops": {"identity__clusters": {"config": {"overrides_file": str(path)}}}}
    result = _materialize(linked, [CLUSTERS_KEY, CUSTOMER_IDENTITY_KEY], config)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error)
    assert f"{path}:3: cannot_link[0].right.sourceid: unknown field" in message
    assert _golden_ids(linked) == before  # nothing changed; the next run succeeds
    _relink_with(linked, _overrides(linked, "cannot_link", *sorted(before)[:2], "fixed"))


def test_splink_messages_go_to_the_step_log_not_the_terminal(
    linked: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Splink warns about untrained parameters at this size; a build must not print them
    over its progress display, and the step's log (the UI) must keep them."""
    # The build's own console level: WARNING and above reach the terminal.
    quiet = {**TRAINING, "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = _materialize(linked, [LINKAGE_MODEL_KEY, PREDICTIONS_KEY], quiet)
    assert result.success
    printed = capfd.readouterr()
    for text in (printed.out, printed.err):
        assert "You have called predict()" not in text
        assert "[EM sampling]" not in text
        assert "splink:" not in text
    seen: list[tuple[str, str]] = []

    class _Log:
        def info(self, message: str) -> None:
            seen.append(("info", message))

        def debug(self, message: str) -> None:
            seen.append(("debug", message))

    class _Context:
        log = _Log()

    with splink_messages_to(_Context()):  # type: ignore[arg-type]
        logging.getLogger("splink.internals.linker").warning("untrained u values")
        logging.getLogger("splink.internals.em_sampling").info("sampled 10 pairs")
    logging.getLogger("splink.internals.linker").warning("after the step")
    assert seen == [
        ("info", "splink: untrained u values"),
        ("debug", "splink: sampled 10 pairs"),
    ]


# --- the golden record through the governed boundary ------------------------------------

CODE = [PROJECT_ROOT / d for d in ("fs_assets", "policies", "resources", "asset_checks")]
GOLDEN_PII = ("first_name", "last_name", "email", "mobile", "national_id", "address_line1",
              "pin", "date_of_birth")  # fmt: skip


def _govern(root: Path) -> dg.ExecuteInProcessResult:
    """Every role's governed views of the customer, its history and the golden customer."""
    assets = [a for a in GOVERNED_ASSETS if not a.key.path[-1].endswith(LEADS)]
    with dg.instance_for_test() as instance:
        return dg.materialize(
            assets,
            resources={
                "warehouse": WarehouseResource(home=str(root)),
                "masking_key": MaskingKeyResource(key=MASKING_KEY),
            },
            instance=instance,
        )


def test_the_golden_record_is_masked_per_role_in_views_exports_and_catalog(linked: Path) -> None:
    """Each role reads mastered.golden_customer through its own view, with the policy
    file's masks (keyed hash, quarter bucket, pass-through, redaction, row filter); its
    export holds that view and no golden PII in clear but the pii-reader's."""
    result = _govern(linked)
    assert result.success
    key = MaskingKey(MASKING_KEY.encode())
    people = _query(linked, "select count(*) from mastered.golden_customer")[0][0]
    assert people > CUSTOMERS
    golden = {r[0]: r for r in _query(linked, "select golden_id, email, date_of_birth, "
                                      "first_name from mastered.golden_customer")}  # fmt: skip
    with duckdb.connect(str(DataPaths(linked).warehouse), read_only=True) as con:
        key.apply(con)

        def view(role: str) -> list[tuple]:
            return con.execute(
                "select golden_id, email, date_of_birth, first_name, state from "
                f"governed.{role.replace('-', '_')}_golden_customer"
            ).fetchall()

        clear = view(PII_READER)
        assert sorted(r[:4] for r in clear) == sorted(golden.values())
        by_token = {key.token(g): row for g, row in golden.items()}
        hashed = view(RESTRICTED)
        assert len(hashed) == people
        for token, email, dob, first, _ in hashed:  # HMAC of the clear value, dob redacted
            _, clear_email, _, clear_first = by_token[token]
            assert email == (key.token(clear_email) if clear_email else None)
            assert first == (key.token(clear_first) if clear_first else None) and dob is None
        assert sorted(view(SALES)) == sorted(hashed)
        bucketed = view(DOB_BUCKETING)
        for token, email, dob, first, _ in bucketed:
            clear_dob = by_token[token][2]
            assert email == first == "[REDACTED]"
            assert dob == (clear_dob.replace(month=(clear_dob.month - 1) // 3 * 3 + 1, day=1)
                           if clear_dob else None)  # fmt: skip
        assert {r[1:4] for r in view(ANALYST)} == {("[REDACTED]", None, "[REDACTED]")}
        branch = view(BRANCH_MAHARASHTRA)
        (region,) = con.execute(
            "select count(*) from mastered.golden_customer "
            "where country = 'India' and state = 'Maharashtra'"
        ).fetchone()
        assert 0 < len(branch) == region < people
        assert {r[4] for r in branch} == {"Maharashtra"}

    # The exports: each role's file holds its golden view; only pii-reader's holds PII.
    values = pii_values(DataPaths(linked).warehouse, vocabulary(CODE))
    assert len(values["national_id"]) > 100  # the golden record's, with the customers'
    files = {}
    for role in (RESTRICTED, DOB_BUCKETING, ANALYST, BRANCH_MAHARASHTRA, PII_READER):
        files[role] = export_role(DataPaths(linked), role, key=key)
        tables = {t for t, _ in exported_tables(DataPaths(linked), role)}
        assert f"governed.{role.replace('-', '_')}_golden_customer" in tables
    assert scan([files[PII_READER]], values), "the pii-reader's export should hold PII"
    leaks = scan([f for r, f in files.items() if r != PII_READER], values)
    assert leaks == [], [(f.path.name, f.where, f.column) for f in leaks]

    # Catalog and lineage: PII columns and the golden id declared masked (never profiled),
    # every column traced to mastered.golden_customer.
    asset = next(a for a in GOVERNED_ASSETS if a.key.path[-1] == "analyst_golden_customer")
    spec = next(iter(asset.specs))
    assert [d.asset_key for d in spec.deps] == [GOLDEN_CUSTOMER_KEY]
    masked = {c.name for c in spec.metadata["dagster/column_schema"].columns
              if MASKED_TAG in c.tags}  # fmt: skip
    assert masked == set(GOLDEN_PII) | {"middle_name", "address_line2", "address_line3",
                                        "golden_id"}  # fmt: skip
    lineage = spec.metadata["dagster/column_lineage"].deps_by_column
    assert lineage["email"] == [dg.TableColumnDep(GOLDEN_CUSTOMER_KEY, "email")]


def test_a_governed_golden_view_without_identity_tables_fails_saying_what_to_build(
    tmp_path: Path,
) -> None:
    root = tmp_path / "home"
    root.mkdir()
    asset = next(a for a in GOVERNED_ASSETS if a.key.path[-1] == "analyst_golden_customer")
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset],
            resources={
                "warehouse": WarehouseResource(home=str(root)),
                "masking_key": MaskingKeyResource(key=MASKING_KEY),
            },
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "materialize the identity assets first" in str(failure.step_failure_data.error)
