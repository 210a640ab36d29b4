"""The data an interactive dashboard page filters: cubes at the filter grain, and customers.

A page's filters (archetype, state, segment, risk, affluence, a month range) and its
cross-filtering need the marts' figures for every combination of filter values, so each
page carries "cubes": the figures' measures summed per filter cell (and per month where a
chart has time), never per customer. A page's cell table numbers the filter cells once;
a cube row names its cell by that number. Each chart has a cube at its own grain (cell x
month x the chart's dimension), so no chart sums more rows than it shows. The page's
script sums a cube's rows that pass the filters into the rows a chart was drawn from (see
Binding), so with no filter set a chart shows exactly the mart's rows; `cube_rows` does the
same in DuckDB for the checks and tests. Cubes are column-encoded, dimensions as indexes
into a dictionary.

The customers behind a selection come from one role's governed view (PAGE_ROLE): its
non-PII columns and its keyed cust_id token, at most CUSTOMERS_PER_CELL per filter cell.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from fs_assets.model.rules import q
from fs_assets.model.value_sets import CAMPAIGN_EVENT_TYPES
from fs_assets.transforms.governance import GOVERNED_SCHEMA, view_name
from fs_assets.transforms.governance.masking_key import INNER_VAR, hmac_sql
from fs_assets.transforms.governance.policies import ANALYST
from fs_assets.transforms.marts.cross_sell import CAMPAIGNS_TABLE, CROSS_SELL_TABLE, EVENTS_TABLE
from fs_assets.transforms.marts.features import spend_predicate
from fs_assets.transforms.marts.flow_charts import Row, json_value
from fs_assets.transforms.marts.model import (
    CONVERTED_EVENTS,
    OFFERS,
    SPEND_SEGMENT_BOUNDS,
    SPEND_SEGMENTS,
)
from fs_assets.transforms.sql_files import load_sql

SQL_PACKAGE = "fs_assets.transforms.marts"
# The page filters: cube column and label, in the order the page shows them.
FILTERS = (
    ("archetype", "Archetype"),
    ("state", "State"),
    ("segment", "Segment"),
    ("risk", "Risk category"),
    ("affluence", "Affluence level"),
)
FILTER_COLUMNS = tuple(c for c, _ in FILTERS)
MONTH = "month"  # the cube column the date range filters
CELL = "cell"  # a cube's filter cell: the row of the page's cell table
# The columns a cube sums (every other column is a dimension, dictionary-encoded).
MEASURES = (
    "customers",
    "accounts",
    "transactions",
    "spend",
    "amount",
    "contacted",
    "converted",
)
# Amounts travel in the page as whole cents (integers: shorter than decimals, summed exactly
# by the page's script, which divides the sums).
CENTS = 100
AMOUNTS = ("spend", "amount")
CUSTOMER_LIST = "customers_list"  # the cube name of the governed customer list
# The view of every customer's cell while a page's cubes are computed (page_cells.sql).
CELL_VIEW = "_fs_page_cells"
# The view of every person's cell, stages, card, spend segment and spend (page_people.sql),
# kept while the pages' cubes are summed from it.
PEOPLE_VIEW = "_fs_page_people"
# Relative difference allowed between a page's sums (floats) and the mart's (decimals).
SUM_TOLERANCE = 1e-6
# The role whose governed view the customer tables read, and how many per filter cell.
PAGE_ROLE = ANALYST
CUSTOMERS_PER_CELL = 5
# The role's non-PII customer columns the tables show (cust_id is its keyed token).
CUSTOMER_COLUMNS = (
    "cust_id",
    "customer_type",
    "customer_category",
    "occupation",
    "cibil_score",
    "customer_status",
    "has_pending_correction",
)


# The page's own dimension of its customers (a column of page_customers.sql): the cube
# customers_by_<it> beside the cells' customers.
CUSTOMER_EXTRAS = ("stage", "onboarded_card", "spend_segment")
PAGE_CUSTOMER_EXTRA = {
    "campaign_funnel": "stage",
    "campaign_uplift": "stage",
    "lead_generation": "onboarded_card",
    "spend_analysis": "spend_segment",
}
PAGES = tuple(PAGE_CUSTOMER_EXTRA)  # every dashboard page: each has the filters


@dataclass(frozen=True)
class Cube:
    """Measures (MEASURES) summed per filter cell (CELL) and the chart dimensions named in
    its other columns; a column-oriented Arrow table, so a million customers' cubes are
    encoded and summed without a Python object per row."""

    name: str
    table: pa.Table

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.table.column_names)

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def encoded(self) -> dict[str, Any]:
        """Column arrays; dimensions as indexes into a dictionary, amounts in cents (`scale`)
        and the cell column as runs (value, count: rows come sorted by cell)."""
        out: dict[str, Any] = {"columns": list(self.columns), "dicts": {}, "scale": {}}
        out["data"] = []
        for col in self.columns:
            values = self.table.column(col).combine_chunks()
            if col == CELL:
                out["data"].append(_runs(values))
            elif col in AMOUNTS:
                cents = pc.round(pc.multiply(values.cast(pa.float64()), CENTS))
                out["scale"][col] = CENTS
                out["data"].append(cents.cast(pa.int64()).to_pylist())
            elif col in MEASURES:
                out["data"].append(values.to_pylist())
            else:
                codes = values.dictionary_encode()
                out["dicts"][col] = [json_value(w) for w in codes.dictionary.to_pylist()]
                out["data"].append(codes.indices.to_pylist())
        return out

    @classmethod
    def decoded(cls, name: str, enc: dict[str, Any]) -> Cube:
        """The cube back from its page form (`encoded`); measures as floats."""
        arrays = []
        for col, values in zip(enc["columns"], enc["data"], strict=True):
            words = enc["dicts"].get(col)
            if words is not None:
                kind = pa.string() if all(isinstance(w, str) for w in words) else None
                arrays.append(pa.array(words, kind).take(pa.array(values, pa.int32())))
            elif col == CELL:
                arrays.append(pa.array(_unrun(values), pa.int32()))
            else:
                scale = enc.get("scale", {}).get(col, 1)
                arrays.append(pc.divide(pa.array(values, pa.float64()), float(scale)))
        return cls(name, pa.table(arrays, names=list(enc["columns"])))

    @classmethod
    def of(cls, name: str, columns: dict[str, Sequence[Any]]) -> Cube:
        """A cube from column lists (tests, small tables)."""
        return cls(name, pa.table({c: list(v) for c, v in columns.items()}))


def _runs(values: pa.Array) -> list[int]:
    """[value, count, value, count, ...]: the cell column of rows sorted by cell.

    Arrow's run-end encoding finds the runs (a null run is one run, as equal values are):
    a Python loop over the spend page's cell column took 0.42 s of CPU per 1.5M rows."""
    encoded = pc.run_end_encode(values)
    ends = encoded.run_ends.to_pylist()
    counts = [end - start for start, end in zip([0, *ends], ends, strict=False)]
    out: list[int] = [0] * (2 * len(ends))
    out[0::2] = encoded.values.to_pylist()
    out[1::2] = counts
    return out


