"""What the scanner finds per table and column, and what it stored last time."""

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ColumnScan:
    name: str
    position: int
    data_type: str
    nullable: bool
    null_count: int | None  # None: not profiled (a masked view column)
    distinct_count: int | None
    min_value: str | None
    max_value: str | None
    # When distinct_count was counted over every row; None: by this scan (scan_types is
    # filled before the scan's time is known to the writer).
    distinct_as_of: dt.datetime | None = None


@dataclass(frozen=True)
class TableScan:
    schema: str
    table: str
    table_type: str
    row_count: int
    columns: tuple[ColumnScan, ...]

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True)
class StoredProfile:
    """A table's profile from the last scan, and what its data was then."""

    table_type: str
    row_count: int
    last_materialized: dt.datetime | None
    scanned_at: dt.datetime
    # column name -> (position, type, null count, distinct count, min, max, distinct as of)
    columns: dict[str, tuple]
    # The small table's content fingerprint then (fingerprint.py); None: not taken.
    fingerprint: str | None = None
    # When the table's own distinct counts were last counted over every row, and its row
    # count then (None: a catalog written before they were kept).
    distinct_as_of: dt.datetime | None = None
    distinct_rows: int | None = None
