"""What the landing folder already holds, as the simulated source systems see it.

The simulation extends the population that has landed, not the one the warehouse has
ingested: the landing folder is the source systems' own record (the warehouse may lag
behind a sensor), so the highest ids and each record's latest version are read from its
files. Customers and accounts are loaded into a scratch DuckDB file (bounded memory),
and campaigns and campaign events (the simulated campaigns continue them); transactions
only contribute their highest id. Files are read with the ingestion's own
header contract (`landing_files.file_layout`): a file the pipeline would reject is skipped
here too, and names are data (escaped paths, `?` parameters). Planted faults (the files
the truth file beside the folder lists) only count for the highest ids: no change or
re-score builds on a faulty version, so the faults stay exactly those the truth lists.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from fs_assets.generator.faults import fault_files
from fs_assets.model.columns import Entity
from fs_assets.model.entities import ACCOUNT, CAMPAIGN, CAMPAIGN_EVENT, CUSTOMER, ENTITIES
from fs_assets.transforms.landing_files import (
    LandingFileError,
    file_layout,
    list_landing,
    relation_sql,
)

# Entities whose versions the simulation builds on (the rest only need their highest id).
VERSIONED = (CUSTOMER.name, ACCOUNT.name)
# Entities whose rows the simulated campaigns read as landed (few: campaigns and events).
RECORDED = (CAMPAIGN.name, CAMPAIGN_EVENT.name)
# A customer's facts a simulated campaign event reads, from the version in force then.
IN_FORCE_COLUMNS = (
    "cust_id",
    "customer_type",
    "minor_flag",
    "customer_status",
    "marketing_consent",
    "do_not_contact",
    "cibil_score",
    "afflunce_level",
    "customer_risk_category",
)
SCRATCH_MEMORY_LIMIT = "1GB"
# Newest version first: modified_at, then the later file and row (as ingestion orders ties).
_LATEST = (
    "row_number() over (partition by _key order by _modified desc nulls last, _file desc,"
    " _row desc)"
)


def _columns(ent: Entity) -> str:
    return ", ".join(f'"{c}"' for c in ent.column_names)


class LandedState:
    """Highest ids and latest versions of the records in one landing folder."""

    def __init__(self, landing: Path, scratch: Path) -> None:
        self.landing = landing
        self.scratch = scratch
        self.conn = duckdb.connect(str(scratch / "landed.duckdb"))
        self.conn.execute(f"set memory_limit = '{SCRATCH_MEMORY_LIMIT}'").fetchall()
        self.conn.execute("set preserve_insertion_order = false").fetchall()
        self.max_ids: dict[str, int] = {}
        self.skipped: list[str] = []
        self._loaded: set[tuple[str, str]] = set()
        faulty = fault_files(landing)
        for name in VERSIONED:
            ent = ENTITIES[name]
            cols = ", ".join(f'"{c}" varchar' for c in ent.column_names)
            self.conn.execute(
                f"create table {name} ({cols}, _key bigint, _modified timestamp,"
                " _file varchar, _row bigint)"
            ).fetchall()
        for name in RECORDED:
            cols = ", ".join(f'"{c}" varchar' for c in ENTITIES[name].column_names)
            self.conn.execute(f"create table {name} ({cols})").fetchall()
        for name in ENTITIES:
            for path in list_landing(landing / name).files:
                self.add(name, path, faulty=f"{name}/{path.name}" in faulty)

    def close(self) -> None:
        self.conn.close()

    def add(self, entity: str, path: Path, name: str | None = None, faulty: bool = False) -> None:
        """Take one file into the state; `name` is its final name when `path` is temporary.

        A `faulty` file (planted faults) adds to the highest ids only, not to the versions.
        """
        label = name or path.name
        if (entity, label) in self._loaded:
            return
        self._loaded.add((entity, label))
        if name is not None:  # our own file, still hidden: read a copy under its real name
            copy = self.scratch / name
            shutil.copyfile(path, copy)
            try:
                self._load(entity, copy, label, own=True, faulty=faulty)
            finally:
                copy.unlink()
        else:
            self._load(entity, path, label, own=False, faulty=faulty)

    def _load(self, entity: str, path: Path, label: str, own: bool, faulty: bool) -> None:
        ent = ENTITIES[entity]
        try:
            layout = file_layout(self.conn, ent, path)
        except LandingFileError as exc:
            if own:
                raise
            self.skipped.append(str(exc))
            return
        sql, params = relation_sql(layout)
        aliases = ", ".join(f'"{c}"' for c in ent.column_names)
        source = f"(select *, row_number() over () as _row from ({sql}) t({aliases}))"
        key = f'try_cast("{ent.key}" as bigint)'
        try:
            if entity in VERSIONED and not faulty:
                self.conn.execute(
                    f"insert into {entity} select {_columns(ent)}, {key},"
                    " try_cast(modified_at as timestamp), ?, _row from " + source,
                    [label, *params],
                ).fetchall()
                top = self.conn.execute(f"select max(_key) from {entity}").fetchall()[0]
            else:
                if entity in RECORDED and not faulty:
                    self.conn.execute(
                        f"insert into {entity} select {_columns(ent)} from " + source, params
                    ).fetchall()
                top = self.conn.execute(f"select max({key}) from {source}", params).fetchall()[0]
        except duckdb.Error as exc:
            if own:
                raise
            self.skipped.append(f"{path}: {exc}".splitlines()[0])
            return
        if top and top[0] is not None:
            self.max_ids[entity] = max(self.max_ids.get(entity, 0), int(top[0]))

    def latest(self, entity: str, keys: Sequence[int]) -> pa.Table:
        """The latest version of each of `keys` that has landed, ordered by key."""
        ent = ENTITIES[entity]
        return self.conn.sql(
            f"select {_columns(ent)}, _key, _modified from {entity}"
            " where _key in (select unnest(?::bigint[]))"
            f" qualify {_LATEST} = 1 order by _key",
            params=[list(keys)],
        ).to_arrow_table()

    def accounts_of(self, cust_ids: Sequence[int]) -> pa.Table:
        """The latest version of every account whose latest version names these customers."""
        return self.conn.sql(
            f"select * exclude (_file, _row) from (select {_columns(ACCOUNT)}, _key, _modified,"
            f" _file, _row from account qualify {_LATEST} = 1)"
            " where try_cast(cust_id as bigint) in (select unnest(?::bigint[])) order by _key",
            params=[list(cust_ids)],
        ).to_arrow_table()

    def accounts_in_use(self, statuses: Sequence[str]) -> pa.Table:
        """account_id, cust_id, currency of each account whose latest status is in use."""
        return self.conn.sql(
            "select account_id, cust_id, currency from (select account_id, cust_id, currency,"
            f" account_status, _key from account qualify {_LATEST} = 1)"
            " where account_status in (select unnest(?::varchar[])) order by _key",
            params=[list(statuses)],
        ).to_arrow_table()

    def campaign_ids(self) -> set[str]:
        """Ids of the campaigns that have landed."""
        rows = self.conn.execute(f"select distinct campaign_id from {CAMPAIGN.name}").fetchall()
        return {r[0] for r in rows}

    def campaign_events(self, campaign_ids: Sequence[str]) -> pa.Table:
        """campaign_id, cust_id, event_type, event_ts of these campaigns' landed events."""
        return self.conn.sql(
            f"select campaign_id, cust_id, event_type, event_ts from {CAMPAIGN_EVENT.name}"
            " where campaign_id in (select unnest(?::varchar[]))"
            " order by campaign_id, cust_id, event_ts, event_type",
            params=[list(campaign_ids)],
        ).to_arrow_table()

    def in_force(self, cust_ids: Sequence[int], times: Sequence[int]) -> pa.Table:
        """Per (customer, time in seconds since 1970), in that order: IN_FORCE_COLUMNS of
        the customer's landed version in force then (the newest modified at or before it;
        before the first version, the first), or nulls for a customer that never landed;
        `_known` is false when no version is that old (the customer did not exist yet)."""
        cols = ", ".join(f'"{c}"' for c in IN_FORCE_COLUMNS[1:])
        at = "(timestamp '1970-01-01' + to_seconds(a._at))"
        return self.conn.sql(
            f"""with asked as (
                  select unnest(?::bigint[]) as _key, unnest(?::bigint[]) as _at,
                    unnest(range(len(?::bigint[]))) as _i),
                versions as (
                  select a._i, a._key as _asked, c.*, row_number() over (
                    partition by a._i
                    order by c._modified <= {at} desc,
                      case when c._modified <= {at} then c._modified end desc nulls last,
                      c._modified, c._file desc, c._row desc) as _rank,
                    coalesce(c._modified <= {at}, false) as _known
                  from asked a left join {CUSTOMER.name} c on c._key = a._key)
                select _asked as cust_id, {cols}, _known from versions where _rank = 1
                order by _i""",
            params=[list(cust_ids), list(times), list(cust_ids)],
        ).to_arrow_table()
