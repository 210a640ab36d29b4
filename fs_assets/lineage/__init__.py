"""OpenLineage events for every asset materialization, and lineage read back from them.

`collect` summarizes what a run did from its event log, `landing` the files a raw run read,
`events` makes RunEvents, `emitter` delivers them (JSONL file, HTTP when configured)
without failing a run, `graph` and `html` read them back into a column-level graph. The
sensors that emit for UI runs are in `sensors/lineage_sensor.py`, the `lineage` command in
`fs_assets/app/lineage_cli.py`. Written here rather than with `dagster-openlineage`,
whose events carry no inputs, name datasets by key and drop the column schema. No Dagster
here: the run's log records and the asset graph arrive as plain data, made by
`fs_assets/defs/lineage_source.py` and `fs_assets/defs/asset_graph.py`.
"""
