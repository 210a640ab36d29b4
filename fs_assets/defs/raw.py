"""`raw.<entity>` assets: new landing files merged into the append-only history."""

import os
from pathlib import Path

import dagster as dg

from fs_assets.defs.keys import MOCK_SOURCES_KEY, raw_key
from fs_assets.defs.metadata import column_schema, table_name
from fs_assets.model.columns import Entity
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import OWNER
from fs_assets.transforms.landing_files import (
    SETTLE_S,
    SETTLE_WAIT_S,
    LandingFolderError,
    check_writable,
    wait_until_settled,
)
from fs_assets.transforms.raw_history import IngestOutcome
from resources.landing_zone import LandingZoneResource
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource


def _outcomes_markdown(outcomes: list[IngestOutcome]) -> str:
    if not outcomes:
        return "No new landing files."
    lines = [
        "| file | status | read | inserted | already present | rejected rows | corrections "
        "| error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        err = (f"line {o.error_line}: " if o.error_line else "") + (o.error or "")
        lines.append(
            f"| {o.path.rsplit('/', 1)[-1]} | {o.status} | {o.rows_read} | {o.rows_inserted} "
            f"| {o.rows_already_present} | {o.rows_rejected} | {o.rows_corrected} "
            f"| {err.replace('|', '/')} |"
        )
    return "\n".join(lines)


def _report_outcomes(
    context: dg.AssetExecutionContext,
    landing: LandingZoneResource,
    ent: Entity,
    files: list[Path],
    ingested: list[IngestOutcome],
) -> list[IngestOutcome]:
    """The outcomes of the new files (one per file, in order) that were not skipped;
    move unreadable files aside and log what happened to each file."""
    outcomes: list[IngestOutcome] = []
    for path, outcome in zip(files, ingested, strict=True):
        if outcome.status == "skipped":
            continue
        outcomes.append(outcome)
        if outcome.status == "rejected":
            report = {
                "file": str(path),
                "entity": ent.name,
                "line": outcome.error_line,
                "reason": outcome.error,
                "run_id": context.run_id,
            }
            try:
                where = f"moved to {landing.move_aside(ent.name, path, report)} with a report"
            except FileNotFoundError:
                if os.path.lexists(path):
                    raise
                where = "it is no longer in the landing folder, so nothing was moved aside"
            context.log.error(
                f"rejected {path}"
                + (f", line {outcome.error_line}" if outcome.error_line else "")
                + f": {outcome.error}; nothing from this file was ingested; {where}"
            )
            continue
        if outcome.status == "ingested" and outcome.rows_read == 0:
            context.log.warning(
                f"{path}: the file holds a header and no rows; nothing was ingested from it"
            )
        if outcome.rows_rejected:
            context.log.warning(
                f"{path}: {outcome.rows_rejected} rows without a usable key or modified_at, "
                f"or with a control character, went to quarantine.{ent.name}_ingest_rejects "
                "(the reason names the column)"
            )
        if outcome.rows_corrected:
            context.log.warning(
                f"{path}: {outcome.rows_corrected} same-timestamp corrections: versions with "
                "the (key, modified_at) of a stored version but other content; stored, and "
                "they win at mastering"
            )
        context.log.info(f"{path}: {outcome.status}, {outcome.rows_inserted} new")
    return outcomes


def _checked_listing(
    context: dg.AssetExecutionContext, landing: LandingZoneResource, ent: Entity
) -> tuple[list[Path], list[Path]]:
    """(entries to ingest: data files and symlinks to refuse, sub-folders not read).

    Fails before anything is read when the folder is not writable, since rejected files
    must be moved out of it (otherwise each run would reject them again).
    """
    listing = landing.listing(ent.folder)
    for folder in listing.folders:
        context.log.warning(
            f"{folder} is a sub-folder of the landing folder and is not read: only files "
            f"directly in {folder.parent} are ingested; move its files up to ingest them"
        )
    entries = sorted(listing.files + listing.symlinks)
    if entries:
        try:
            check_writable(landing.entity_dir(ent.folder))
            check_writable(landing.rejected_dir / ent.name, "folder for rejected files")
        except LandingFolderError as err:
            raise dg.Failure(description=str(err)) from err
    return entries, listing.folders


def build_raw_asset(ent: Entity) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(ent.name),
        group_name="raw",
        owners=[OWNER],
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        deps=[MOCK_SOURCES_KEY],
        description=(
            f"Append-only history of {ent.name} versions as delivered in landing files. "
            f"Grain: one row per ({ent.key}, modified_at) version (and per same-timestamp "
            "correction), text as delivered, plus the file, row and time of ingestion. Merge "
            f"rule (seed): insert only versions whose ({ent.key}, modified_at) is not already "
            "present; one with the same key and time but other content is a correction, "
            "stored and counted. A file already in the ledger is not read again."
        ),
        metadata={
            "dagster/table_name": table_name("raw", ent.name),
            "dagster/column_schema": column_schema(ent, typed=False),
            "merge_rule": f"old.{ent.key} = new.{ent.key} AND old.modified_at = new.modified_at "
            "AND old.<every column> IS NOT DISTINCT FROM new.<every column> "
            "WHEN NOT MATCHED THEN INSERT",
        },
    )
    def _raw(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        landing: LandingZoneResource,
    ) -> dg.MaterializeResult:
        entries, folders = _checked_listing(context, landing, ent)
        settled = wait_until_settled(entries)
        for path in settled.changing:
            context.log.warning(
                f"{path} was still being written after {SETTLE_WAIT_S:.0f} s and is not read "
                "in this run: the next run (or the landing sensor) ingests it once it stays "
                f"unchanged for {SETTLE_S} s; land big files under a name starting with '.' "
                "or '_' and rename them when complete"
            )
        for path in settled.gone:
            context.log.warning(f"{path} went away before it could be read; nothing ingested")
        files = settled.ready
        with warehouse.open_engine() as engine:
            ingested = engine.ingest(ent, files, context.run_id)
        outcomes = _report_outcomes(context, landing, ent, files, ingested.outcomes)
        total, keys = ingested.rows, ingested.keys
        inserted = sum(o.rows_inserted for o in outcomes)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(total),
                "distinct_keys": dg.MetadataValue.int(keys),
                "files_new": dg.MetadataValue.int(len(outcomes)),
                "files_rejected": dg.MetadataValue.int(
                    sum(o.status == "rejected" for o in outcomes)
                ),
                "rows_inserted": dg.MetadataValue.int(inserted),
                "rows_quarantined": dg.MetadataValue.int(sum(o.rows_rejected for o in outcomes)),
                "rows_corrected": dg.MetadataValue.int(sum(o.rows_corrected for o in outcomes)),
                "files_without_rows": dg.MetadataValue.json(
                    [o.path for o in outcomes if o.status == "ingested" and o.rows_read == 0]
                ),
                "folders_ignored": dg.MetadataValue.json([str(p) for p in folders]),
                "files_still_being_written": dg.MetadataValue.json(
                    [str(p) for p in settled.changing]
                ),
                "ingestion": dg.MetadataValue.md(_outcomes_markdown(outcomes)),
                # The files this run read, for OpenLineage (fs_assets/lineage/landing.py).
                "landing_files": dg.MetadataValue.json(
                    [{"path": o.path, "status": o.status} for o in outcomes]
                ),
            }
        )

    return _raw


RAW_ASSETS = [build_raw_asset(e) for e in ENTITIES.values()]
