"""Stable golden ids and overrides without Dagster: the id assignment's merges, splits and
new ids; the overrides file's errors naming line and field; the cannot-link cut, also on a
small real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from fs_assets.identity.link import NATIONAL_ID_REASON, Thresholds, cluster_with_overrides
from fs_assets.identity.overrides import (
    OVERRIDES_FILE,
    Override,
    Overrides,
    OverridesError,
    cut_edges,
    load_overrides,
    parse_overrides,
)
from fs_assets.identity.stable_ids import IdEvent, assign, golden_id

G1, G2, G3 = (golden_id(n) for n in (1, 2, 3))


def test_first_run_numbers_clusters_by_their_lowest_record() -> None:
    ids, events = assign({"b": "x", "a": "y", "c": "x"}, {}, last_issued=0)
    assert ids == {"a": G1, "b": G2, "c": G2} and events == []


def test_records_keep_their_ids_and_a_new_person_gets_the_next_unissued_id() -> None:
    previous = {"a": G2, "b": G3}
    ids, events = assign({"a": "1", "b": "2", "n": "3", "m": "1"}, previous, last_issued=7)
    assert ids == {"a": G2, "b": G3, "n": golden_id(8), "m": G2} and events == []


def test_a_merge_keeps_the_older_id_and_logs_the_other() -> None:
    ids, events = assign({"a": "1", "b": "1", "c": "1"}, {"a": G3, "b": G1, "c": G3}, 3)
    assert set(ids.values()) == {G1}
    assert events == [IdEvent("merge", G1, G3)]


def test_a_split_leaves_the_id_with_the_largest_part() -> None:
    previous = {"a": G1, "b": G1, "c": G1}
    ids, events = assign({"a": "x", "b": "y", "c": "y"}, previous, last_issued=1)
    assert ids == {"a": golden_id(2), "b": G1, "c": G1}
    assert events == [IdEvent("split", golden_id(2), G1)]


def test_a_record_moving_to_another_person_is_logged() -> None:
    previous = {"a": G1, "b": G1, "c": G2}
    ids, events = assign({"a": "x", "b": "y", "c": "y"}, previous, last_issued=2)
    assert ids == {"a": G1, "b": G2, "c": G2}
    assert events == [IdEvent("split", G2, G1)]


GOOD = """must_link:
  - left: {source: crm, source_id: "C1"}
    right: {source: core_banking, source_id: "0012"}
    reason: same passport
cannot_link:
  - left: {source: crm, source_id: "C2"}
    right: {source: crm, source_id: "C3"}
    reason: twins
