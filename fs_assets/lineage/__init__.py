"""OpenLineage for every asset materialization, and lineage inspection from its events.

`collect.py` reads what a Dagster run did from the instance's event log; `landing.py`
finds the landing files a raw run read; `events.py` turns both, with the definitions'
metadata, into OpenLineage RunEvents; `emitter.py` delivers them (a JSONL file always,
HTTP to Marquez when OPENLINEAGE_URL is set) without ever failing a run; `sensor.py`
emits for runs launched from the UI or by sensors; `graph.py` reads the events back into
a column-level lineage graph, `html.py` draws it and `cli.py` answers
`fs-accelerator lineage <table>[.<column>]`.

Why not the `dagster-openlineage` package (0.2.1, checked against dagster 1.13): it
imports and its sensor runs, but its COMPLETE events carry no input datasets (neither the
sensor nor the storage wrapper passes upstream keys), so there are no lineage edges; it
names datasets by asset key (`default` / `mastered/customer`), not by table, and landing
files do not appear; the schema
and column-lineage facets come only from materialization metadata, so the definitions'
`dagster/column_schema` (with the PII tags) never reaches them; every asset of a Dagster
run gets the Dagster run id as its OpenLineage run id; check results become a separate job
per asset; delivery is HTTP only and failures are logged, not recorded; its sensor polls
30 records per 5 minutes and needs the daemon, which `fs-accelerator build` does not run.
Its design (event log in, openlineage-python out) is the one followed here.
"""
