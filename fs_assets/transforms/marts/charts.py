"""The dashboards' charts as Vega-Lite specs (the Sankey and treemap, in Vega: flow_charts.py).

A chart is a spec whose inline data are the rows of one mart figure, exactly as the
mart holds them: aggregation a chart needs is a transform inside the spec, so the numbers
a reader sees come from the table and a test can compare the two. Specs are rendered by
vl-convert (an embedded Vega engine): PNG for the Dagster UI and the index page, and the
same spec in the interactive HTML pages. Nothing is fetched from the network.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fs_assets.transforms.marts.dashboards import (
    FUNNEL_TABLE,
    LEAD_TABLE,
    SPEND_TABLE,
    reporting_currency,
)
from fs_assets.transforms.marts.flow_charts import (
    SI,
    Row,
    json_value,
    sankey_spec,
    treemap_spec,
)
from fs_assets.transforms.marts.model import (
    ARCHETYPE_NAMES,
    FIGURE_ORDER,
    FUNNEL_STAGES,
    SPEND_SEGMENTS,
)
from fs_assets.transforms.marts.page_data import Binding
from fs_assets.transforms.reader import SqlReader

WIDTH = 640
HEIGHT = 320
# An amount axis counts in the largest of these units its values reach.
AMOUNT_SCALES = ((1e9, "billions"), (1e6, "millions"), (1e3, "thousands"))
# The name of a Vega-Lite chart's rows: the page's filters replace this data set.
DATA_NAME = "rows"
MONTH_AXIS = {"format": "%b %Y", "labelAngle": 0, "labelOverlap": True}


@dataclass(frozen=True)
class Chart:
    """One picture on a dashboard, with the mart rows it shows."""

    name: str
    title: str
    description: str
    table: str
    figure: str | None  # the mart's `figure`, None when the chart shows the whole table
    rows: tuple[Row, ...]
    spec: dict[str, Any]
    grammar: str = "vega-lite"  # or "vega"
    value_fields: tuple[str, ...] = field(default_factory=tuple)
    wide: bool = False  # drawn across the whole row of the index, where detail must show
    # Column headings of the data table for fields whose name says nothing ('member').
    field_titles: dict[str, str] = field(default_factory=dict)
    # How the page recomputes `rows` under its filters (None: the chart is not filtered).
    binding: Binding | None = None


def json_list(values: Sequence[str]) -> str:
    """A list of strings as a Vega expression literal."""
    return json.dumps(list(values))


def in_order(rows: Sequence[Row], key: str, order: Sequence[str]) -> tuple[Row, ...]:
    """Rows sorted by `key` in a natural order (values outside it last, as they came)."""
    rank = {v: i for i, v in enumerate(order)}
    return tuple(sorted(rows, key=lambda r: rank.get(r.get(key), len(rank))))


def fetch(conn: SqlReader, table: str, figure: str | None) -> tuple[Row, ...]:
    """The mart rows of one figure (no nulls kept: a spec gets only the fields it has)."""
    where, params = ("where figure = ?", [figure]) if figure else ("", [])
    cur = conn.execute(f"select * from {table} {where}", params)
    cols = [d[0] for d in cur.description]
    return tuple(
        {c: json_value(v) for c, v in zip(cols, r, strict=True) if v is not None and c != "figure"}
        for r in cur.fetchall()
    )


def amount_title(what: str, unit: str, values: Sequence[float] = ()) -> tuple[str, float]:
    """'Spend (INR, millions)' and the divisor for its labels; `unit` is the currency."""
    top = max((abs(v) for v in values), default=0.0)
    for divisor, word in AMOUNT_SCALES:
        if top >= divisor:
            return f"{what} ({unit}, {word})", divisor
    return f"{what} ({unit})", 1.0


def amount_axis(what: str, unit: str, values: Sequence[float]) -> dict[str, Any]:
    """Title naming the unit, and tick labels counted in it (1.25 for 1,250,000)."""
    title, divisor = amount_title(what, unit, values)
    return {"title": title, "axis": {"labelExpr": f"format(datum.value / {divisor:g}, ',.2~f')"}}


def month_field(field: str) -> dict[str, Any]:
    """A month on a time axis, read in UTC so no time zone moves it to the previous day."""
    return {
        "field": field,
        "type": "temporal",
        "timeUnit": "utcyearmonth",
        "title": "Month",
        "axis": MONTH_AXIS,
    }


@dataclass(frozen=True)
class WholeMonths:
    """The first and last calendar months the transaction data covers from first to last day.

    A time series draws these and the months between only: a month the data covers in part
    (a feed that starts on the 14th, or today's month) would read as a cliff. Months are
    ISO dates of their first day, as the marts hold them; None when no month is whole.
    """

    first: str | None
    last: str | None

    def keep(self) -> str:
        """A Vega expression that holds for the rows of whole months.

        Vega-Lite has parsed `month` into a date by then: compare instants (UTC ms).
        """
        if self.first is None or self.last is None:
            return "false"
        first, last = (
            int(dt.datetime.fromisoformat(m).replace(tzinfo=dt.UTC).timestamp() * 1000)
            for m in (self.first, self.last)
        )
        return f"time(datum.month) >= {first} && time(datum.month) <= {last}"

    def note(self, rows: Sequence[Row]) -> str:
        """What the line leaves out, for the chart's description."""
        months = sorted({r["month"] for r in rows if "month" in r})
        left_out = [
            m[:7]
            for m in months
            if self.first is None or self.last is None or not self.first <= m <= self.last
        ]
        if not left_out:
            return ""
        return (
            f" Part months left out of the line: {', '.join(left_out)} (the data covers "
            "them only in part; the table lists them)."
        )


WHOLE_MONTHS_SQL = """
with span as (
  select min(transaction_ts)::date as first_day, max(transaction_ts)::date as last_day
  from mastered.transaction
)
select
  case when first_day = date_trunc('month', first_day) then date_trunc('month', first_day)
       else date_trunc('month', first_day) + interval 1 month end::date,
  case when last_day + 1 = date_trunc('month', last_day) + interval 1 month
       then date_trunc('month', last_day)
       else date_trunc('month', last_day) - interval 1 month end::date
from span
"""


def whole_months(conn: SqlReader) -> WholeMonths:
    """The whole months of mastered.transaction (see WholeMonths)."""
    first, last = conn.execute(WHOLE_MONTHS_SQL).fetchall()[0]
    if first is None or last is None or first > last:
        return WholeMonths(None, None)
    return WholeMonths(first.isoformat(), last.isoformat())


def _vl(title: str, rows: Sequence[Row], body: dict[str, Any], **size: int) -> dict[str, Any]:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": size.get("width", WIDTH),
        "height": size.get("height", HEIGHT),
        "data": {"name": DATA_NAME, "values": list(rows)},
        **body,
    }


