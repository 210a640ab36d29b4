"""OpenLineage RunEvents for one Dagster run: per asset, per asset's checks, and the run.

Each asset step becomes an OpenLineage run of the job named after the asset: START when
its step started, then COMPLETE (its materialization) or FAIL (with the error message).
Inputs are the tables of the asset's upstream assets (landing files for a raw asset),
outputs the tables it writes, its own and its side tables (`catalog/tables.py`). The
COMPLETE event carries what the definitions know: schema (PII tags in the field
descriptions and in a tags facet), column lineage (mastered <- raw <- landing file
columns), ownership, documentation and row count. Check results become a separate
`<asset>.checks` job whose input dataset carries the dataQualityAssertions facet, where
the spec puts it (an input facet: the checks read the table). The Dagster run is the
parent of all of them.
"""

from collections.abc import Mapping
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    datasource_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    ownership_dataset,
    ownership_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    tags_dataset,
)

from fs_assets.catalog.graph_view import DeclaredColumn, GraphView
from fs_assets.catalog.specs import SCANNER_KEY
from fs_assets.catalog.tables import (
    COLUMN_LINEAGE_KEY,
    COLUMN_SCHEMA_KEY,
    DeclaredTable,
    declared_tables,
    tables_by_producer,
)
from fs_assets.lineage.collect import AssetActivity, CheckActivity, RunSummary, error_text, iso
from fs_assets.lineage.landing import (
    LandingRead,
    file_columns,
    landing_entity,
    reads_from_metadata,
)
from fs_assets.model.keys import TRANSFORMATIONS_KEY, KeyPath
from fs_assets.model.naming import (
    DATASET_NAMESPACE,
    FILE_NAMESPACE,
    JOB_NAMESPACE,
    PRODUCER,
    VERSION,
    asset_run_id,
    checks_job_name,
    job_name,
)

# Assets that read every warehouse table, not only their upstream assets' own tables.
READS_EVERY_TABLE = frozenset({SCANNER_KEY})
PII_TAG_KEY = "pii"
TAG_SOURCE = "DAGSTER"


def _pii_description(col: DeclaredColumn) -> str:
    text = col.description or ""
    if col.pii and col.pii not in text:
        text = f"{text} PII: {col.pii}.".strip()
    return text


class LineageModel:
    """What the definitions say about each asset's datasets, ready for events."""

    def __init__(self, graph: GraphView) -> None:
        self.graph = graph
        self.tables: dict[str, DeclaredTable] = declared_tables(graph)
        self.writes = tables_by_producer(self.tables)
        self.keys = graph.asset_keys()

    def own_table(self, key: KeyPath) -> str | None:
        return self.graph.get(key).table if key in self.keys else None

    def outputs(self, key: KeyPath) -> list[str]:
        return self.writes.get(key, [])

    def inputs(self, key: KeyPath) -> list[str]:
        if key in READS_EVERY_TABLE:
            mine = set(self.outputs(key))
            return sorted(t for t in self.tables if t not in mine)
        parents = self.graph.get(key).parents if key in self.keys else ()
        return [t for p in parents if (t := self.own_table(p))]

    def description(self, key: KeyPath) -> str:
        return self.graph.get(key).description if key in self.keys else ""

    def owners(self, key: KeyPath) -> list[str]:
        return list(self.graph.get(key).owners) if key in self.keys else []

    def transformations(self, key: KeyPath) -> dict[str, dict[str, str]]:
        """Output column -> {"<table>.<column>": "TYPE/SUBTYPE/text"}, where declared."""
        return (
            (self.graph.get(key).metadata.get(TRANSFORMATIONS_KEY) or {})
            if key in self.keys
            else {}
        )

    def column_lineage(self, key: KeyPath) -> dict[str, list[tuple[str, str]]]:
        """Output column -> [(upstream table, column)] from `dagster/column_lineage`."""
        lineage = self.graph.get(key).metadata.get(COLUMN_LINEAGE_KEY)
        if not isinstance(lineage, Mapping):
            return {}
        out: dict[str, list[tuple[str, str]]] = {}
        for column, deps in lineage.items():
            for dep_key, dep_column in deps:
                table = self.own_table(dep_key)
                if table and dep_column:
                    out.setdefault(column, []).append((table, dep_column))
        return out


def _schema_facet(columns: tuple[DeclaredColumn, ...]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=c.name,
                type=c.type,
                description=_pii_description(c) or None,
                ordinal_position=i,
            )
            for i, c in enumerate(columns, start=1)
        ],
        producer=PRODUCER,
    )


