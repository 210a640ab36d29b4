"""The asset graph's shape, pinned: asset keys, dependencies, partitions, checks, sensors.

A layout change (moving modules, new engine seam) must leave the graph a user sees in the
UI unchanged. A deliberate change to the graph updates the snapshot in the same commit:

    python tests/test_graph_snapshot.py --update
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def _partitions(spec: dg.AssetSpec) -> str | None:
    pdef = spec.partitions_def
    if pdef is None:
        return None
    if isinstance(pdef, dg.MultiPartitionsDefinition):
        dims = ", ".join(f"{d.name}" for d in pdef.partitions_defs)
        return f"multi({dims})"
    keys = pdef.get_partition_keys()
    return f"{type(pdef).__name__}: {len(keys)} keys, {keys[0]} .. {keys[-1]}"


def graph_shape() -> dict[str, object]:
    """What the UI shows of the graph, as plain sorted data."""
    from fs_assets.definitions import defs

    assets = {}
    for spec in defs.resolve_all_asset_specs():
        assets[spec.key.to_user_string()] = {
            "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
            "group": spec.group_name,
            "partitions": _partitions(spec),
            "kinds": sorted(spec.kinds),
        }
    checks = sorted(
        f"{key.asset_key.to_user_string()}:{key.name}"
        for key in defs.resolve_asset_graph().asset_check_keys
    )
    sensors = sorted(s.name for s in defs.sensors or [])
    jobs = sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__"))
    return {
        "assets": dict(sorted(assets.items())),
        "checks": checks,
        "sensors": sensors,
        "jobs": jobs,
    }


def test_asset_graph_matches_snapshot() -> None:
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(graph_shape()))
    for part in ("assets", "checks", "sensors", "jobs"):
        assert actual[part] == expected[part], (
            f"the asset graph's {part} changed; if deliberate, run "
            "`python tests/test_graph_snapshot.py --update` and commit the snapshot"
        )


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_graph_snapshot.py --update")
    SNAPSHOT.write_text(
        json.dumps(graph_shape(), indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    sys.stdout.write(f"wrote {SNAPSHOT}\n")