def _unrun(runs: Sequence[int]) -> list[int]:
    return [v for i in range(0, len(runs), 2) for v in [runs[i]] * runs[i + 1]]


@dataclass(frozen=True)
class Binding:
    """How the page recomputes one chart's rows from a cube under the filters.

    `group` maps each field of the chart's rows to the cube column it comes from; `sums`
    are the measures added up. `click` is the filter a click on the chart sets (from the
    datum's field of that name in `group`), `kind` a step after the sums: "rows" (none),
    "funnel" (customers with an event of each stage, from a bit set of stages, with
    conversions), "cumulative" (running total by month), "ratio" (extra["ratios"]: field =
    numerator / denominator of the sums, and extra["difference"]: a ratio's difference
    between two values of a field, scaled), "sankey" or "treemap" (Vega layouts of the flow
    rows). `where` keeps cube rows whose column is not null.
    """

    cube: str
    group: dict[str, str]
    sums: tuple[str, ...]
    kind: str = "rows"
    click: str | None = None
    where: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def derived(self) -> tuple[str, ...]:
        """The fields the kind computes from the sums (what a check compares besides)."""
        if self.kind == "funnel":
            return ("conversion_from_previous",)
        if self.kind == "cumulative":
            return ("cumulative_spend",)
        if self.kind == "ratio":
            difference = self.extra.get("difference")
            return (*self.extra["ratios"], *([difference["as"]] if difference else []))
        return ()

    def to_json(self) -> dict[str, Any]:
        return {
            "cube": self.cube,
            "group": self.group,
            "sums": list(self.sums),
            "kind": self.kind,
            "click": self.click,
            "where": self.where,
            **self.extra,
        }