def bar(
    title: str,
    rows: Sequence[Row],
    category: str,
    value: str,
    *,
    label: str,
    value_title: str,
    sort: Sequence[str] | str = "-x",
    horizontal: bool = True,
    percent: bool = False,
) -> dict[str, Any]:
    """A bar per category with its value written on it (and its share of all bars, with
    `percent`); axes titled with what they count."""
    label_expr = f"format(datum['{value}'], ',')"
    shares = []
    if percent:
        shares = [{"joinaggregate": [{"op": "sum", "field": value, "as": "bar_total"}]}]
        label_expr += f" + ' (' + format(datum['{value}'] / datum.bar_total, '.1%') + ')'"
    ordinal = not isinstance(sort, str)
    cat = {"field": category, "type": "ordinal" if ordinal else "nominal", "sort": sort}
    cat["title"] = label
    val = {"field": value, "type": "quantitative", "title": value_title}
    enc = {"y": cat, "x": val} if horizontal else {"x": cat, "y": val}
    height = max(HEIGHT, 18 * len(rows)) if horizontal else HEIGHT
    text_enc = dict(enc, text={"field": "value_label", "type": "nominal"})
    return _vl(
        title,
        rows,
        {
            "transform": [*shares, {"calculate": label_expr, "as": "value_label"}],
            "layer": [
                {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": dict(enc, color={"value": "#4c78a8"}),
                },
                {
                    "mark": {
                        "type": "text",
                        "align": "left" if horizontal else "center",
                        "baseline": "middle" if horizontal else "bottom",
                        "dx": 3 if horizontal else 0,
                        "dy": 0 if horizontal else -3,
                    },
                    "encoding": text_enc,
                },
            ],
        },
        height=height,
    )