def _tags_facet(columns: tuple[DeclaredColumn, ...]) -> tags_dataset.TagsDatasetFacet | None:
    tags = [
        tags_dataset.TagsDatasetFacetFields(
            key=PII_TAG_KEY, value=c.pii, source=TAG_SOURCE, field=c.name
        )
        for c in columns
        if c.pii
    ]
    return tags_dataset.TagsDatasetFacet(tags=tags, producer=PRODUCER) if tags else None


def _owners_facet(owners: list[str]) -> ownership_dataset.OwnershipDatasetFacet | None:
    if not owners:
        return None
    return ownership_dataset.OwnershipDatasetFacet(
        owners=[ownership_dataset.Owner(name=o, type=o.split(":", 1)[0]) for o in owners],
        producer=PRODUCER,
    )


def _runtime_columns(
    table: DeclaredTable, metadata: Mapping[str, Any]
) -> tuple[tuple[DeclaredColumn, ...], dict[str, str]]:
    """Declared columns, refined by the materialization's own column schema when it has one
    (the governed views record which mask each PII column got); also column -> mask."""
    schema = metadata.get(COLUMN_SCHEMA_KEY)
    runtime: tuple[DeclaredColumn, ...] = schema if isinstance(schema, tuple) else ()
    if not runtime:
        return table.columns, {}
    declared = {c.name: c for c in table.columns}
    masks = {
        c.name: f"{c.tag('operator')} by policy {c.tag('policy') or '?'}"
        for c in runtime
        if c.tag("operator") and c.tag("operator") != "pass_through"
    }
    merged = []
    for c in runtime:
        d = declared.get(c.name, DeclaredColumn(c.name))
        merged.append(
            DeclaredColumn(
                name=c.name,
                type=c.type or d.type,
                description=c.description or d.description,
                pii=c.pii or d.pii,
                nullable=c.nullable,
            )
        )
    return tuple(merged), masks