@dataclass(frozen=True)
class CustomerTable:
    """Governed customer rows per filter cell, and what the page says about them."""

    role: str
    per_cell: int
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def cube(self) -> Cube:
        cols = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(self.columns)
        return Cube.of(CUSTOMER_LIST, dict(zip(self.columns, cols, strict=True)))


@dataclass(frozen=True)
class PageData:
    """What one page filters: its cell table (row i is cell i: the filter values), cubes
    per chart, and the governed customers behind a selection."""

    cells: Cube
    cubes: tuple[Cube, ...]
    customers: CustomerTable | None = None

    def cube(self, name: str) -> Cube:
        return next(c for c in self.cubes if c.name == name)

    def rows(
        self, binding: Binding, filters: dict[str, str] | None = None, months: Sequence[str] = ()
    ) -> list[Row]:
        """A chart's rows under these filters (see chart_rows)."""
        return chart_rows(self.cube(binding.cube), binding, filters or {}, months, self.cells)

    def encoded(self) -> dict[str, Any]:
        """The cells (without their number: row i is cell i) and every cube, encoded."""
        cells = Cube(self.cells.name, self.cells.table.drop_columns([CELL]))
        return {"cells": cells.encoded(), "cubes": {c.name: c.encoded() for c in self.cubes}}

    @classmethod
    def decoded(cls, enc: dict[str, Any]) -> PageData:
        """The cells and cubes back from a page (what the page's script sums)."""
        cells = Cube.decoded("cells", enc["cells"])
        numbers = pa.array(range(cells.num_rows), pa.int32())
        cubes = tuple(Cube.decoded(n, c) for n, c in enc["cubes"].items() if n != CUSTOMER_LIST)
        return cls(Cube("cells", cells.table.append_column(CELL, numbers)), cubes)


class PageSql(Protocol):
    """Where a page's statements (DuckDB SQL, `?` parameters) run: DuckDB here, Spark in
    engines/spark_pages.py. Results are small (filter cells, not customers) and come back
    as Arrow tables in the order of `order by all`, NULLs last."""

    def rows(self, sql: str, params: Sequence[object]) -> pa.Table:
        """The statement's rows, collected and ordered by all columns."""
        ...

    def keep(self, name: str, sql: str, params: Sequence[object]) -> None:
        """Name the statement's rows `name` for the statements that follow (not collected
        where the engine can keep them)."""
        ...

    def drop(self, name: str) -> None: ...

    def keyed(self) -> bool:
        """Whether statements can compute the masking key's tokens (`hmac_sql`)."""
        ...


