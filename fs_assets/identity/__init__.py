"""Identity resolution: one person across many source systems, linked with Splink.

Dagster-free, in the order data flows: `mapping` (a source system declared by a YAML
file), `canonical` (every source read through its mapping into one standardised table),
`model` (the Splink settings, trained without labels), `link` (predictions, clusters,
review band, golden ids), `golden` (survivorship per attribute), `evaluate` (pairwise
precision and recall against a truth file), `pipeline` (all of it, one call).
The tables these steps write hold PII: they belong in the warehouse's governed boundary.
"""
