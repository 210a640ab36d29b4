"""Identity resolution end to end on generated sources: pairwise precision and recall
against the truth file, one golden id per record, survivorship, the review band, the
saved model, determinism, and a fourth source added by a mapping file and its files."""

from __future__ import annotations

import csv
import json
import shutil
import stat
from pathlib import Path

import duckdb
import pytest
import yaml

from fs_assets.generator import generate_landing
from fs_assets.generator.sources import generate_sources
from fs_assets.identity.attributes import SOURCES_DIR
from fs_assets.identity.canonical import read_source
from fs_assets.identity.evaluate import pairwise_score
from fs_assets.identity.link import Thresholds
from fs_assets.identity.mapping import load_mappings
from fs_assets.identity.model import Training
from fs_assets.identity.pipeline import LinkageReport, run_linkage

PEOPLE = 2_500  # core customers; about 2,800 people and 5,200 source records
TRAINING = Training(seed=3, u_max_pairs=3e5)
THRESHOLDS = Thresholds()


def _link(
    landing: Path, sources: Path, work: Path
) -> tuple[duckdb.DuckDBPyConnection, LinkageReport]:
    work.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(work / "warehouse.duckdb"))
    con.execute("set enable_progress_bar = false")
    report = run_linkage(
        con, landing, load_mappings(sources), work / "model.json", THRESHOLDS, TRAINING
    )
    return con, report


def _core_only(out: Path, customers: int, seed: int) -> Path:
    generate_landing(out, customers=customers, seed=seed)
    for folder in out.iterdir():
        if folder.name != "customer":
            shutil.rmtree(folder)
    generate_sources(out, seed=seed)
    return out


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("identity")
    landing = _core_only(root / "landing", PEOPLE, 5)
    links = _fourth_source(landing, root / "sources")
    con, report = _link(landing, root / "sources", root / "work")
    yield con, report, root, links
    con.close()


def test_precision_and_recall_against_the_truth(linked) -> None:
    con, report, root, _ = linked
    score = pairwise_score(con, root / "landing.sources.truth.csv")
    assert score.records_not_linked == 0
    assert score.true_pairs > 1_000
    assert score.precision >= 0.99, score
    assert score.recall >= 0.98, score
    assert report.candidate_pairs >= report.scored_pairs > 0


def test_every_record_has_exactly_one_golden_id(linked) -> None:
    con, report, _, _ = linked
    rows, ids, golden = con.execute(
        "select count(*), count(distinct unique_id), count(distinct golden_id) "
        "from identity.customer_identity"
    ).fetchall()[0]
    assert rows == ids == report.records == sum(report.records_read.values())
    assert (
        golden
        == report.golden_customers
        == con.execute("select count(*) from identity.golden_customer").fetchall()[0][0]
    )


def test_splink_leaves_no_working_tables(linked) -> None:
    con, _, _, _ = linked
    left = con.execute(
        "select table_name from information_schema.tables where starts_with(table_name, '__splink')"
    ).fetchall()
    assert left == []
    assert sorted(r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'identity'"
    ).fetchall()) == [
        "cluster_edges", "clustered_pairs", "clustered_records", "clusters", "components",
        "customer_identity", "cut_edges", "features", "golden_customer", "pairs", "records",
        "review_pairs",
    ]  # fmt: skip


def test_pairs_at_the_match_threshold_share_a_golden_id(linked) -> None:
    con, _, _, _ = linked
    split = con.execute(
        "select count(*) from identity.pairs p join identity.customer_identity l "
        "on l.unique_id = p.unique_id_l join identity.customer_identity r "
        "on r.unique_id = p.unique_id_r where p.match_probability >= $m "
        "and l.golden_id <> r.golden_id",
        {"m": THRESHOLDS.match},
    ).fetchall()[0][0]
    assert split == 0
    low, high, n = con.execute(
        "select min(match_probability), max(match_probability), count(*) from identity.review_pairs"
    ).fetchall()[0]
    assert n > 0 and THRESHOLDS.review <= low and high < THRESHOLDS.match


def test_survivorship_takes_the_most_trusted_then_most_recent_valid_value(linked) -> None:
    con, _, _, _ = linked
    rows = con.execute(
        "select i.golden_id, r.source, r.trust_rank, r.updated_at, r.unique_id, r.email, "
        "f.email is not null from identity.customer_identity i join identity.records r "
        "using (unique_id) join identity.features f using (unique_id)"
    ).fetchall()
    expected: dict[str, tuple] = {}
    for golden, source, rank, updated, uid, email, valid in rows:
        if not valid:
            continue
        key = (rank, -updated.timestamp(), uid)
        if golden not in expected or key < expected[golden][0]:
            expected[golden] = (key, email, source)
    got = {
        g: (e, s)
        for g, e, s in con.execute(
            "select golden_id, email, email_source from identity.golden_customer"
        ).fetchall()
    }
    assert {g: (e, s) for g, (_, e, s) in expected.items()} == {
        g: v for g, v in got.items() if v[0] is not None
    }
    sources = dict(
        con.execute(
            "select national_id_source, count(*) from identity.golden_customer "
            "where national_id is not null group by all"
        ).fetchall()
    )
    assert list(sources) == ["card_platform"]  # the only source with a national id