class DuckPageSql:
    """`PageSql` on a DuckDB connection: kept rows are temporary tables of the connection
    (also on a read-only file), inside DuckDB's memory limit and spilled past it. Arrow
    tables registered by name were held outside it (one row per person and one per
    customer: the 10M build's peak fell from 6.2 to 4.9 GB with this and the checks' work of
    the same run); at 1M the temporary tables were also 5% faster."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[object]) -> pa.Table:
        return self.conn.sql(f"select * from ({sql}) order by all", params=params).to_arrow_table()

    def keep(self, name: str, sql: str, params: Sequence[object]) -> None:
        self.conn.execute(f"create or replace temp table {name} as {sql}", params)

    def drop(self, name: str) -> None:
        self.conn.execute(f"drop table if exists temp.{name}")

    def keyed(self) -> bool:
        ((keyless,),) = self.conn.execute(f"select getvariable('{INNER_VAR}') is null").fetchall()
        return not keyless


Runner = duckdb.DuckDBPyConnection | PageSql


def _run(conn: Runner) -> PageSql:
    return DuckPageSql(conn) if isinstance(conn, duckdb.DuckDBPyConnection) else conn


def _segment_params() -> list[object]:
    low, high = SPEND_SEGMENT_BOUNDS
    segs = list(SPEND_SEGMENTS)
    return [low, segs[0], high, segs[1], segs[2]]


def people_sql() -> tuple[str, list[object]]:
    """Every person once, through their person_record: their cell, the stages they have an
    event of, the card they were onboarded to, their spend segment and spend (the rows every
    people cube and the spend flows' segments are summed from), and its parameters."""
    spend, spend_params = spend_predicate("t")
    sql = load_sql(
        SQL_PACKAGE,
        "page_people.sql",
        cross_sell=CROSS_SELL_TABLE,
        events=EVENTS_TABLE,
        cells=CELL_VIEW,
        spend=spend,
    )
    # The spend predicate's parameters come after the select list's, in text order.
    return sql, [list(CAMPAIGN_EVENT_TYPES), *_segment_params(), *spend_params]


def _people(people: str | None) -> tuple[str, list[object]]:
    """The people rows as a relation: `people` when they are kept under that name, else
    their statement as a subquery (with its parameters)."""
    if people is not None:
        return people, []
    sql, params = people_sql()
    return f"({sql})", params


def customers_cube(conn: Runner, extra: str | None = None, people: str | None = None) -> Cube:
    """People per filter cell ("customers"), or per cell and `extra` (one of
    CUSTOMER_EXTRAS: "customers_by_<extra>", for the one chart that shows it): each person
    once, through their person_record, with the events and spend of all their core
    records, as the marts count. `people` names the people rows (`people_sql`) when kept."""
    if extra is not None and extra not in CUSTOMER_EXTRAS:
        raise ValueError(f"unknown customer dimension {extra!r}; known: {CUSTOMER_EXTRAS}")
    source, params = _people(people)
    sql = (
        f"select cell{f', {q(extra)}' if extra else ''}, count(*) as customers, "
        f"sum(spend)::double as spend from {source} group by all"
    )
    return Cube(f"customers_by_{extra}" if extra else "customers", _run(conn).rows(sql, params))


def accounts_cube(conn: Runner) -> Cube:
    sql = load_sql(SQL_PACKAGE, "page_accounts.sql", cross_sell=CROSS_SELL_TABLE, cells=CELL_VIEW)
    return Cube("accounts", _run(conn).rows(sql, []))


def transactions_cube(conn: Runner, member: str, column: str) -> Cube:
    sql = load_sql(
        SQL_PACKAGE,
        "page_transactions.sql",
        cells=CELL_VIEW,
        member=q(member),
        member_column=q(column),
    )
    return Cube(f"transactions_by_{member}", _run(conn).rows(sql, []))


# The spend page's cubes: each chart's dimensions (besides cell and month), summed from
# the flows' grain. The flows (Sankey, treemap, reason by segment) need all three.
SPEND_CUBES = {
    "spend_month": (),
    "spend_category": ("category",),
    "spend_segment": ("spend_segment",),
    "spend_flow": ("spend_segment", "category", "mode"),
}
# The grain page_spend.sql groups by (besides cell and month): its rows are that cube's.
FLOW_GRAIN = SPEND_CUBES["spend_flow"]
_FLOW_VIEW = "_fs_page_spend_flow"


def spend_flow_sql(people: str | None = None) -> tuple[str, list[object]]:
    """The flows' grain (page_spend.sql: a person's segment from the people rows, kept as
    `people` or computed here) and its parameters."""
    spend, spend_params = spend_predicate("t")
    source, people_params = _people(people)
    sql = load_sql(
        SQL_PACKAGE, "page_spend.sql", cross_sell=CROSS_SELL_TABLE, spend=spend, people=source
    )
    return sql, [*people_params, *spend_params]


def spend_cubes(conn: Runner, people: str | None = None) -> list[Cube]:
    """SPEND_CUBES: the flows' grain from the warehouse, then summed per chart (spend to the
    cent: the sums are of decimals, made floats last)."""
    run = _run(conn)
    run.keep(_FLOW_VIEW, *spend_flow_sql(people))
    try:
        cubes = []
        for name, dims in SPEND_CUBES.items():
            keys = ", ".join([CELL, MONTH, *dims])
            if dims == FLOW_GRAIN:  # the flows' own rows: one per group already
                sql = (
                    f"select {keys}, transactions::bigint as transactions, "
                    f"spend::double as spend from {_FLOW_VIEW}"
                )
            else:
                sql = (
                    f"select {keys}, sum(transactions)::bigint as transactions, "
                    f"sum(spend)::double as spend from {_FLOW_VIEW} group by all"
                )
            cubes.append(Cube(name, run.rows(sql, [])))
        return cubes
    finally:
        run.drop(_FLOW_VIEW)


def uplift_cube(conn: Runner) -> Cube:
    """Contacted customers with a recommended card, and the converted among them, per cell
    and offer: the counts whose ratio the uplift chart shows (the page divides the sums)."""
    sql = load_sql(
        SQL_PACKAGE,
        "page_uplift.sql",
        cross_sell=CROSS_SELL_TABLE,
        events=EVENTS_TABLE,
        campaigns=CAMPAIGNS_TABLE,
        cells=CELL_VIEW,
    )
    params = [list(CONVERTED_EVENTS), CAMPAIGN_EVENT_TYPES[0], *OFFERS]
    return Cube("uplift", _run(conn).rows(sql, params))


def customer_table(
    conn: Runner, role: str = PAGE_ROLE, per_cell: int = CUSTOMERS_PER_CELL
) -> CustomerTable:
    """The first `per_cell` customers of each filter cell from the role's governed view.

    The statements must compute the key's tokens (`PageSql.keyed`: on DuckDB a session
    where MaskingKey.apply ran, on Spark the key given): the view's cust_id is the role's
    keyed token, and the cross-sell is joined on the same token.
    """
    run = _run(conn)
    if not run.keyed():
        raise RuntimeError(
            "the masking key is not set for these statements (DuckDB: MaskingKey.apply; "
            "Spark: pass the key): the governed view's cust_id would read NULL"
        )
    view = f"{GOVERNED_SCHEMA}.{q(view_name(role, 'customer'))}"
    sql = load_sql(
        SQL_PACKAGE,
        "page_governed_customers.sql",
        cross_sell=CROSS_SELL_TABLE,
        token=hmac_sql("cust_id"),
        view=view,
        columns=", ".join(f"g.{q(c)}" for c in CUSTOMER_COLUMNS),
    )
    table = run.rows(sql, [per_cell])
    rows = zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)
    return CustomerTable(role, per_cell, tuple(table.column_names), tuple(rows))


