"""The Splink model: its comparisons and blocking rules, trained without labels.

u probabilities from random sampling, m probabilities by expectation maximisation over
two blocking rules (see `EM_BLOCKING_RULES`), name matches weighed by how common
the full name is (term frequencies),
the prior from deterministic rules. Every random step takes the seed, so the same records
give the same model. `save_model` writes the trained parameters as Splink's JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.splink_dataframe import SplinkDataFrame

from fs_assets.identity.canonical import SCHEMA
from fs_assets.identity.knobs import Training

FEATURES = f"{SCHEMA}.features"
SPLINK_INPUT = "identity_features"  # the name Splink reads the features under
DEFAULT_TRAINING = Training()


# Expectation maximisation over pairs sharing a date of birth (names, contacts and address
# are free to differ) and pairs sharing an e-mail (names and date of birth free).
EM_BLOCKING_RULES = (block_on("date_of_birth"), block_on("email"))


def comparisons() -> list[Any]:
    """What is compared, attribute by attribute (Splink's library comparisons)."""
    return [
        cl.ForenameSurnameComparison(
            "first_name", "last_name", forename_surname_concat_col_name="full_name"
        ),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
        cl.EmailComparison("email"),
        cl.ExactMatch("mobile"),
        cl.ExactMatch("national_id"),
        cl.ExactMatch("address_line1"),
        cl.ExactMatch("pin"),
    ]


def blocking_rules() -> list[Any]:
    """Which pairs are compared at all: a pair sharing any one of these keys. A full-name
    rule would add half the pairs at 1M records for 0.04% of the true pairs (the date of
    birth rules with a name prefix find those)."""
    return [
        block_on("email"),
        block_on("mobile"),
        block_on("national_id"),
        block_on("date_of_birth", "substr(last_name, 1, 2)"),
        block_on("date_of_birth", "substr(first_name, 1, 1)"),
        block_on("address_line1"),
    ]


def settings() -> SettingsCreator:
    """One table of all sources' records, deduplicated (a source may hold a person twice)."""
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
        additional_columns_to_retain=["source"],
    )


def make_linker(con: duckdb.DuckDBPyConnection, model: SettingsCreator | dict | Path) -> Linker:
    """A Splink linker over `identity.features` on this connection."""
    db_api = DuckDBAPI(connection=con)
    # Splink reads a relation registered under a plain name (it cannot look up the
    # columns of a schema-qualified table).
    con.unregister(SPLINK_INPUT)  # a linker made before on this connection
    records = db_api.register(con.table(FEATURES), table_name=SPLINK_INPUT)
    return linker_over(records, model)


def linker_over(records: SplinkDataFrame, model: SettingsCreator | dict | Path) -> Linker:
    """A linker over records registered with any Splink backend (DuckDB here, Spark in
    `engines/spark_identity.py`): one model definition for both."""
    if isinstance(model, Path):
        model = json.loads(model.read_text(encoding="utf-8"))
    # No handler of Splink's own (it would print to the terminal of a build): its messages
    # propagate, and the identity assets hand them to the step's log.
    return Linker(records, model, log_level=None)


def train(linker: Linker, training: Training = DEFAULT_TRAINING) -> None:
    """Estimate the prior, u by random sampling, m by EM (no labels used)."""
    t = linker.training
    t.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("mobile")], recall=training.prior_recall
    )
    t.estimate_u_using_random_sampling(max_pairs=training.u_max_pairs, seed=training.seed)
    for rule in EM_BLOCKING_RULES:
        t.estimate_parameters_using_expectation_maximisation(
            rule, max_pairs=training.em_max_pairs, estimate_without_term_frequencies=True
        )


def save_model(linker: Linker, path: Path) -> dict[str, Any]:
    """The trained model (settings and m/u parameters) as Splink JSON, owner-only."""
    model = linker.misc.save_model_to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(model, handle, indent=2, sort_keys=True)
    os.replace(temporary, path)
    return model
