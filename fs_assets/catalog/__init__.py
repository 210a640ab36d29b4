"""The catalog: what is in the warehouse, who owns it, how it looks, and the data product.

`specs.py` names the catalog's assets and tables; `tables.py` is the declared side (the
Dagster definitions, plus the one mapping of quarantine/meta tables to the assets that
write them); `scanner.py` the observed side (a scan of every table and view into
`catalog.tables` and `catalog.columns`); `profile.py` the seed's customer profile;
`manifest.py` the data product manifest; `assets.py` turns them into Dagster assets.
"""