def unfiltered_problems(page: PageData, binding: Binding, rows: Sequence[Row]) -> list[str]:
    """Where the page's cube, summed with no filter, differs from a chart's mart rows (kinds
    rows, funnel and cumulative; a layout's rows are its flow's)."""
    if binding.kind in ("sankey", "treemap"):
        binding = Binding(binding.cube, binding.group, binding.sums)
    got = {tuple(r.get(f) for f in binding.group): r for r in page.rows(binding)}
    want = {tuple(r.get(f) for f in binding.group): r for r in rows}
    # A mart row whose measures are all zero (a spend segment without spend) draws nothing:
    # a cube without it shows the same.
    problems = [
        f"{k}: in the mart, not in the page's cube"
        for k in want.keys() - got.keys()
        if any(want[k].get(m) for m in binding.sums)
    ]
    problems += [f"{k}: in the page's cube, not in the mart" for k in got.keys() - want.keys()]
    measures = (*binding.sums, *binding.derived())
    for key in want.keys() & got.keys():
        for m in measures:
            a, b = got[key].get(m), want[key].get(m)
            if b is not None and (a is None or abs(a - b) > SUM_TOLERANCE * max(1.0, abs(b))):
                problems.append(f"{key}: {m} is {a} on the page, {b} in the mart")
    return problems


