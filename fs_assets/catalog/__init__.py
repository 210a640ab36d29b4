"""The catalog: what is in the warehouse, who owns it, how it looks, and the data product.

`specs` names the catalog's tables, `tables` the declared side (from the definitions, and
the one map of quarantine/meta tables to their writers), `scanner` the observed side,
`profile` the customer profile, `manifest` the data product manifest. They read the
definitions as a `graph_view.GraphView` (tuple keys, plain columns), made from Dagster's
asset graph by `fs_assets/defs/asset_graph.py`; the assets are in `fs_assets/defs/catalog.py`.
"""