def pie(
    title: str,
    rows: Sequence[Row],
    category: str,
    value: str,
    order: Sequence[str],
    *,
    legend: str,
    amount: bool = False,
) -> dict:
    """A donut with each slice labelled by its value, slices and legend in `order`."""
    label = SI.format(f"datum['{value}']") if amount else f"format(datum['{value}'], ',')"
    rank = f"indexof({json_list(order)}, datum['{category}'])"
    return _vl(
        title,
        rows,
        {
            "transform": [
                {"calculate": label, "as": "value_label"},
                {"calculate": rank, "as": "slice_order"},
            ],
            "encoding": {
                "theta": {"field": value, "type": "quantitative", "stack": True},
                "color": {
                    "field": category,
                    "type": "nominal",
                    "sort": list(order),
                    "title": legend,
                },
                "order": {"field": "slice_order", "type": "quantitative", "sort": "ascending"},
            },
            "layer": [
                {"mark": {"type": "arc", "innerRadius": 60, "outerRadius": 140, "tooltip": True}},
                {
                    "mark": {"type": "text", "radius": 165},
                    "encoding": {"text": {"field": "value_label", "type": "nominal"}},
                },
            ],
        },
        width=420,
    )


def lines(
    title: str,
    rows: Sequence[Row],
    x: str,
    y: str,
    *,
    y_title: str,
    series: str | None = None,
    months: WholeMonths,
    legend: str | None = None,
    amount_unit: str | None = None,
) -> dict[str, Any]:
    """A line per series over the whole months; an amount axis (`amount_unit`, its
    currency) names its unit and counts in it.

    The spec keeps every mart row (the data table and the checks see them all); a filter
    leaves the part months out of the line.
    """
    y_enc: dict[str, Any] = {"field": y, "type": "quantitative", "title": y_title}
    if amount_unit:
        y_enc.update(amount_axis(y_title, amount_unit, [r[y] for r in rows if y in r]))
    enc: dict[str, Any] = {"x": month_field(x), "y": y_enc}
    if series:
        enc["color"] = {"field": series, "type": "nominal", "title": legend or series}
    return _vl(
        title,
        rows,
        {
            "transform": [{"filter": months.keep()}],
            "mark": {"type": "line", "point": True, "tooltip": True},
            "encoding": enc,
        },
    )


FUNNEL_STEP = 34  # pixels per stage: a bar and the gap that holds the conversion label
FUNNEL_WIDTH = 330
# The conversion label, between a stage's bar and the previous one's.
CONVERSION_LABEL = "'↓ ' + format(datum.conversion_from_previous, '.1%')"


def funnel_spec(title: str, rows: Sequence[Row]) -> dict[str, Any]:
    """One funnel per archetype: centred stage bars narrowing, % of the previous stage between.

    Each archetype gets its own width scale, so a small archetype's funnel is as readable
    as a large one's; the counts are written beside the bars.
    """
    stages = list(FUNNEL_STAGES)
    stage = {
        "field": "stage",
        "type": "ordinal",
        "sort": stages,
        "title": "Campaign stage",
        "scale": {"paddingInner": 0.45},
    }
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": {"text": title, "subtitle": "↓ % of the previous stage's customers"},
        "data": {"name": DATA_NAME, "values": list(rows)},
        "transform": [
            {"calculate": "-datum.customers / 2", "as": "left"},
            {"calculate": "datum.customers / 2", "as": "right"},
        ],
        "facet": {
            "field": "archetype",
            "type": "nominal",
            "sort": list(ARCHETYPE_NAMES),
            "title": "Archetype",
            "header": {"labelFontSize": 13, "labelFontWeight": "bold"},
        },
        "columns": 2,
        "spec": {
            "width": FUNNEL_WIDTH,
            "height": {"step": FUNNEL_STEP},
            "encoding": {"y": stage},
            "layer": [
                {
                    "mark": {"type": "bar", "tooltip": True, "color": "#4c78a8"},
                    "encoding": {
                        "x": {
                            "field": "left",
                            "type": "quantitative",
                            "axis": None,
                            "title": "Customers",
                        },
                        "x2": {"field": "right"},
                        "tooltip": [
                            {"field": "archetype", "title": "Archetype"},
                            {"field": "stage", "title": "Stage"},
                            {"field": "customers", "title": "Customers", "format": ","},
                            {
                                "field": "conversion_from_previous",
                                "title": "% of previous stage",
                                "format": ".1%",
                            },
                        ],
                    },
                },
                {
                    "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 11},
                    "encoding": {
                        "x": {"field": "right", "type": "quantitative"},
                        "text": {"field": "customers", "type": "quantitative", "format": ","},
                    },
                },
                {
                    "name": "conversion",
                    "transform": [
                        {"filter": "datum.conversion_from_previous != null"},
                        {"calculate": CONVERSION_LABEL, "as": "conversion_label"},
                    ],
                    "mark": {
                        "type": "text",
                        "dy": -FUNNEL_STEP / 2,
                        "fontSize": 10,
                        "color": "#555555",
                    },
                    "encoding": {
                        "x": {"datum": 0, "type": "quantitative"},
                        "text": {"field": "conversion_label", "type": "nominal"},
                    },
                },
            ],
        },
        "resolve": {"scale": {"x": "independent"}},
    }