def chart_rows(
    cube: Cube,
    binding: Binding,
    filters: dict[str, str],
    months: Sequence[str] = (),
    cells: Cube | None = None,
) -> list[Row]:
    """The rows the page's script (js/page.js) gives a chart of kind rows, funnel or
    cumulative under these filters: the same arithmetic, for tests and checks."""
    rows = cube_rows(cube, binding, filters, months, cells)
    if binding.kind == "funnel":
        return funnel_rows(rows, binding.extra["archetypes"], binding.extra["stages"])
    if binding.kind == "cumulative":
        total = 0.0
        out = []
        for r in sorted(rows, key=lambda r: r[MONTH]):
            total += r["spend"]
            out.append({**r, "cumulative_spend": total})
        return out
    if binding.kind == "ratio":
        return ratio_rows(rows, binding.extra)
    return rows


def ratio_rows(rows: Sequence[Row], extra: dict[str, Any]) -> list[Row]:
    """Ratios of summed counts (None over zero), then a ratio's difference between two
    values of a field per group (as the uplift mart: recommended minus other, in points)."""
    out = []
    for r in rows:
        row = dict(r)
        for name, (num, den) in extra["ratios"].items():
            row[name] = row[num] / row[den] if row.get(den) else None
        out.append(row)
    d = extra.get("difference")
    if d:
        per: dict[Any, dict[Any, Any]] = {}
        for row in out:
            per.setdefault(row[d["by"]], {})[row[d["across"]]] = row[d["of"]]
        for row in out:
            a, b = (per[row[d["by"]]].get(v) for v in d["minus"])
            row[d["as"]] = None if a is None or b is None else d["scale"] * (a - b)
    return out


def funnel_rows(rows: Sequence[Row], archetypes: Sequence[str], stages: Sequence[str]) -> list[Row]:
    """Per archetype and stage: the customers with an event of that stage, and the
    conversions (as the mart). A row's `stage_order` is the bit set of the stages its
    customers have an event of (bit k - 1 for stage k; page_customers.sql)."""
    out: list[Row] = []
    for a in archetypes:
        first = prev = None
        for i, stage in enumerate(stages, start=1):
            n = sum(
                r["customers"]
                for r in rows
                if r["archetype"] == a and (int(r["stage_order"]) >> (i - 1)) & 1
            )
            row: Row = {"archetype": a, "stage_order": i, "stage": stage, "customers": n}
            if i > 1 and prev:
                row["conversion_from_previous"] = n / prev
            first = n if first is None else first
            if first:
                row["conversion_from_reached"] = n / first
            prev = n
            out.append(row)
    return out


def cube_rows(
    cube: Cube,
    binding: Binding,
    filters: dict[str, str],
    months: Sequence[str] = (),
    cells: Cube | None = None,
) -> list[Row]:
    """A chart's cube rows that pass the filters, summed per the chart's fields, in DuckDB.

    `filters` maps filter columns to one value; `months` is (first, last) ISO months. The
    chart's own click filter is ignored, as on the page. A field or filter that is a filter
    column is read from `cells` (the page's cell table) through the cube's cell.
    """
    unknown = set(filters) - set(FILTER_COLUMNS)
    if unknown:
        raise ValueError(f"unknown filters {sorted(unknown)}; known: {FILTER_COLUMNS}")
    wanted = {c: v for c, v in filters.items() if c != binding.click}
    via_cells = [c for c in binding.group.values() if c not in cube.columns]
    if (wanted or via_cells) and cells is None:
        raise ValueError(f"{cube.name}: filter columns need the page's cell table")

    def source(col: str) -> str:
        return f"k.{q(col)}" if col in cube.columns else f"c.{q(col)}"

    where, params = [], []
    if binding.where:
        where.append(f"{source(binding.where)} is not null")
    for col, value in wanted.items():
        where.append(f"c.{q(col)} = ?")
        params.append(value)
    if months and MONTH in cube.columns:
        where.append(f"left(k.{MONTH}::varchar, 7) between ? and ?")
        params += [months[0], months[1]]
    fields = ", ".join(f"{source(col)} as {q(f)}" for f, col in binding.group.items())
    sums = ", ".join(f"sum(k.{q(m)}) as {q(m)}" for m in binding.sums)
    join = f"join cells c on c.{CELL} = k.{CELL}" if cells is not None else ""
    sql = (
        f"select {fields}, {sums} from cube k {join} "
        f"where {' and '.join(where) or 'true'} group by all"
    )
    with duckdb.connect() as con:
        con.register("cube", cube.table)
        if cells is not None:
            con.register("cells", cells.table)
        cur = con.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [{n: json_value(v) for n, v in zip(names, r, strict=True)} for r in cur.fetchall()]


