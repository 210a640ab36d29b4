"""Dagster resources: the warehouse and the landing zone."""

from resources.landing_zone import LandingZoneResource
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource


def default_resources(home: str | None = None) -> dict[str, object]:
    """The resources every asset and check of the project uses."""
    return {
        "warehouse": WarehouseResource(home=home),
        "landing": LandingZoneResource(home=home),
    }


__all__ = ["WAREHOUSE_POOL", "LandingZoneResource", "WarehouseResource", "default_resources"]
