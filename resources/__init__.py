"""Dagster resources: the warehouse, the landing zone, the masking key, the lineage sink."""

from resources.landing_zone import LandingZoneResource
from resources.lineage_sink import LineageSinkResource, lineage_sink_from_env
from resources.masking_key import MaskingKeyResource, masking_key_from_env
from resources.warehouse import (
    REPORTING_CURRENCY_ENV,
    WAREHOUSE_POOL,
    WarehouseResource,
    warehouse_from_env,
)


def default_resources(home: str | None = None) -> dict[str, object]:
    """The resources every asset and check of the project uses."""
    return {
        "warehouse": warehouse_from_env(home),
        "landing": LandingZoneResource(home=home),
        "masking_key": masking_key_from_env(),
        "lineage_sink": lineage_sink_from_env(home),
    }


__all__ = [
    "REPORTING_CURRENCY_ENV",
    "WAREHOUSE_POOL",
    "LandingZoneResource",
    "LineageSinkResource",
    "MaskingKeyResource",
    "WarehouseResource",
    "default_resources",
    "warehouse_from_env",
]