"""


def test_the_shipped_file_is_valid_and_documents_its_format() -> None:
    shipped = load_overrides(OVERRIDES_FILE)
    text = OVERRIDES_FILE.read_text(encoding="utf-8")
    assert shipped.items == () and len(shipped.sha256) == 64
    assert "must_link" in text and "cannot_link" in text and "reason" in text


def test_a_good_file_parses_with_lines_and_hash() -> None:
    parsed = parse_overrides(Path("o.yaml"), GOOD)
    assert [(o.kind, o.left, o.right, o.line) for o in parsed.items] == [
        ("must_link", "crm:C1", "core_banking:0012", 2),
        ("cannot_link", "crm:C2", "crm:C3", 6),
    ]
    assert parsed.sha256 != parse_overrides(Path("o.yaml"), GOOD + "\n").sha256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("reason: twins", "reasons: twins"), "o.yaml:8: cannot_link[0].reasons"),
        (GOOD.replace('source_id: "C1"', "source_id: "), "o.yaml:2: must_link[0].left.source_id"),
        (GOOD.replace("    reason: same passport\n", ""), "must_link[0].reason: is missing"),
        (GOOD.replace("cannot_link:", "maybe_link:"), "o.yaml:5: maybe_link: unknown section"),
        ("must_link: {a: 1}\n", "o.yaml:1: must_link: must be a list"),
        (GOOD.replace('"C3"', '"C2"'), "cannot_link[0]: left and right are the same record"),
        ("must_link: [\n", "o.yaml: not valid YAML"),
        (
            GOOD + '  - left: {source: crm, source_id: "C1"}\n'
            '    right: {source: core_banking, source_id: "0012"}\n    reason: no\n',
            "o.yaml:9: cannot_link contradicts must_link on line 2",
        ),
    ],
)
def test_a_malformed_file_names_line_and_field(text: str, message: str) -> None:
    with pytest.raises(OverridesError) as error:
        parse_overrides(Path("o.yaml"), text)
    assert message in str(error.value)


def _no(left: str, right: str) -> Override:
    return Override("cannot_link", left, right, "different people", 1)


def test_cannot_link_cuts_the_weakest_edge_on_each_path() -> None:
    # a-b strong, b-c weak, a-d and d-c medium: two paths from a to c.
    weights = {("a", "b"): 20.0, ("b", "c"): 5.0, ("a", "d"): 9.0, ("d", "c"): 8.0}
    cut = cut_edges(weights, [_no("a", "c")])
    assert set(cut) == {("b", "c"), ("d", "c")}


def test_cannot_link_across_must_links_only_is_a_contradiction() -> None:
    weights = {("a", "b"): float("inf"), ("b", "c"): float("inf")}
    with pytest.raises(OverridesError, match="contradicts must_link"):
        cut_edges(weights, [_no("a", "c")])


def test_a_must_link_beside_a_weaker_scored_pair_is_never_cut(tmp_path: Path) -> None:
    """On a real DuckDB file: b-a scored weakly and must-linked as a-b, b-c strong;
    cannot-link a/c must cut b-c (cutting only the scored b-a would leave the must-link
    joining all three)."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema identity")
    con.execute("create table identity.records as select * from (values ('a'), ('b'), ('c')) "
                "t(unique_id)")  # fmt: skip
    con.execute("create table identity.features as select unique_id, null::varchar as "
                "national_id from identity.records")  # fmt: skip
    con.execute(
        "create table identity.pairs (unique_id_l varchar, unique_id_r varchar, "
        "match_weight double, match_probability double)"
    )
    con.execute("insert into identity.pairs values ('b', 'a', 1.0, 0.96), ('b', 'c', 20.0, 0.9999)")
    decided = Overrides(
        (
            Override("must_link", "a", "b", "confirmed", 2),
            Override("cannot_link", "a", "c", "different people", 5),
        )
    )
    result = cluster_with_overrides(con, Thresholds(), decided)
    clusters = dict(con.execute("select unique_id, cluster_id from identity.clusters").fetchall())
    assert clusters["a"] == clusters["b"] != clusters["c"]
    assert result.cut == 1 and result.must_links == 1
    cut = con.execute("select unique_id_l, unique_id_r, edge_reason from identity.cut_edges "
                      "where match_weight = 20").fetchall()  # fmt: skip
    assert cut == [("b", "c", "cannot_link: different people")]


def _tiny(tmp_path: Path, national_ids: dict[str, str]) -> duckdb.DuckDBPyConnection:
    """Records a-b-c, all pairs strong; features with the given national ids."""
    con = duckdb.connect(str(tmp_path / "n.duckdb"))
    con.execute("create schema identity")
    con.execute("create table identity.records (unique_id varchar)")
    con.execute("insert into identity.records values ('a'), ('b'), ('c')")
    con.execute("create table identity.features (unique_id varchar, national_id varchar)")
    con.executemany(
        "insert into identity.features values (?, ?)",
        [(r, national_ids.get(r)) for r in ("a", "b", "c")],
    )
    con.execute(
        "create table identity.pairs (unique_id_l varchar, unique_id_r varchar, "
        "match_weight double, match_probability double)"
    )
    con.execute("insert into identity.pairs values ('a', 'b', 9.0, 0.998), ('b', 'c', 7.0, 0.99)")
    return con


def test_records_with_different_national_ids_are_kept_apart(tmp_path: Path) -> None:
    con = _tiny(tmp_path, {"a": "ABCDE1234F", "c": "QWERT5678Z"})
    result = cluster_with_overrides(con, Thresholds(), Overrides())
    clusters = dict(con.execute("select unique_id, cluster_id from identity.clusters").fetchall())
    assert clusters["a"] == clusters["b"] != clusters["c"]  # the weaker b-c edge is cut
    assert result.national_id_conflicts == 1 and result.cut == 1
    reasons = {r[0] for r in con.execute("select edge_reason from identity.cut_edges").fetchall()}
    assert reasons == {NATIONAL_ID_REASON}


def test_a_must_link_outranks_the_national_id_rule(tmp_path: Path) -> None:
    con = _tiny(tmp_path, {"a": "ABCDE1234F", "b": "QWERT5678Z"})
    decided = Overrides((Override("must_link", "a", "b", "same person, PAN reissued", 2),))
    cluster_with_overrides(con, Thresholds(), decided)
    clusters = dict(con.execute("select unique_id, cluster_id from identity.clusters").fetchall())
    assert clusters["a"] == clusters["b"]