def funnel_charts(conn: SqlReader) -> list[Chart]:
    rows = fetch(conn, FUNNEL_TABLE, None)
    stages = list(FUNNEL_STAGES)
    stats = _vl(
        "Campaign stats: customers per stage and archetype",
        rows,
        {
            "encoding": {
                "x": {
                    "field": "archetype",
                    "type": "nominal",
                    "sort": list(ARCHETYPE_NAMES),
                    "title": "Archetype",
                    "axis": {"labelAngle": -20, "labelLimit": 200},
                },
                "y": {"field": "stage", "type": "ordinal", "sort": stages, "title": "Stage"},
            },
            "layer": [
                {
                    "mark": "rect",
                    "encoding": {
                        "color": {
                            "field": "conversion_from_reached",
                            "type": "quantitative",
                            "title": "Share of reached customers",
                            "legend": {"format": ".0%"},
                            "scale": {"scheme": "blues"},
                        }
                    },
                },
                {
                    "mark": {"type": "text", "fontSize": 13},
                    "encoding": {
                        "text": {"field": "customers", "type": "quantitative", "format": ","}
                    },
                },
            ],
        },
        width=760,
        height=300,
    )
    return [
        Chart(
            "funnel_by_archetype",
            "Campaign funnel",
            "People per archetype who reached each stage of the campaigns (through any of "
            "their core records); between two bars, the share of the previous stage's people "
            "who went on.",
            FUNNEL_TABLE,
            None,
            rows,
            funnel_spec("Campaign funnel by archetype", rows),
            value_fields=("customers",),
            wide=True,
            binding=FUNNEL_BINDING,
        ),
        Chart(
            "campaign_stats",
            "Campaign stats",
            "The same counts as a table; shade is the share of the archetype's reached "
            "customers still in the funnel.",
            FUNNEL_TABLE,
            None,
            rows,
            stats,
            value_fields=("customers",),
            wide=True,
            binding=FUNNEL_BINDING,
        ),
    ]


def lead_charts(conn: SqlReader) -> list[Chart]:
    def rows(figure: str) -> tuple[Row, ...]:
        return fetch(conn, LEAD_TABLE, figure)

    total = rows("total_customers")
    total_n = total[0]["customers"] if total else 0
    charts = [
        Chart(
            "customers_by_archetype",
            "Customers by cross-sell archetype",
            f"Total customers: {total_n:,}.",
            LEAD_TABLE,
            "archetype",
            (r := in_order(rows("archetype"), "member", ARCHETYPE_NAMES)),
            pie(
                f"Customers by archetype (total {total_n:,})",
                r,
                "member",
                "customers",
                ARCHETYPE_NAMES,
                legend="Archetype",
            ),
            value_fields=("customers",),
            field_titles={"member": "Archetype"},
            binding=Binding(
                "customers", {"member": "archetype"}, ("customers",), click="archetype"
            ),
        )
    ]
    for figure, title, label in (
        ("product_sales", "Sales per product (open accounts)", "Product"),
        ("campaign_onboarded", "Customers onboarded by the campaign, per card", "Card"),
        ("risk_category", "Customers by risk category", "Risk category"),
        ("affluence_level", "Customers by affluence level", "Affluence level"),
        ("segment", "Customers by segment", "Segment"),
        ("state", "Customers by state", "State"),
    ):
        value = "accounts" if figure == "product_sales" else "customers"
        order = FIGURE_ORDER.get(figure)
        r = in_order(rows(figure), "member", order) if order else rows(figure)
        charts.append(
            Chart(
                f"{figure}_bar",
                title,
                LEAD_FIGURE_TEXT.get(figure, ""),
                LEAD_TABLE,
                figure,
                r,
                bar(
                    title,
                    r,
                    "member",
                    value,
                    label=label,
                    value_title="Open accounts" if value == "accounts" else "Customers",
                    sort=list(order) if order else "-x",
                    percent=figure in PERCENT_FIGURES,
                ),
                value_fields=(value,),
                field_titles={"member": label},
                binding=LEAD_BINDINGS[figure],
            )
        )
    r = rows("mode_by_month")
    months = whole_months(conn)
    charts.append(
        Chart(
            "transactions_by_mode",
            "Transactions by mode over time",
            "Transaction counts per month and mode (UPI, QR, Card), all statuses." + months.note(r),
            LEAD_TABLE,
            "mode_by_month",
            r,
            lines(
                "Transactions by mode over time",
                r,
                "month",
                "transactions",
                y_title="Transactions",
                series="member",
                legend="Payment mode",
                months=months,
            ),
            value_fields=("transactions",),
            field_titles={"member": "Payment mode"},
            binding=Binding(
                "transactions_by_mode",
                {"member": "mode", "month": "month"},
                ("transactions", "amount"),
            ),
        )
    )
    r = rows("reason")
    charts.append(
        Chart(
            "transactions_by_reason",
            "Transactions by reason",
            "Transaction counts per reason, all statuses.",
            LEAD_TABLE,
            "reason",
            r,
            bar(
                "Transactions by reason",
                r,
                "member",
                "transactions",
                label="Reason",
                value_title="Transactions",
            ),
            value_fields=("transactions",),
            field_titles={"member": "Reason"},
            binding=Binding(
                "transactions_by_reason", {"member": "reason"}, ("transactions", "amount")
            ),
        )
    )
    return charts


