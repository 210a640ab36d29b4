"""How datasets, jobs and runs are named in the OpenLineage events.

Names must be stable across runs and machines, or a lineage backend (Marquez) sees a new
dataset every build: DuckDB tables live in one namespace, `duckdb://fs-accelerator`, named
`<schema>.<table>` whatever file the warehouse is in; landing files follow OpenLineage's
naming for local files (namespace `file`, the absolute path as name). Jobs are assets,
named by their key (`mastered.customer`); an asset's run id is derived from the Dagster
run id and the key, so emitting the same run twice produces the same events, which
backends deduplicate.
"""

import uuid
from collections.abc import Sequence
from importlib import metadata

DATASET_NAMESPACE = "duckdb://fs-accelerator"
FILE_NAMESPACE = "file"
JOB_NAMESPACE = "fs-accelerator"
# Stable seed for uuid5 run ids (a uuid4 generated once for this project).
_RUN_ID_NAMESPACE = uuid.UUID("0f6f3c52-2f53-4c55-9a0e-54a5d3f7c1b2")


def _version() -> str:
    try:
        return metadata.version("fs-accelerator")
    except metadata.PackageNotFoundError:
        return "0.0.0"


VERSION = _version()
# The producer is a URI naming the code that wrote the event (OpenLineage asks for one).
PRODUCER = f"urn:fs-accelerator:lineage:{VERSION}"


def job_name(key: Sequence[str]) -> str:
    """An asset key path ('mastered', 'customer') -> 'mastered.customer'."""
    return ".".join(key)


def checks_job_name(key: Sequence[str]) -> str:
    return f"{job_name(key)}.checks"


def asset_run_id(dagster_run_id: str, key: Sequence[str], suffix: str = "") -> str:
    """The OpenLineage run of one asset within one Dagster run (same inputs, same id)."""
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, f"{dagster_run_id}/{'/'.join(key)}{suffix}"))
