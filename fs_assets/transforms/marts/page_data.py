"""The data an interactive dashboard page filters: cubes at the filter grain, and customers.

A page's filters (archetype, state, segment, risk, affluence, a month range) and its
cross-filtering need the marts' figures for every combination of filter values, so each
page carries "cubes": the figures' measures summed per filter cell (and per month where a
chart has time), never per customer. The page's script sums a cube's rows that pass the
filters into the rows a chart was drawn from (see Binding), so with no filter set a chart
shows exactly the mart's rows. Cubes are column-encoded with a dictionary per text column.

The customers behind a selection come from one role's governed view (PAGE_ROLE): its
non-PII columns and its keyed cust_id token, at most CUSTOMERS_PER_CELL per filter cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from fs_assets.model.rules import q
from fs_assets.model.value_sets import CAMPAIGN_EVENT_TYPES
from fs_assets.transforms.governance import GOVERNED_SCHEMA, view_name
from fs_assets.transforms.governance.masking_key import INNER_VAR, hmac_sql
from fs_assets.transforms.governance.policies import ANALYST
from fs_assets.transforms.marts.cross_sell import CROSS_SELL_TABLE, EVENTS_TABLE
from fs_assets.transforms.marts.features import spend_predicate
from fs_assets.transforms.marts.flow_charts import Row, json_value
from fs_assets.transforms.marts.model import FUNNEL_STAGES, SPEND_SEGMENT_BOUNDS, SPEND_SEGMENTS
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


# The page's own dimension of its customers cube (a column of page_customers.sql).
CUSTOMER_EXTRAS = ("stage", "onboarded_card", "spend_segment")
PAGE_CUSTOMER_EXTRA = {
    "campaign_funnel": "stage",
    "lead_generation": "onboarded_card",
    "spend_analysis": "spend_segment",
}
# The pages with filters. The uplift page is static: its charts are conversion rates per
# archetype over the contacted customers, which its cubes would need a ratio binding for.
FILTERED_PAGES = tuple(PAGE_CUSTOMER_EXTRA)


@dataclass(frozen=True)
class Cube:
    """Measures summed per filter cell (and the chart dimensions named in its columns)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def encoded(self) -> dict[str, Any]:
        """Column arrays; text columns as indexes into a dictionary (a page holds less)."""
        out: dict[str, Any] = {"columns": list(self.columns), "dicts": {}, "data": []}
        for i, col in enumerate(self.columns):
            values = [json_value(r[i]) for r in self.rows]
            if any(isinstance(v, str) for v in values):
                words = sorted({v for v in values if v is not None})
                index = {w: n for n, w in enumerate(words)}
                out["dicts"][col] = words
                values = [None if v is None else index[v] for v in values]
            out["data"].append(values)
        return out

    @classmethod
    def decoded(cls, name: str, enc: dict[str, Any]) -> Cube:
        """The cube back from its page form (`encoded`)."""
        cols = []
        for col, values in zip(enc["columns"], enc["data"], strict=True):
            words = enc["dicts"].get(col)
            cols.append([words[v] if words and v is not None else v for v in values])
        return cls(name, tuple(enc["columns"]), tuple(zip(*cols, strict=True)))

    def records(self) -> list[Row]:
        return [dict(zip(self.columns, map(json_value, r), strict=True)) for r in self.rows]


@dataclass(frozen=True)
class Binding:
    """How the page recomputes one chart's rows from a cube under the filters.

    `group` maps each field of the chart's rows to the cube column it comes from; `sums`
    are the measures added up. `click` is the filter a click on the chart sets (from the
    datum's field of that name in `group`), `kind` a step after the sums: "rows" (none),
    "funnel" (customers with an event of each stage, from a bit set of stages, with
    conversions), "cumulative" (running
    total by month), "sankey" or "treemap" (Vega layouts of the flow rows). `where` keeps
    cube rows whose column is not null.
    """

    cube: str
    group: dict[str, str]
    sums: tuple[str, ...]
    kind: str = "rows"
    click: str | None = None
    where: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

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
        return Cube("customers_list", self.columns, self.rows)


@dataclass(frozen=True)
class PageData:
    """What one page filters: its cubes, and the governed customers behind a selection."""

    cubes: tuple[Cube, ...]
    customers: CustomerTable | None = None

    def cube(self, name: str) -> Cube:
        return next(c for c in self.cubes if c.name == name)


def _cube(conn: duckdb.DuckDBPyConnection, name: str, sql: str, params: list[object]) -> Cube:
    cur = conn.execute(f"select * from ({sql}) order by all", params)
    cols = tuple(d[0] for d in cur.description)
    return Cube(name, cols, tuple(tuple(r) for r in cur.fetchall()))


def _segment_params() -> list[object]:
    low, high = SPEND_SEGMENT_BOUNDS
    segs = list(SPEND_SEGMENTS)
    return [low, segs[0], high, segs[1], segs[2]]


def customers_cube(conn: duckdb.DuckDBPyConnection, extra: str, *, people: bool = False) -> Cube:
    """Customers per filter cell and `extra` (one of CUSTOMER_EXTRAS: what the page needs);
    `people`: only each person's person_record, as the lead mart counts."""
    if extra not in CUSTOMER_EXTRAS:
        raise ValueError(f"unknown customer dimension {extra!r}; known: {CUSTOMER_EXTRAS}")
    spend, spend_params = spend_predicate("t")
    sql = load_sql(
        SQL_PACKAGE,
        "page_customers.sql",
        cross_sell=CROSS_SELL_TABLE,
        events=EVENTS_TABLE,
        spend=spend,
        extra=extra,
        counted="person_record" if people else "true",
    )
    # The spend predicate's parameters come after the select list's, in text order.
    params = [list(CAMPAIGN_EVENT_TYPES), len(FUNNEL_STAGES), *_segment_params(), *spend_params]
    return _cube(conn, "customers", sql, params)


