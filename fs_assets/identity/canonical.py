"""Every source read through its mapping into one canonical table, then standardised.

`read_source` reads a source's landing files by its mapping (only the mapped columns, all
as text, renamed to the canonical attributes: no SQL is built from a column name);
`load_records` writes `identity.records` (the latest version of every source record,
typed with the mapping's formats, trust rank kept for survivorship) from the landing
files, `load_mastered_records` the same table from the mastered tables (`mastered.customer`
for the core feed, `mastered.src_<source>` for the others: records that passed their
source's rules, the newest valid version of each); and
`standardise` writes `identity.features`, the cleaned values Splink compares (lower
case, letters only in names, digits only in phones and pins, an invalid e-mail or date
of birth is NULL). Both tables hold PII.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fs_assets.identity.attributes import ATTRIBUTES, DATE_ATTRIBUTES, EMAIL_PATTERN
from fs_assets.identity.mapping import SourceMapping
from fs_assets.identity.source_entity import CORE_FOLDER, KEY, VERSION, source_entity_name
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import MASTERED_SCHEMA
from fs_assets.model.rules import q
from fs_assets.transforms.duckdb_file import table_exists
from fs_assets.transforms.landing_files import cleanse_column_name

SCHEMA = "identity"  # the linkage's working tables; PII, inside the governed boundary
_BATCH = "_identity_batch"  # the Arrow batch a source's rows are read from
_SUFFIXES = {"csv": ".csv", "parquet": ".parquet"}
TEXT_COLUMNS = ("source_id", "updated_at", *ATTRIBUTES)


class SourceReadError(ValueError):
    """A source's landing file that does not match its mapping, naming both."""


def source_files(landing: Path, mapping: SourceMapping) -> list[Path]:
    """A source's landing files, by name (hidden and partial files are not read)."""
    folder = landing / mapping.landing_folder
    if not folder.is_dir():
        return []
    suffix = _SUFFIXES[mapping.format]
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix == suffix and not p.name.startswith((".", "_"))
    )


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def _read_file(path: Path, mapping: SourceMapping) -> pa.Table:
    """The mapped columns of one file, as text, in the mapping's order; a file that
    cannot be read is named with the reason."""
    try:
        return _read_columns(path, mapping)
    except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise SourceReadError(
            f"{path}: cannot be read as {mapping.format} for source {mapping.source} "
            f"(UTF-8 with a header row expected): {exc}"
        ) from exc


def _read_columns(path: Path, mapping: SourceMapping) -> pa.Table:
    wanted = mapping.columns
    header = _csv_header(path) if mapping.format == "csv" else pq.read_schema(path).names
    missing = [c for c in wanted if c not in header]
    if missing:
        raise SourceReadError(
            f"{path}: column(s) {missing} that {mapping.path or mapping.source} maps are not "
            "in the file's header; fix the mapping file or the source's export"
        )
    if mapping.format == "parquet":
        return pq.read_table(path, columns=wanted).cast(
            pa.schema([(c, pa.string()) for c in wanted])
        )
    options = pacsv.ConvertOptions(
        include_columns=wanted,
        column_types={c: pa.string() for c in wanted},
        strings_can_be_null=False,
    )
    return pacsv.read_csv(path, convert_options=options)


def read_source(landing: Path, mapping: SourceMapping) -> pa.Table:
    """All rows of a source's files with canonical column names (absent attributes NULL)
    and each row's file and row number (the newest delivery of a record wins a tie)."""
    pieces = []
    for index, path in enumerate(source_files(landing, mapping)):
        table = _read_file(path, mapping)
        rows = table.num_rows
        columns = {
            "source_id": table.column(mapping.id_column),
            "updated_at": table.column(mapping.updated_at_column),
        }
        for attribute in ATTRIBUTES:
            column = mapping.attributes.get(attribute)
            columns[attribute] = (
                table.column(column) if column is not None else pa.nulls(rows, pa.string())
            )
        columns["_file"] = pa.array([index] * rows, pa.int32())
        columns["_row"] = pa.array(range(rows), pa.int64())
        pieces.append(pa.table(columns))
    if not pieces:
        empty = {c: pa.array([], pa.string()) for c in TEXT_COLUMNS}
        return pa.table(
            {**empty, "_file": pa.array([], pa.int32()), "_row": pa.array([], pa.int64())}
        )
    return pa.concat_tables(pieces)


