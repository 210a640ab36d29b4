"""Landing files: the seed's CSV shape or Parquet, written atomically, piece by piece.

A file is written under a hidden temporary name in its folder and renamed into place when
complete, so a sensor watching the folder never reads half a file. Pieces of a file can be
encoded on worker threads (`encode`) and appended in order by one writer (`PartFile`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fs_assets.model.columns import Entity

FORMATS = ("csv", "parquet")
# Every value is rendered so that it never needs quoting, which gives pandas' minimal
# quoting byte for byte; should a delimiter or quote slip through, arrow refuses to write.
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, batch_size=8_192, quoting_style="none")
PARQUET_ROW_GROUP = 1_000_000

Encoded = pa.Buffer | pa.Table


def part_name(entity: str, seed: int, part: int, fmt: str) -> str:
    """The deterministic file name other code relies on."""
    return f"{entity}_s{seed}_p{part:05d}.{fmt}"


def schema(entity: Entity) -> pa.Schema:
    """All columns as text, named by their source headers, in the entity's order."""
    return pa.schema([(c.source_header, pa.string()) for c in entity.columns])


def to_table(entity: Entity, columns: Mapping[str, pa.Array]) -> pa.Table:
    """The builder's columns as a table in the entity's shape; refuses drifted columns."""
    missing = set(entity.column_names) - set(columns)
    extra = set(columns) - set(entity.column_names)
    if missing or extra:
        raise ValueError(f"{entity.name}: missing columns {missing}, unexpected {extra}")
    return pa.Table.from_arrays([columns[c.name] for c in entity.columns], schema=schema(entity))


def encode(entity: Entity, columns: Mapping[str, pa.Array], fmt: str, first_row: int) -> Encoded:
    """One piece of a file: CSV bytes (index column from `first_row`) or a Parquet table.

    CSV is rendered here so that worker threads can share the formatting work.
    """
    table = to_table(entity, columns)
    if fmt != "csv":
        return table
    index = np.arange(first_row, first_row + table.num_rows, dtype=np.int64)
    table = table.add_column(0, "", pa.array(index))
    sink = pa.BufferOutputStream()
    with pacsv.CSVWriter(sink, table.schema, write_options=_CSV_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue()


class PartFile:
    """One landing file, appended to piece by piece; in place only once complete."""

    def __init__(
        self,
        directory: Path,
        entity: Entity,
        seed: int,
        part: int,
        fmt: str,
        name: str | None = None,
    ) -> None:
        """`name` (without suffix) replaces the generator's part name (simulated days)."""
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
        self.entity = entity
        self.fmt = fmt
        file_name = f"{name}.{fmt}" if name else part_name(entity.name, seed, part, fmt)
        self.path = directory / file_name
        self.temporary = directory / f".{self.path.name}.tmp"
        self.rows = 0
        self._sink: pa.NativeFile | None = None
        self._parquet: pq.ParquetWriter | None = None

    def __enter__(self) -> PartFile:
        return self.open()

    def open(self) -> PartFile:
        """Start the temporary file (with the header)."""
        if self.fmt == "csv":
            self._sink = pa.OSFile(str(self.temporary), "wb")
            # pandas' to_csv header: the unnamed index, then the source headers, unquoted.
            header = ",".join(["", *schema(self.entity).names]) + "\n"
            self._sink.write(header.encode("utf-8"))
        else:
            self._parquet = pq.ParquetWriter(str(self.temporary), schema(self.entity))
        return self

    def write(self, piece: Encoded, rows: int) -> None:
        """Append an `encode`d piece holding `rows` rows."""
        if isinstance(piece, pa.Table):
            assert self._parquet is not None
            self._parquet.write_table(piece, row_group_size=PARQUET_ROW_GROUP)
        else:
            assert self._sink is not None
            self._sink.write(piece)
        self.rows += rows

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
        if exc_type is None:
            self.commit()
        else:
            self.temporary.unlink(missing_ok=True)

    def close(self) -> None:
        """Finish the temporary file; it is not in place yet (see `commit`)."""
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None

    def commit(self) -> None:
        """Rename the finished file into place."""
        os.replace(self.temporary, self.path)


def write_part(
    directory: Path,
    entity: Entity,
    seed: int,
    part: int,
    fmt: str,
    columns: Mapping[str, pa.Array],
) -> Path:
    """Write a whole part file from one set of columns (small entities)."""
    with PartFile(directory, entity, seed, part, fmt) as part_file:
        part_file.write(encode(entity, columns, fmt, 0), len(next(iter(columns.values()))))
    return part_file.path
