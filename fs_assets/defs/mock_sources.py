"""`landing/mock_sources`: simulated source systems, so "Materialize all" works on a fresh install.

It writes the generator's files into an empty landing zone and otherwise does nothing:
landing files are immutable, and real sources (or `fs-accelerator generate`) own the zone
once they have written to it. `force: true` writes the configured set regardless; the
files are deterministic, so re-writing the same set is a no-op for the raw layer.
"""

import dagster as dg
from pydantic import Field

from fs_assets.defs.keys import MOCK_SOURCES_KEY
from fs_assets.model.entities import ENTITY_NAMES
from fs_assets.model.keys import OWNER
from resources.landing_zone import LandingZoneResource


class MockSourcesConfig(dg.Config):
    customers: int = Field(default=10_000, description="Customers to simulate.")
    seed: int = Field(default=42, description="Random seed; same seed, same bytes.")
    force: bool = Field(default=False, description="Write even if landing files exist.")


@dg.asset(
    key=MOCK_SOURCES_KEY,
    group_name="landing",
    owners=[OWNER],
    kinds={"python", "csv"},
    description=(
        "Simulated source systems: landing files for customer, product, account, fx_rate and "
        "transaction, written only into an empty landing zone (or with force). Grain: one "
        "file per entity per chunk of 100k customers."
    ),
)
def mock_sources(
    context: dg.AssetExecutionContext, config: MockSourcesConfig, landing: LandingZoneResource
) -> dg.MaterializeResult:
    from fs_assets.generator import generate_landing

    existing = {e: len(landing.list_files(e)) for e in ENTITY_NAMES}
    if any(existing.values()) and not config.force:
        context.log.info(f"landing zone already has files {existing}; nothing generated")
        return dg.MaterializeResult(
            metadata={"generated": False, "existing_files": dg.MetadataValue.json(existing)}
        )
    stats = generate_landing(landing.root, customers=config.customers, seed=config.seed)
    return dg.MaterializeResult(
        metadata={
            "generated": True,
            "landing_path": dg.MetadataValue.path(str(landing.root)),
            "rows": dg.MetadataValue.json(dict(stats.rows)),
            "seconds": round(stats.total_seconds, 2),
        }
    )
