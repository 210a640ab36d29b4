"""The control-character rules run their regular expression only on values that break a
printable-only rule of the column (a value set, a printable pattern): the same verdict as
the plain expression on every value, and the pattern proof refuses what it cannot prove."""

import duckdb
import pytest

from fs_assets.model.entities import ENTITIES
from fs_assets.model.rules import failed_rules_sql, matches_only_printable, q, rules_of
from fs_assets.model.value_sets import CONTROL_CHARACTERS, FREE_TEXT_CONTROL_CHARACTERS

CONTROLS = ["\x00", "\x01", "\t", "\n", "\x0b", "\r", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"]


def _probes(values: tuple[str, ...] | None) -> list[str | None]:
    """Clean and dirty values: members of the set (or pattern-like ids) with each control
    character before, inside and after, and text that breaks the column's rule only."""
    seeds = [*(values or ()), "ABCDE12345", "Anna", "a.b@bank.com", "1990-01-31", "é ü"]
    probes: list[str | None] = [None, "", " ", *seeds]
    for seed in seeds[:6] + seeds[-5:]:
        for ch in CONTROLS:
            probes += [ch + seed, seed[:2] + ch + seed[2:], seed + ch]
    return probes


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_each_gated_rule_finds_exactly_the_control_characters(entity: str) -> None:
    ent = ENTITIES[entity]
    rules = [r for r in rules_of(ent) if r.kind == "control_characters"]
    assert rules
    conn = duckdb.connect()
    for rule in rules:
        col = next(c for c in ent.columns if c.name == rule.column)
        probes = _probes(col.values)
        plain = FREE_TEXT_CONTROL_CHARACTERS if col.free_text else CONTROL_CHARACTERS
        conn.execute(f"create or replace table t ({q(col.name)} varchar)")
        conn.executemany("insert into t values (?)", [[p] for p in probes])
        failed_sql, params = failed_rules_sql([rule])
        got = conn.execute(
            f"select {q(col.name)}, len({failed_sql}) > 0, "
            f"coalesce(regexp_matches({q(col.name)}, ?), false) from t",
            [*params, plain],
        ).fetchall()
        wrong = [(v, gated, expected) for v, gated, expected in got if gated != expected]
        assert not wrong, (rule.name, wrong[:5])
        assert sum(e for _, _, e in got) > len(CONTROLS), rule.name  # the probes hold faults


def test_most_text_columns_are_gated() -> None:
    """The gate is in place where the model allows it (the speed it exists for)."""
    gated = [
        r.name
        for ent in ENTITIES.values()
        for r in rules_of(ent)
        if r.kind == "control_characters" and " and regexp_matches(" in r.fail_sql
    ]
    assert len(gated) >= 40


@pytest.mark.parametrize(
    ("pattern", "printable"),
    [
        (r"^[A-Za-z0-9]{10}$", True),
        (r"^[a-z0-9.]+@[a-z]+\.[a-z]{2,3}$", True),
        (r"^[0-9]{4}-(0[1-9]|1[0-2])$", True),
        (r"^[ -~]+$", True),
        (r"^.+$", False),  # a wildcard matches a control character
        (r"^[^a]+$", False),  # so does a negated class
        (r"^[[:cntrl:]]$", False),  # a POSIX class inside a class
        (r"^\s+$", False),
        (r"^\x01$", False),
        (r"^\\.$", False),  # an escaped backslash, then a wildcard
        (r"^\p{Cc}$", False),
        ("^é$", False),
        ("^a\tb$", False),
    ],
)
def test_the_pattern_proof_accepts_only_printable_patterns(pattern: str, printable: bool) -> None:
    assert matches_only_printable(pattern) is printable