def _typed(attribute: str) -> str:
    """A canonical attribute as stored in `identity.records` (dates parsed by format)."""
    value = f"nullif(trim({attribute}), '')"
    if attribute in DATE_ATTRIBUTES:
        return f"try_strptime({value}, $date_format)::date as {attribute}"
    return f"{value} as {attribute}"


def create_records(con: duckdb.DuckDBPyConnection) -> None:
    """An empty `identity.records`: one row per source record version read."""
    con.execute(f"create schema if not exists {SCHEMA}")
    attributes = ", ".join(
        f"{a} {'date' if a in DATE_ATTRIBUTES else 'varchar'}" for a in ATTRIBUTES
    )
    con.execute(
        f"create or replace table {SCHEMA}.records_read (unique_id varchar, source varchar, "
        f"source_id varchar, trust_rank integer, updated_at timestamp, {attributes}, "
        "_file integer, _row bigint)"
    )


def insert_source(con: duckdb.DuckDBPyConnection, mapping: SourceMapping, batch: pa.Table) -> int:
    """Add one source's rows to `identity.records_read`, typed by its mapping's formats;
    rows without an id are skipped (they cannot be linked or traced)."""
    select = ", ".join(_typed(a) for a in ATTRIBUTES)
    con.register(_BATCH, batch)
    try:
        con.execute(
            f"insert into {SCHEMA}.records_read select $source || ':' || trim(source_id), "
            "$source, trim(source_id), $trust_rank, "
            "try_strptime(nullif(trim(updated_at), ''), $timestamp_format), "
            f"{select}, _file, _row from {_BATCH} where nullif(trim(source_id), '') is not null",
            {
                "source": mapping.source,
                "trust_rank": mapping.trust_rank,
                "timestamp_format": mapping.timestamp_format,
                "date_format": mapping.date_format,
            },
        )
    finally:
        con.unregister(_BATCH)
    return batch.num_rows


def latest_versions(con: duckdb.DuckDBPyConnection) -> None:
    """`identity.records`: the newest version of every source record (by update time,
    then the later file and row), one row per (source, source id)."""
    con.execute(
        f"create or replace table {SCHEMA}.records as select * exclude (_file, _row) "
        f"from {SCHEMA}.records_read qualify row_number() over (partition by unique_id "
        "order by updated_at desc nulls last, _file desc, _row desc) = 1 order by unique_id"
    )
    con.execute(f"drop table {SCHEMA}.records_read")


def load_records(
    con: duckdb.DuckDBPyConnection, landing: Path, mappings: Sequence[SourceMapping]
) -> dict[str, int]:
    """Read every source through its mapping into `identity.records`; rows read per source."""
    create_records(con)
    counts = {m.source: insert_source(con, m, read_source(landing, m)) for m in mappings}
    latest_versions(con)
    return counts


def mastered_source(mapping: SourceMapping) -> tuple[str, str, str, dict[str, str]]:
    """(mastered table, id column, version column, attribute -> column) of a source: the
    core feed's customer table (its headers cleansed, as raw names them), or the source
    entity's `mastered.src_<source>` (named by attribute)."""
    if mapping.landing_folder == CORE_FOLDER:
        return (
            CUSTOMER.name,
            cleanse_column_name(mapping.id_column),
            cleanse_column_name(mapping.updated_at_column),
            {a: cleanse_column_name(c) for a, c in mapping.attributes.items()},
        )
    columns = {a: a for a in mapping.attributes}
    return source_entity_name(mapping.source), KEY, VERSION, columns


def _mastered_value(attribute: str, column: str | None) -> str:
    if column is None:
        return f"null as {attribute}"
    if attribute in DATE_ATTRIBUTES:
        return f"cast(m.{q(column)} as date) as {attribute}"
    return f"nullif(trim(cast(m.{q(column)} as varchar)), '') as {attribute}"