class EventBuilder:
    """Builds the events of one run summary against one lineage model."""

    def __init__(
        self,
        model: LineageModel,
        summary: RunSummary,
        landing_reads: Mapping[str, list[LandingRead]] | None = None,
    ) -> None:
        self.model = model
        self.summary = summary
        self.landing_reads = landing_reads or {}

    # -- run and job facets --------------------------------------------------------------

    def _run(self, run_id: str, error: str | None = None, stack: str | None = None) -> Run:
        facets: dict[str, Any] = {
            "parent": parent_run.ParentRunFacet(
                run=parent_run.Run(runId=self.summary.run_id),
                job=parent_run.Job(namespace=JOB_NAMESPACE, name=self.summary.job_name),
                producer=PRODUCER,
            ),
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=self.summary.engine_version,
                name="Dagster",
                openlineageAdapterVersion=VERSION,
                producer=PRODUCER,
            ),
        }
        if error:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=error, programmingLanguage="python", stackTrace=stack, producer=PRODUCER
            )
        return Run(runId=run_id, facets=facets)

    def _job(self, name: str, job_type: str, key: KeyPath | None = None) -> Job:
        facets: dict[str, Any] = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="DAGSTER", jobType=job_type, producer=PRODUCER
            )
        }
        if key is not None:
            if doc := self.model.description(key):
                facets["documentation"] = documentation_job.DocumentationJobFacet(
                    description=doc, producer=PRODUCER
                )
            if owners := self.model.owners(key):
                facets["ownership"] = ownership_job.OwnershipJobFacet(
                    owners=[ownership_job.Owner(name=o, type=o.split(":", 1)[0]) for o in owners],
                    producer=PRODUCER,
                )
        return Job(namespace=JOB_NAMESPACE, name=name, facets=facets)

    # -- datasets ------------------------------------------------------------------------

    def _raw_reads(self, act: AssetActivity) -> list[LandingRead]:
        if act.key[0] != "raw" or len(act.key) != 2:
            return []
        entity = act.key[1]
        from_metadata = reads_from_metadata(entity, act.metadata)
        if from_metadata is not None:
            return from_metadata
        return self.landing_reads.get(entity, [])

    def _file_input(self, read: LandingRead, with_facets: bool) -> InputDataset:
        facets: dict[str, Any] = {}
        if with_facets:
            columns = file_columns(read)
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(
                        name=spelled, type="VARCHAR", description=f"-> {column}"
                    )
                    for column, spelled in columns.items()
                ],
                producer=PRODUCER,
            )
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
                description=f"{read.entity} landing file ({read.status} by raw.{read.entity})",
                producer=PRODUCER,
            )
            # The file holds the same personal data as the tables it feeds.
            ent = landing_entity(read.entity)
            pii = ent.pii_columns if ent else {}
            spelled_pii = tuple(
                DeclaredColumn(spelled, pii=pii[column])
                for column, spelled in columns.items()
                if column in pii
            )
            if tags := _tags_facet(spelled_pii):
                facets["tags"] = tags
        return InputDataset(namespace=FILE_NAMESPACE, name=read.path, facets=facets)

    def _table_output(
        self, name: str, act: AssetActivity, reads: list[LandingRead]
    ) -> OutputDataset:
        table = self.model.tables[name]
        own = not table.side
        columns, masks = _runtime_columns(table, act.metadata) if own else (table.columns, {})
        facets: dict[str, Any] = {
            "dataSource": datasource_dataset.DatasourceDatasetFacet(
                name=DATASET_NAMESPACE, uri=DATASET_NAMESPACE, producer=PRODUCER
            ),
            "documentation": documentation_dataset.DocumentationDatasetFacet(
                description=table.description or name, producer=PRODUCER
            ),
        }
        if columns:
            facets["schema"] = _schema_facet(columns)
        if tags := _tags_facet(columns):
            facets["tags"] = tags
        if owners := _owners_facet(list(table.owners)):
            facets["ownership"] = owners
        if own and (lineage := self._column_lineage(act.key, columns, masks, reads)):
            facets["columnLineage"] = lineage
        output_facets: dict[str, Any] = {}
        rows = act.metadata.get("dagster/row_count") if own else None
        if isinstance(rows, int):
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=rows, producer=PRODUCER
                )
            )
        return OutputDataset(
            namespace=DATASET_NAMESPACE, name=name, facets=facets, outputFacets=output_facets
        )

    def _column_lineage(
        self,
        key: KeyPath,
        columns: tuple[DeclaredColumn, ...],
        masks: dict[str, str],
        reads: list[LandingRead],
    ) -> column_lineage_dataset.ColumnLineageDatasetFacet | None:
        types = {c.name: c.type for c in columns}
        fields: dict[str, column_lineage_dataset.Fields] = {}
        # How each input is used, where the asset says (e.g. a filter, an aggregation).
        declared = self.model.transformations(key)
        for column, deps in self.model.column_lineage(key).items():
            inputs = []
            for table, source in deps:
                src = self.model.tables.get(table)
                src_col = src.column(source) if src else None
                same = src_col is not None and src_col.type == types.get(column)
                how = declared.get(column, {}).get(f"{table}.{source}")
                if how:
                    kind, subtype, text = how.split("/", 2)
                    tr = column_lineage_dataset.Transformation(
                        type=kind, subtype=subtype, description=text or None
                    )
                elif column in masks:
                    tr = column_lineage_dataset.Transformation(
                        type="DIRECT",
                        subtype="TRANSFORMATION",
                        description=masks[column],
                        masking=True,
                    )
                elif same:
                    tr = column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")
                else:
                    tr = column_lineage_dataset.Transformation(
                        type="DIRECT",
                        subtype="TRANSFORMATION",
                        description=f"cast to {types.get(column) or 'its type'}, validated",
                    )
                inputs.append(
                    column_lineage_dataset.InputField(
                        namespace=DATASET_NAMESPACE, name=table, field=source, transformations=[tr]
                    )
                )
            fields[column] = column_lineage_dataset.Fields(inputFields=inputs)
        for read in reads:
            if not read.contributed:
                continue
            for column, spelled in file_columns(read).items():
                fields.setdefault(column, column_lineage_dataset.Fields(inputFields=[]))
                fields[column].inputFields.append(
                    column_lineage_dataset.InputField(
                        namespace=FILE_NAMESPACE,
                        name=read.path,
                        field=spelled,
                        transformations=[
                            column_lineage_dataset.Transformation(
                                type="DIRECT",
                                subtype="IDENTITY",
                                description="text as delivered; header cleansed to snake_case",
                            )
                        ],
                    )
                )
        if not fields:
            return None
        return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, producer=PRODUCER)

    def _file_output(self, act: AssetActivity) -> OutputDataset | None:
        """An asset that writes a file records it as `path` metadata (the data product)."""
        path = act.metadata.get("path")
        if not isinstance(path, str):
            return None
        facets: dict[str, Any] = {}
        if doc := self.model.description(act.key):
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
                description=doc, producer=PRODUCER
            )
        if owners := _owners_facet(self.model.owners(act.key)):
            facets["ownership"] = owners
        return OutputDataset(namespace=FILE_NAMESPACE, name=path, facets=facets)

    # -- events --------------------------------------------------------------------------

    def asset_events(self, act: AssetActivity) -> list[RunEvent]:
        """START and COMPLETE (or FAIL) for one asset step that ran."""
        if not act.ran or not (act.materialized or act.error):
            return []
        key = act.key
        run_id = asset_run_id(self.summary.run_id, key)
        reads = self._raw_reads(act)
        inputs = [self._file_input(r, False) for r in reads] + [
            InputDataset(namespace=DATASET_NAMESPACE, name=t) for t in self.model.inputs(key)
        ]
        outputs = [
            OutputDataset(namespace=DATASET_NAMESPACE, name=t) for t in self.model.outputs(key)
        ]
        job = self._job(job_name(key), "ASSET", key)
        start = RunEvent(
            eventType=RunState.START,
            eventTime=iso(act.started_at),
            run=self._run(run_id),
            job=job,
            inputs=inputs,
            outputs=outputs,
            producer=PRODUCER,
        )
        end_time = iso(act.ended_at or act.started_at)
        if act.materialized:
            full_outputs = [self._table_output(t, act, reads) for t in self.model.outputs(key)]
            if file_out := self._file_output(act):
                full_outputs.append(file_out)
            end = RunEvent(
                eventType=RunState.COMPLETE,
                eventTime=end_time,
                run=self._run(run_id),
                job=job,
                inputs=[self._file_input(r, True) for r in reads] + inputs[len(reads) :],
                outputs=full_outputs,
                producer=PRODUCER,
            )
        else:
            assert act.error is not None
            end = RunEvent(
                eventType=RunState.FAIL,
                eventTime=end_time,
                run=self._run(run_id, error_text(act.error), act.error.to_string()),
                job=job,
                inputs=inputs,
                outputs=outputs,
                producer=PRODUCER,
            )
        return [start, end]

    def check_events(self, key: KeyPath, checks: list[CheckActivity]) -> list[RunEvent]:
        """The checks of one asset as a job that reads its table and asserts on it."""
        table = self.model.own_table(key)
        if table is None or not checks:
            return []
        declared = self.model.tables.get(table)
        assertions = []
        for c in checks:
            column = c.metadata.get("column")
            if not isinstance(column, str) and c.name.startswith("valid_"):
                candidate = c.name.removeprefix("valid_")
                column = candidate if declared and declared.column(candidate) else None
            spec = self.model.graph.check(key, c.name)
            assertions.append(
                data_quality_assertions_dataset.Assertion(
                    assertion=c.name,
                    success=c.passed,
                    column=column if isinstance(column, str) else None,
                    severity=c.severity,
                    name=f"{job_name(key)}:{c.name}",
                    description=(spec.description if spec else None) or c.description,
                )
            )
        facet = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
            assertions=assertions, producer=PRODUCER
        )
        run_id = asset_run_id(self.summary.run_id, key, "/checks")
        job = self._job(checks_job_name(key), "ASSET_CHECK", key)
        plain = InputDataset(namespace=DATASET_NAMESPACE, name=table)
        checked = InputDataset(
            namespace=DATASET_NAMESPACE,
            name=table,
            inputFacets={"dataQualityAssertions": facet},
        )
        first, last = min(c.at for c in checks), max(c.at for c in checks)
        return [
            RunEvent(
                eventType=RunState.START,
                eventTime=iso(first),
                run=self._run(run_id),
                job=job,
                inputs=[plain],
                producer=PRODUCER,
            ),
            RunEvent(
                eventType=RunState.COMPLETE,
                eventTime=iso(last),
                run=self._run(run_id),
                job=job,
                inputs=[checked],
                producer=PRODUCER,
            ),
        ]

    def run_events(self) -> list[RunEvent]:
        """START and COMPLETE/FAIL of the Dagster run itself, the parent of the others."""
        s = self.summary
        if s.started_at is None:
            return []
        job = self._job(s.job_name, "JOB")
        run = Run(runId=s.run_id, facets={})
        events = [
            RunEvent(
                eventType=RunState.START,
                eventTime=iso(s.started_at),
                run=run,
                job=job,
                producer=PRODUCER,
            )
        ]
        if s.ended_at is not None:
            failed = not s.succeeded
            facets: dict[str, Any] = {}
            if failed and s.error is not None:
                facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                    message=error_text(s.error),
                    programmingLanguage="python",
                    stackTrace=s.error.to_string(),
                    producer=PRODUCER,
                )
            events.append(
                RunEvent(
                    eventType=RunState.FAIL if failed else RunState.COMPLETE,
                    eventTime=iso(s.ended_at),
                    run=Run(runId=s.run_id, facets=facets),
                    job=job,
                    producer=PRODUCER,
                )
            )
        return events

    def all_events(self) -> list[RunEvent]:
        """Every event of the run, in time order (run START first, run end last)."""
        run = self.run_events()
        body: list[RunEvent] = []
        for act in self.summary.assets.values():
            body += self.asset_events(act)
        by_asset: dict[KeyPath, list[CheckActivity]] = {}
        for c in self.summary.checks:
            by_asset.setdefault(c.asset_key, []).append(c)
        for key, checks in by_asset.items():
            body += self.check_events(key, checks)
        body.sort(key=lambda e: (e.eventTime, e.eventType != RunState.START))
        return run[:1] + body + run[1:]
