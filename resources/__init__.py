"""Dagster resources: the warehouse and the landing zone."""

from resources.landing_zone import LandingZoneResource
from resources.masking_key import MaskingKeyResource, masking_key_from_env
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource, warehouse_from_env


def default_resources(home: str | None = None) -> dict[str, object]:
    """The resources every asset and check of the project uses."""
    return {
        "warehouse": warehouse_from_env(home),
        "landing": LandingZoneResource(home=home),
        "masking_key": masking_key_from_env(),
    }


__all__ = [
    "WAREHOUSE_POOL",
    "LandingZoneResource",
    "MaskingKeyResource",
    "WarehouseResource",
    "default_resources",
    "warehouse_from_env",
]
