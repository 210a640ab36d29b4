"""The part of the graph that runs on the Spark engine, for the tests that build it.

Raw, mastered, every role's governed tables (but the golden customer's, which needs the
identity assets: tests/test_spark_identity_assets.py builds those on Spark), every mart
(with its dashboard) and the lead list, then the customer profile and the catalog
scanner over exactly those assets.
"""

from __future__ import annotations

from pathlib import Path

MASKING_KEY = "spark-graph-test-masking-key-0123456789"


def spark_graph_assets() -> list:
    from fs_assets.defs.catalog import build_catalog_assets
    from fs_assets.defs.governed import GOVERNED_ASSETS
    from fs_assets.defs.keys import DATA_PRODUCT_KEY
    from fs_assets.defs.marts import MART_ASSETS
    from fs_assets.defs.mastered import MASTERED_ASSETS
    from fs_assets.defs.raw import RAW_ASSETS
    from fs_assets.identity.golden_entity import GOLDEN_ENTITY

    golden = f"_{GOLDEN_ENTITY.name}"
    governed = [a for a in GOVERNED_ASSETS if not a.key.path[-1].endswith(golden)]
    data = [*RAW_ASSETS, *MASTERED_ASSETS, *MART_ASSETS, *governed]
    catalog = [a for a in build_catalog_assets(data) if a.key != DATA_PRODUCT_KEY]
    return [*data, *catalog]


def materialize_graph(
    home: Path, selection: list | None = None, instance=None, **warehouse: object
):
    """Materialize the graph (or `selection`) with the data folder `home`; the result."""
    import dagster as dg

    from resources.landing_zone import LandingZoneResource
    from resources.masking_key import MaskingKeyResource
    from resources.warehouse import WarehouseResource

    result = dg.materialize(
        spark_graph_assets(),
        selection=selection,
        instance=instance,
        resources={
            "warehouse": WarehouseResource(home=str(home), lock_timeout_s=60, **warehouse),
            "landing": LandingZoneResource(home=str(home)),
            "masking_key": MaskingKeyResource(key=MASKING_KEY),
        },
    )
    assert result.success
    return result


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Each step's wall time in a run, from its start and success events."""
    started: dict[str, float] = {}
    out: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS" and event.step_key in started:
            out[event.step_key] = round(entry.timestamp - started[event.step_key], 1)
    return out
