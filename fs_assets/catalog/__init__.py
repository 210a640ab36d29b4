"""The catalog: what is in the warehouse, who owns it, how it looks, and the data product.

`specs` names the catalog's tables, `tables` the declared side (from the definitions, and
the one map of quarantine/meta tables to their writers), `scanner` the observed side,
`profile` the customer profile, `manifest` the data product manifest. The assets are in
`fs_assets/defs/catalog.py`.
"""
