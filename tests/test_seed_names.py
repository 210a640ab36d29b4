"""The seed's dataset names: views a seed-style query reads unchanged."""

from __future__ import annotations

import duckdb

from fs_assets.catalog.manifest import MANIFEST_FILE, load_manifest
from fs_assets.model.paths import DataPaths

# The seed's queries, word for word but for DataOS's catalog prefix
# ("icebasetw"."fs_accelerator"), which addresses another system.
SEED_RAW_QUERY = "SELECT * FROM customer_overview_raw WHERE cust_id='{customer_id}'"
# The same consumer query against the mastered dataset.
SEED_DP_QUERY = "SELECT * FROM customer_overview_dp WHERE cust_id='{customer_id}'"


def test_seed_style_queries_run_unchanged(built: DataPaths) -> None:
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        raw = conn.execute(SEED_RAW_QUERY.format(customer_id="1000000001")).fetchall()
        expected_raw = conn.execute(
            "select * from raw.customer where cust_id = ?", ["1000000001"]
        ).fetchall()
        assert raw == expected_raw and len(raw) >= 1
        dp = conn.execute(SEED_DP_QUERY.format(customer_id="1000000001")).fetchall()
        mastered = conn.execute(
            "select * from mastered.customer where cust_id = ?", ["1000000001"]
        ).fetchall()
        assert dp == mastered and len(dp) == 1
        kinds = dict(
            conn.execute(
                "select table_name, table_type from information_schema.tables"
                " where table_schema = 'main' and table_name like 'customer_overview_%'"
            ).fetchall()
        )
        assert kinds == {"customer_overview_raw": "VIEW", "customer_overview_dp": "VIEW"}
        cataloged = dict(
            conn.execute(
                "select table_name, producing_asset from catalog.tables where table_schema = 'main'"
            ).fetchall()
        )
    assert cataloged == {
        "customer_overview_raw": "main/customer_overview_raw",
        "customer_overview_dp": "main/customer_overview_dp",
    }


def test_seed_names_are_product_outputs_with_their_pii(built: DataPaths) -> None:
    outputs = {o.ref: o for o in load_manifest(built.home / MANIFEST_FILE).v1alpha.data.outputs}
    for name in ("customer_overview_raw", "customer_overview_dp"):
        output = outputs[f"duckdb://fs-accelerator/main.{name}"]
        assert output.asset == f"main/{name}"
        assert output.piiColumns["email_addr"] == "TW.mask"


def test_role_exports_do_not_carry_the_seed_names(built: DataPaths) -> None:
    from fs_assets.transforms.governance.export import export_role

    path = export_role(built, "analyst")
    with duckdb.connect(str(path), read_only=True) as conn:
        names = {
            r[0]
            for r in conn.execute("select table_name from information_schema.tables").fetchall()
        }
    assert names and not {n for n in names if n.startswith("customer_overview")}