def mastered_relations(con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> dict[str, str]:
    """The file's mastered tables among `tables`, each by its quoted name (what the DuckDB
    engine reads; the Spark engine hands its own tables' relations instead)."""
    return {t: f"{MASTERED_SCHEMA}.{q(t)}" for t in tables if table_exists(con, MASTERED_SCHEMA, t)}


def mastered_tables(mappings: Sequence[SourceMapping]) -> list[str]:
    """The mastered table each source is read from, in the mappings' order."""
    return [mastered_source(m)[0] for m in mappings]


def insert_mastered(
    con: duckdb.DuckDBPyConnection, mapping: SourceMapping, relations: Mapping[str, str]
) -> int:
    """Add one source's mastered rows (its valid records) to `identity.records_read`, read
    from its relation in `relations` (mastered table -> relation `con` reads); names are
    quoted identifiers, the source and its rank parameters."""
    table, id_column, version, columns = mastered_source(mapping)
    if table not in relations:
        raise SourceReadError(
            f"{MASTERED_SCHEMA}.{table} does not exist: materialize mastered/{table} "
            f"(source {mapping.source}) before linking"
        )
    ident = f"trim(cast(m.{q(id_column)} as varchar))"
    select = ", ".join(_mastered_value(a, columns.get(a)) for a in ATTRIBUTES)
    before = con.execute(f"select count(*) from {SCHEMA}.records_read").fetchall()[0][0]
    con.execute(
        f"insert into {SCHEMA}.records_read select $source || ':' || {ident}, $source, "
        f"{ident}, $trust_rank, cast(m.{q(version)} as timestamp), {select}, 0, 0 "
        f"from {relations[table]} m where nullif({ident}, '') is not null",
        {"source": mapping.source, "trust_rank": mapping.trust_rank},
    )
    return con.execute(f"select count(*) from {SCHEMA}.records_read").fetchall()[0][0] - before


def load_mastered_records(
    con: duckdb.DuckDBPyConnection,
    mappings: Sequence[SourceMapping],
    relations: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """`identity.records` from the mastered tables (clean, typed records: a row a source's
    rules quarantined is not linked); rows read per source. `relations`: where each
    mastered table is read (default: the file's own tables)."""
    if relations is None:
        relations = mastered_relations(con, mastered_tables(mappings))
    create_records(con)
    counts = {m.source: insert_mastered(con, m, relations) for m in mappings}
    latest_versions(con)
    return counts


_NAME_CLEAN = "nullif(lower(regexp_replace(strip_accents({c}), '[^A-Za-z]', '', 'g')), '')"
_TEXT_CLEAN = "nullif(lower(trim(regexp_replace({c}, '\\s+', ' ', 'g'))), '')"
_DIGITS = "regexp_replace({c}, '[^0-9]', '', 'g')"
EARLIEST_BIRTH = "1900-01-01"


def _feature(attribute: str) -> str:
    c = f"r.{attribute}"
    if attribute in ("first_name", "middle_name", "last_name"):
        return _NAME_CLEAN.format(c=c)
    if attribute == "date_of_birth":
        return f"case when {c} between date '{EARLIEST_BIRTH}' and current_date then {c} end"
    if attribute == "email":
        return f"case when regexp_full_match(lower(trim({c})), $email) then lower(trim({c})) end"
    if attribute == "mobile":
        digits = _DIGITS.format(c=c)
        return f"case when length({digits}) >= 10 then right({digits}, 10) end"
    if attribute == "pin":
        return f"nullif({_DIGITS.format(c=c)}, '')"
    if attribute == "national_id":
        return f"nullif(upper(regexp_replace({c}, '[^A-Za-z0-9]', '', 'g')), '')"
    return _TEXT_CLEAN.format(c=c)


def standardise(con: duckdb.DuckDBPyConnection) -> int:
    """`identity.features`: the values Splink compares, one row per record; an invalid
    value is NULL (so it neither matches nor wins survivorship)."""
    features = ", ".join(f"{_feature(a)} as {a}" for a in ATTRIBUTES)
    full_name = f"nullif(concat_ws(' ', {_feature('first_name')}, {_feature('last_name')}), '')"
    con.execute(
        f"create or replace table {SCHEMA}.features as select r.unique_id, r.source, "
        f"{features}, {full_name} as full_name from {SCHEMA}.records r order by r.unique_id",
        {"email": EMAIL_PATTERN},
    )
    return con.execute(f"select count(*) from {SCHEMA}.features").fetchall()[0][0]