def page_cells(conn: duckdb.DuckDBPyConnection) -> tuple[pa.Table, Cube]:
    """Every customer's cell (cust_id, cell and its filter values) and the cell table."""
    of_customer = conn.sql(_cells_sql()).to_arrow_table()
    conn.register(CELL_VIEW, of_customer)
    try:
        return of_customer, _cell_table(_run(conn))
    finally:
        conn.unregister(CELL_VIEW)


def _cells_sql() -> str:
    return load_sql(SQL_PACKAGE, "page_cells.sql", cross_sell=CROSS_SELL_TABLE)


def _cell_table(run: PageSql) -> Cube:
    """The cell table from CELL_VIEW: row i is cell i."""
    cols = ", ".join(q(c) for c in (CELL, *FILTER_COLUMNS))
    return Cube("cells", run.rows(f"select distinct {cols} from {CELL_VIEW}", []))


def pages_data(
    conn: Runner, slugs: Sequence[str], *, with_customers: bool = True
) -> Iterator[tuple[str, PageData]]:
    """Each page of `slugs` (in that order) with its cells, the cubes its charts are bound
    to and its customer list, yielded as soon as it is read.

    What every page shows alike is read once for all of them: every customer's cell
    (CELL_VIEW, kept where the engine is while the cubes are summed), the cell table, the
    governed customer list, and every person's cell, stages, card and spend (PEOPLE_VIEW,
    kept: each page's people cube and the spend flows' segments are sums of it, where each
    was a pass over every transaction, ~0.7 s at 1M). Each page's own cubes are read
    when its turn comes, so the caller can render one page while the next is read.
    """
    unknown = [s for s in slugs if s not in PAGE_CUSTOMER_EXTRA]
    if unknown:
        raise ValueError(f"unknown dashboard page(s) {unknown}; known: {PAGES}")
    if not slugs:
        return
    run = _run(conn)
    customers = customer_table(run) if with_customers else None
    run.keep(CELL_VIEW, _cells_sql(), [])
    try:
        cells = _cell_table(run)
        run.keep(PEOPLE_VIEW, *people_sql())
        try:
            everyone = customers_cube(run, people=PEOPLE_VIEW)
            for slug in slugs:
                by_extra = customers_cube(run, PAGE_CUSTOMER_EXTRA[slug], PEOPLE_VIEW)
                cubes = [everyone, by_extra, *_own_cubes(run, slug)]
                yield slug, PageData(cells, tuple(cubes), customers)
        finally:
            run.drop(PEOPLE_VIEW)
    finally:
        run.drop(CELL_VIEW)


def _own_cubes(run: PageSql, slug: str) -> list[Cube]:
    """The cubes of the charts only page `slug` has."""
    if slug == "lead_generation":
        return [
            accounts_cube(run),
            transactions_cube(run, "mode", "transaction_mode"),
            transactions_cube(run, "reason", "transaction_reason"),
        ]
    if slug == "spend_analysis":
        return spend_cubes(run, PEOPLE_VIEW)
    if slug == "campaign_uplift":
        return [uplift_cube(run)]
    return []


def page_data(conn: Runner, slug: str, *, with_customers: bool = True) -> PageData:
    """One page's data (`pages_data`)."""
    ((_, data),) = pages_data(conn, [slug], with_customers=with_customers)
    return data