# How the page recomputes each chart's rows from its cubes (see page_data.Binding).
FUNNEL_BINDING = Binding(
    "customers_by_stage",
    {"archetype": "archetype", "stage_order": "stage"},
    ("customers",),
    "funnel",
    click="archetype",
    where="stage",
    extra={"stages": list(FUNNEL_STAGES), "archetypes": list(ARCHETYPE_NAMES)},
)
LEAD_BINDINGS = {
    "product_sales": Binding("accounts", {"member": "product"}, ("customers", "accounts")),
    "campaign_onboarded": Binding(
        "customers_by_onboarded_card",
        {"member": "onboarded_card"},
        ("customers",),
        where="onboarded_card",
    ),
    "risk_category": Binding("customers", {"member": "risk"}, ("customers",), click="risk"),
    "affluence_level": Binding(
        "customers", {"member": "affluence"}, ("customers",), click="affluence"
    ),
    "segment": Binding("customers", {"member": "segment"}, ("customers",), click="segment"),
    "state": Binding("customers", {"member": "state"}, ("customers",), click="state"),
}
# Bars labelled with their share of all bars as well as their count.
PERCENT_FIGURES = ("product_sales", "risk_category", "affluence_level", "segment")
FLOW_BINDING = Binding(
    "spend_flow",
    {"segment": "spend_segment", "category": "category", "mode": "mode"},
    ("transactions", "spend"),
)

LEAD_FIGURE_TEXT = {
    "product_sales": "Open accounts per product: deposit accounts and credit cards sold.",
    "campaign_onboarded": "Cards the campaigns sold: customers onboarded, by the card offered.",
    "risk_category": "Customers per risk category.",
    "affluence_level": "Customers per affluence level.",
    "segment": "Rural, Semi-Urban and Urban customers.",
    "state": "Customers per state of residence.",
}