def accounts_cube(conn: duckdb.DuckDBPyConnection) -> Cube:
    sql = load_sql(SQL_PACKAGE, "page_accounts.sql", cross_sell=CROSS_SELL_TABLE)
    return _cube(conn, "accounts", sql, [])


def transactions_cube(conn: duckdb.DuckDBPyConnection, member: str, column: str) -> Cube:
    sql = load_sql(
        SQL_PACKAGE,
        "page_transactions.sql",
        cross_sell=CROSS_SELL_TABLE,
        member=q(member),
        member_column=q(column),
    )
    return _cube(conn, f"transactions_by_{member}", sql, [])


def spend_cube(conn: duckdb.DuckDBPyConnection) -> Cube:
    spend, spend_params = spend_predicate("t")
    sql = load_sql(SQL_PACKAGE, "page_spend.sql", cross_sell=CROSS_SELL_TABLE, spend=spend)
    return _cube(conn, "spend", sql, [*spend_params, *_segment_params()])


def customer_table(
    conn: duckdb.DuckDBPyConnection, role: str = PAGE_ROLE, per_cell: int = CUSTOMERS_PER_CELL
) -> CustomerTable:
    """The first `per_cell` customers of each filter cell from the role's governed view.

    The session must hold the masking key (MaskingKey.apply): the view's cust_id is the
    role's keyed token, and the cross-sell is joined on the same token.
    """
    (keyless,) = conn.execute(f"select getvariable('{INNER_VAR}') is null").fetchone()
    if keyless:
        raise RuntimeError(
            "the masking key is not set in this session (MaskingKey.apply): the governed "
            "view's cust_id would read NULL"
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
    cube = _cube(conn, "customers_list", sql, [per_cell])
    return CustomerTable(role, per_cell, cube.columns, cube.rows)


def unfiltered_problems(cube: Cube, binding: Binding, rows: Sequence[Row]) -> list[str]:
    """Where the cube, summed with no filter, differs from a chart's mart rows (kinds rows,
    funnel and cumulative; a layout's rows are its flow's)."""
    if binding.kind in ("sankey", "treemap"):
        binding = Binding(binding.cube, binding.group, binding.sums)
    got = {tuple(r.get(f) for f in binding.group): r for r in chart_rows(cube, binding, {})}
    want = {tuple(r.get(f) for f in binding.group): r for r in rows}
    # A mart row whose measures are all zero (a spend segment without spend) draws nothing:
    # a cube without it shows the same.
    problems = [
        f"{k}: in the mart, not in the page's cube"
        for k in want.keys() - got.keys()
        if any(want[k].get(m) for m in binding.sums)
    ]
    problems += [f"{k}: in the page's cube, not in the mart" for k in got.keys() - want.keys()]
    measures = (*binding.sums, "cumulative_spend", "conversion_from_previous")
    for key in want.keys() & got.keys():
        for m in measures:
            a, b = got[key].get(m), want[key].get(m)
            if b is not None and (a is None or abs(a - b) > SUM_TOLERANCE * max(1.0, abs(b))):
                problems.append(f"{key}: {m} is {a} on the page, {b} in the mart")
    return problems


def chart_rows(
    cube: Cube, binding: Binding, filters: dict[str, str], months: Sequence[str] = ()
) -> list[Row]:
    """The rows the page's script (js/page.js) gives a chart of kind rows, funnel or
    cumulative under these filters: the same arithmetic, for tests and checks."""
    rows = cube_rows(cube, binding, filters, months)
    if binding.kind == "funnel":
        return funnel_rows(rows, binding.extra["archetypes"], binding.extra["stages"])
    if binding.kind == "cumulative":
        total = 0.0
        out = []
        for r in sorted(rows, key=lambda r: r[MONTH]):
            total += r["spend"]
            out.append({**r, "cumulative_spend": total})
        return out
    return rows


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
    cube: Cube, binding: Binding, filters: dict[str, str], months: Sequence[str] = ()
) -> list[Row]:
    """A chart's cube rows that pass the filters, summed per the chart's fields.

    `filters` maps filter columns to one value; `months` is (first, last) ISO months.
    The chart's own click filter is ignored, as on the page.
    """
    sums: dict[tuple[Any, ...], list[float]] = {}
    for r in cube.records():
        if binding.where and r.get(binding.where) is None:
            continue
        if any(r.get(c) != v for c, v in filters.items() if c != binding.click):
            continue
        if months and MONTH in r and not months[0] <= r[MONTH][:7] <= months[1]:
            continue
        key = tuple(r[c] for c in binding.group.values())
        acc = sums.setdefault(key, [0.0] * len(binding.sums))
        for i, s in enumerate(binding.sums):
            acc[i] += r[s] or 0
    return [
        {**dict(zip(binding.group, k, strict=True)), **dict(zip(binding.sums, v, strict=True))}
        for k, v in sums.items()
    ]


def page_data(
    conn: duckdb.DuckDBPyConnection, slug: str, *, with_customers: bool = True
) -> PageData:
    """The cubes the charts of dashboard `slug` are bound to, and its customer list."""
    cubes = [customers_cube(conn, PAGE_CUSTOMER_EXTRA[slug], people=slug == "lead_generation")]
    if slug == "lead_generation":
        cubes += [
            accounts_cube(conn),
            transactions_cube(conn, "mode", "transaction_mode"),
            transactions_cube(conn, "reason", "transaction_reason"),
        ]
    elif slug == "spend_analysis":
        cubes.append(spend_cube(conn))
    return PageData(tuple(cubes), customer_table(conn) if with_customers else None)