def test_the_trained_model_is_saved_with_its_parameters(linked) -> None:
    _, _, root, _ = linked
    path = root / "work" / "model.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    model = json.loads(path.read_text(encoding="utf-8"))
    assert 0 < model["probability_two_random_records_match"] < 1
    levels = [
        level
        for comparison in model["comparisons"]
        for level in comparison["comparison_levels"]
        if not level.get("is_null_level")
    ]
    trained = [lv for lv in levels if lv.get("m_probability") and lv.get("u_probability")]
    assert len(trained) >= len(levels) - 4  # a level never seen in the sample stays untrained
    names = {c["output_column_name"] for c in model["comparisons"]}
    assert {"first_name_last_name", "date_of_birth", "email", "mobile"} <= names


FOURTH = {
    "source": "branch_kyc",
    "description": "Branch KYC register (a fourth source, by mapping file only)",
    "landing_folder": "branch kyc [2023]",
    "id_column": "KYC No",
    "updated_at_column": "Verified",
    "timestamp_format": "%Y%m%d%H%M%S",
    "date_format": "%Y%m%d",
    "trust_rank": 4,
    "attributes": {
        "first_name": "Forename",
        "last_name": "Surname",
        "date_of_birth": "Born",
        "email": "Mail",
        "mobile": "Cell",
        "city": "Town",
    },
}


def _fourth_source(landing: Path, sources: Path) -> list[tuple[str, str]]:
    """Write the fourth mapping and a file: 60 core customers as the branch knows them
    and 10 people of its own; returns (kyc id, core id or '') per row."""
    shutil.copytree(SOURCES_DIR, sources)
    (sources / "branch_kyc.yaml").write_text(yaml.safe_dump(FOURTH), encoding="utf-8")
    core = next(m for m in load_mappings(sources) if m.source == "core_banking")
    people = read_source(landing, core).to_pylist()
    folder = landing / FOURTH["landing_folder"]
    folder.mkdir()
    header = ["KYC No", "Verified", "Surname", "Forename", "Born", "Mail", "Cell", "Town"]
    rows, links = [], []
    for n, p in enumerate(people[:70]):
        own = n >= 60
        born = (p["date_of_birth"] or "").replace("-", "")
        if own:  # a person of its own: another customer's surname, born on another day
            surname, born = people[n + 100]["last_name"], f"1950{1 + n % 12:02d}{n - 40:02d}"
        rows.append([
            f"K-{n:04d}", "20230101120000", (p["last_name"] if not own else surname).upper(),
            p["first_name"], born, f"kyc{n}@branch.example" if own else p["email"],
            "" if own else f"+91 {p['mobile']}", p["city"],
        ])  # fmt: skip
        links.append((f"K-{n:04d}", "" if own else p["source_id"]))
    with (folder / "kyc 'export' ü.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return links


def test_a_fourth_source_by_mapping_file_only_links(linked) -> None:
    con, report, _, links = linked
    assert report.records_read["branch_kyc"] == 70
    golden = dict(
        con.execute("select unique_id, golden_id from identity.customer_identity").fetchall()
    )
    for kyc, cust in links:
        mine = golden[f"branch_kyc:{kyc}"]
        if cust:
            assert mine == golden[f"core_banking:{cust}"], kyc
        else:
            assert sum(1 for g in golden.values() if g == mine) == 1, kyc


def _rounded(value: object) -> object:
    """Floats to 9 significant digits: DuckDB's parallel sums may differ in the last bit."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items() if k != "linker_uid"}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def test_the_same_records_link_the_same_way(linked) -> None:
    con, _, root, _ = linked
    again, _ = _link(root / "landing", root / "sources", root / "again")
    try:
        for table in ("customer_identity", "golden_customer", "pairs"):
            query = f"select * from identity.{table} order by all"
            first, second = (c.execute(query).fetchall() for c in (con, again))
            assert _rounded(first) == _rounded(second), table
    finally:
        again.close()
    models = [json.loads((root / name / "model.json").read_text()) for name in ("work", "again")]
    assert _rounded(models[0]) == _rounded(models[1])