def spend_charts(conn: SqlReader) -> list[Chart]:
    monthly = fetch(conn, SPEND_TABLE, "monthly")
    category = fetch(conn, SPEND_TABLE, "category_month")
    segment = fetch(conn, SPEND_TABLE, "segment")
    flow = fetch(conn, SPEND_TABLE, "flow")
    months = whole_months(conn)
    total = sum(r["spend"] for r in monthly)
    seg_order = list(SPEND_SEGMENTS)
    unit = reporting_currency(conn, SPEND_TABLE)
    per_reason: dict[tuple[str, str], float] = {}
    for r in flow:
        key = (r["segment"], r["category"])
        per_reason[key] = per_reason.get(key, 0.0) + r["spend"]
    by_reason = _vl(
        f"Spend per reason, by spend segment ({unit})",
        flow,
        {
            "transform": [
                {
                    "aggregate": [{"op": "sum", "field": "spend", "as": "spend"}],
                    "groupby": ["segment", "category"],
                },
                {"calculate": SI.format("datum.spend"), "as": "value_label"},
            ],
            "facet": {
                "row": {
                    "field": "segment",
                    "type": "ordinal",
                    "sort": seg_order,
                    "title": "Spend segment",
                }
            },
            "spec": {
                "width": WIDTH,
                "encoding": {
                    "y": {"field": "category", "type": "nominal", "sort": "-x", "title": "Reason"},
                    "x": {
                        "field": "spend",
                        "type": "quantitative",
                        **amount_axis("Spend", unit, list(per_reason.values())),
                    },
                },
                "layer": [
                    {"mark": {"type": "bar", "tooltip": True}},
                    {
                        "mark": {"type": "text", "align": "left", "dx": 3},
                        "encoding": {"text": {"field": "value_label", "type": "nominal"}},
                    },
                ],
            },
            "resolve": {"scale": {"x": "independent"}},
        },
    )
    by_reason.pop("width")
    by_reason.pop("height")
    return [
        Chart(
            "cumulative_spend",
            "Cumulative spend over time",
            f"Successful debits, cumulative by month; total {total:,.2f} ({unit})."
            + months.note(monthly),
            SPEND_TABLE,
            "monthly",
            monthly,
            lines(
                f"Cumulative spend (total {total:,.0f}, {unit})",
                monthly,
                "month",
                "cumulative_spend",
                y_title="Cumulative spend",
                months=months,
                amount_unit=unit,
            ),
            value_fields=("spend", "cumulative_spend"),
            binding=Binding(
                "spend_month", {"month": "month"}, ("transactions", "spend"), "cumulative"
            ),
        ),
        Chart(
            "spend_by_category",
            "Category-wise spend trends",
            f"Spend per month for each category, in {unit}." + months.note(category),
            SPEND_TABLE,
            "category_month",
            category,
            lines(
                "Spend per category and month",
                category,
                "month",
                "spend",
                y_title="Spend",
                series="category",
                legend="Spend category",
                months=months,
                amount_unit=unit,
            ),
            value_fields=("spend",),
            binding=Binding(
                "spend_category",
                {"month": "month", "category": "category"},
                ("transactions", "spend"),
            ),
        ),
        Chart(
            "customers_by_spend_segment",
            "Customers by spend segment",
            "Customers per spend segment (Low, Medium, High).",
            SPEND_TABLE,
            "segment",
            segment,
            pie(
                "Customers by spend segment",
                segment,
                "segment",
                "customers",
                seg_order,
                legend="Spend segment",
            ),
            value_fields=("customers",),
            binding=Binding(
                "customers_by_spend_segment", {"segment": "spend_segment"}, ("customers", "spend")
            ),
        ),
        Chart(
            "spend_by_segment",
            "Spend by spend segment",
            f"Total spend per spend segment, in {unit}.",
            SPEND_TABLE,
            "segment",
            segment,
            pie(
                f"Spend by spend segment ({unit})",
                segment,
                "segment",
                "spend",
                seg_order,
                legend="Spend segment",
                amount=True,
            ),
            value_fields=("spend",),
            binding=Binding("spend_segment", {"segment": "spend_segment"}, ("spend",)),
        ),
        Chart(
            "spend_by_reason_and_segment",
            "Spend per reason and segment",
            f"Spend per reason within each spend segment, in {unit}.",
            SPEND_TABLE,
            "flow",
            flow,
            by_reason,
            value_fields=("spend",),
            wide=True,
            binding=FLOW_BINDING,
        ),
        Chart(
            "spend_flow_sankey",
            "Spend flow",
            f"Spend from segment to category to mode; band width is spend ({unit}), "
            "bands coloured by the spend segment they come from.",
            SPEND_TABLE,
            "flow",
            flow,
            sankey_spec(f"Spend flow: segment → category → mode ({unit})", flow),
            grammar="vega",
            value_fields=("spend",),
            wide=True,
            binding=replace(FLOW_BINDING, kind="sankey"),
        ),
        Chart(
            "spend_treemap",
            "Spend dimensions",
            f"Relative size of spend ({unit}) by segment, category and mode; hover a "
            "tile for its amount, the data table lists every tile.",
            SPEND_TABLE,
            "flow",
            flow,
            treemap_spec(f"Spend by segment, category and mode ({unit})", flow),
            grammar="vega",
            value_fields=("spend",),
            wide=True,
            binding=replace(FLOW_BINDING, kind="treemap"),
        ),
    ]
