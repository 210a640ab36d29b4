"""Pairwise precision and recall of the clusters against a truth file (source,
source_id, person_id; ids only): a pair of records is predicted when it shares a golden
id and true when it shares a person id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from fs_assets.identity.canonical import SCHEMA

TRUTH_COLUMNS = ("source", "source_id", "person_id")
_TRUTH = "_identity_truth"


def truth_path(landing: Path) -> Path:
    """The generator's truth file of the sources, beside the landing folder (never in it):
    ids only, no PII. Here, not in the generator, so the checks reading it do not import
    the generator (and Faker) into every run's definitions."""
    return landing.parent / f"{landing.name}.sources.truth.csv"


@dataclass(frozen=True)
class PairwiseScore:
    """Pair counts and the two rates (1.0 when there is nothing to find or to get wrong)."""

    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    records_not_linked: int  # truth records without a golden id (should be none)

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def read_truth(path: Path) -> pa.Table:
    """The truth file as text columns (the file's name is never a pattern)."""
    options = pacsv.ConvertOptions(
        include_columns=list(TRUTH_COLUMNS), column_types=dict.fromkeys(TRUTH_COLUMNS, pa.string())
    )
    return pacsv.read_csv(path, convert_options=options)


def _pairs(group_by: str) -> str:
    groups = f"select count(*) as n from both_ids group by {group_by}"
    return f"(select sum(n * (n - 1) // 2) from ({groups}))"


def pairwise_score(
    con: duckdb.DuckDBPyConnection, truth: Path, identity: str = f"{SCHEMA}.customer_identity"
) -> PairwiseScore:
    """Count the pairs in the truth, in the clusters of `identity` (source, source_id,
    golden_id) and in both (n records in a group make n(n-1)/2 pairs, so no pair is
    listed)."""
    con.register(_TRUTH, read_truth(truth))
    try:
        row = con.execute(
            f"with both_ids as (select i.golden_id, t.person_id from {identity} i "
            f"join {_TRUTH} t using (source, source_id)) select {_pairs('person_id')}, "
            f"{_pairs('golden_id')}, {_pairs('golden_id, person_id')}, "
            f"(select count(*) from {_TRUTH} t anti join {identity} i "
            "using (source, source_id))"
        ).fetchall()[0]
    finally:
        con.unregister(_TRUTH)
    true_pairs, predicted, correct, missing = (int(v or 0) for v in row)
    return PairwiseScore(true_pairs, predicted, correct, missing)
