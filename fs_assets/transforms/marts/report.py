"""Dashboard files: a PNG per chart, one self-contained HTML page per dashboard, an index.

vl-convert renders the PNGs with its embedded Vega engine and supplies the Vega,
Vega-Lite and vega-embed JavaScript that each HTML page carries inline, so the pages work
from a file system or a mail attachment with no network. Files are written to a temporary
name and renamed, so a reader never sees half a page; `reports/index.html` is rebuilt from
the per-dashboard manifests after any dashboard is written, and links every page and chart.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fs_assets.transforms.marts.chart_images import ChartImages, chart_images, javascript_bundle
from fs_assets.transforms.marts.charts import DATA_NAME, Chart
from fs_assets.transforms.marts.model import SPEND_SEGMENTS
from fs_assets.transforms.marts.page_data import CUSTOMER_LIST, FILTERS, MONTH, PageData

PNG_DIR = "png"
INDEX = "index.html"


@dataclass(frozen=True)
class DashboardFiles:
    page: Path
    pngs: dict[str, Path]
    index: Path


def draw(chart: Chart) -> ChartImages:
    """The chart's images, drawn here (the dashboards step draws them in a worker:
    chart_images.ImageWorker)."""
    return chart_images(chart.spec, chart.grammar)


@cache
def _javascript() -> str:
    return javascript_bundle()


@cache
def _page_script() -> str:
    """The filters' script (js/page.js): cubes summed into each chart's rows."""
    return (resources.files(__package__) / "js" / "page.js").read_text(encoding="utf-8")


# Rows of the customer list a page shows at once (the page holds more; see page_data).
CUSTOMERS_SHOWN = 50


def _script_json(value: object) -> str:
    """JSON safe inside a <script> element: no '<' at all, so no value (a product or state
    name is data) can close the element or open a comment; JSON reads \\u003c as '<'.
    Compact: a page's cubes hold millions of numbers at a million customers."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


def _cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def _table(chart: Chart) -> str:
    fields = list(dict.fromkeys(f for r in chart.rows for f in r if f != "path"))
    head = "".join(f"<th>{html.escape(chart.field_titles.get(f, f))}</th>" for f in fields)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(f)))}</td>" for f in fields) + "</tr>"
        for r in chart.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
header { margin-bottom: 16px; } h1 { margin: 0 0 4px 0; }
.kpis { display: flex; gap: 16px; flex-wrap: wrap; margin: 12px 0 20px; }
.kpi { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; }
.kpi b { display: block; font-size: 22px; }
section { border-top: 1px solid #eee; padding: 12px 0; }
table { border-collapse: collapse; font-size: 12px; margin-top: 6px; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; }
.grid figure { margin: 0; border: 1px solid #eee; padding: 8px; }
.grid figure.wide { grid-column: 1 / -1; }
.grid img { display: block; width: 100%; height: auto; }
.grid figure.wide img { max-width: 1400px; }
.filters { position: sticky; top: 0; background: #fafafa; border: 1px solid #ddd;
  padding: 8px 12px; display: flex; gap: 12px; flex-wrap: wrap; align-items: end; z-index: 5; }
.filters label { font-size: 12px; display: flex; flex-direction: column; }
"""


def _options(values: Sequence[str], empty: str) -> str:
    return f'<option value="">{html.escape(empty)}</option>' + "".join(
        f'<option value="{html.escape(v, quote=True)}">{html.escape(v)}</option>' for v in values
    )


MONTHS_NOTE = (
    " The month range applies to the charts with time (transactions, spend); customer "
    "counts are as of the snapshot."
)


def _filter_bar(page: PageData, data: dict[str, Any]) -> str:
    """A select per filter (values from the page's cells), the month range, a reset."""
    cells = data["cells"]
    values = {col: cells["dicts"].get(col, []) for col, _ in FILTERS}
    months: set[str] = set()
    for cube in data["cubes"].values():
        months |= {m[:7] for m in cube["dicts"].get(MONTH, [])}
    selects = "".join(
        f'<label>{html.escape(label)}<select id="filter-{col}" data-filter="{col}">'
        f"{_options(sorted(v for v in values[col] if v is not None), 'All')}</select></label>"
        for col, label in FILTERS
    )
    month_list = sorted(months)
    dates = (
        f'<label>From month<select id="month-first">{_options(month_list, "First")}</select>'
        f'</label><label>To month<select id="month-last">{_options(month_list, "Last")}'
        "</select></label>"
        if month_list
        else ""
    )
    return (
        f'<div class="filters">{selects}{dates}<button id="filter-reset">Reset filters</button>'
        '<div class="kpi">Customers in the selection<b id="selected-customers"></b></div>'
        "<p>Filters update every chart; clicking a bar or slice of the archetype, risk, "
        "affluence, segment or state charts filters the others (click it again to clear)."
        + (MONTHS_NOTE if month_list else "")
        + "</p></div>"
    )


def _customer_section(page: PageData) -> str:
    """The governed customers behind the selection (filled in by the page's script)."""
    table = page.customers
    if table is None:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    return (
        '<section id="customer-list"><h2>Customers behind the selection</h2>'
        f"<p>As the <code>{html.escape(table.role)}</code> role reads them "
        f"(<code>governed.{html.escape(table.role)}_customer</code>: non-PII columns, cust_id "
        f"as the role's keyed token). The page holds at most {table.per_cell} customers per "
        "combination of archetype, state, segment, risk and affluence, and shows the first "
        f'{CUSTOMERS_SHOWN} that match.</p><p class="count"></p>'
        f"<table><thead><tr>{head}</tr></thead><tbody></tbody></table></section>"
    )


def _filters_script(data: dict[str, Any] | None) -> str:
    if data is None:
        return ""
    return f"<script>const PAGE = {_script_json(data)};</script><script>{_page_script()}</script>"


def _page_data(page: PageData, charts: Sequence[Chart]) -> dict[str, Any]:
    """What the page's script reads (PAGE): cells, cubes, bindings and the customer list."""
    data = {
        **page.encoded(),
        "charts": [
            {
                "id": f"chart-{i}",
                "data": DATA_NAME,
                "binding": c.binding.to_json() if c.binding else None,
            }
            for i, c in enumerate(charts)
        ],
        "customers": {
            "cube": CUSTOMER_LIST,
            "columns": list(page.customers.columns) if page.customers else [],
            "show": CUSTOMERS_SHOWN,
        },
        "segments": list(SPEND_SEGMENTS),
    }
    if page.customers:
        data["cubes"][CUSTOMER_LIST] = page.customers.cube().encoded()
    return data


def _kpis(kpis: Mapping[str, str]) -> str:
    return (
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi">{html.escape(k)}<b>{html.escape(v)}</b></div>'
            for k, v in kpis.items()
        )
        + "</div>"
    )


def dashboard_html(
    title: str,
    intro: str,
    kpis: Mapping[str, str],
    charts: Sequence[Chart],
    page: PageData | None = None,
    javascript: str | None = None,
) -> str:
    """One page: every chart interactive (inline Vega), each with the mart rows it shows;
    with `page`, the filters, cross-filtering and the governed customer list. `javascript`
    is vl-convert's bundle when the caller has it already.

    Each chart's Vega view is kept in `window.vegaViews[<chart id>]`, so a reader's console
    or a browser test can query what was drawn; `window.dashboardFilters` sets filters.
    """
    sections = []
    for i, c in enumerate(charts):
        sections.append(
            f'<section data-chart="{html.escape(c.name)}"><h2>{html.escape(c.title)}</h2>'
            f"<p>{html.escape(c.description)} Source: <code>{html.escape(c.table)}</code>"
            + (f" (figure = '{html.escape(c.figure)}')" if c.figure else "")
            + f'</p><div id="chart-{i}" class="chart"></div>'
            f"<details><summary>Data ({len(c.rows)} rows)</summary>{_table(c)}</details></section>"
        )
    specs = _script_json([{"id": f"chart-{i}", "spec": c.spec} for i, c in enumerate(charts)])
    data = _page_data(page, charts) if page else None
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head>
<body data-rendered="0">
<header><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>
<p><a href="{INDEX}">All dashboards</a></p>{_kpis(kpis)}</header>
{_filter_bar(page, data) if page and data else ""}
{"".join(sections)}
{_customer_section(page) if page else ""}
<script>{javascript or _javascript()}</script>
{_filters_script(data)}
<script>
window.chartErrors = [];
window.vegaViews = {{}};
const charts = {specs};
Promise.all(charts.map(c => vegaEmbed('#' + c.id, c.spec, {{renderer: 'svg', actions: false}})
  .then(r => {{ window.vegaViews[c.id] = r.view; }})
  .catch(e => {{ window.chartErrors.push(c.id + ': ' + e); }})))
  .then(() => {{
    window.dispatchEvent(new Event('charts-drawn'));
    document.body.dataset.rendered = String(charts.length);
  }});
</script>
</body></html>
"""


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def write_dashboard(
    reports: Path,
    slug: str,
    title: str,
    intro: str,
    kpis: Mapping[str, str],
    charts: Sequence[Chart],
    page_data: PageData | None = None,
    images: Mapping[str, ChartImages] | None = None,
    javascript: str | None = None,
) -> DashboardFiles:
    """PNGs, the dashboard's page and manifest, then the index over all dashboards.
    `images` (per chart name) and `javascript` are what a worker drew, else drawn here."""
    pngs = {}
    for c in charts:
        path = reports / PNG_DIR / f"{c.name}.png"
        _write(path, (images[c.name] if images is not None else draw(c)).file_png)
        pngs[c.name] = path
    page = reports / f"{slug}.html"
    _write(page, dashboard_html(title, intro, kpis, charts, page_data, javascript))
    manifest = {
        "slug": slug,
        "title": title,
        "intro": intro,
        "kpis": dict(kpis),
        "page": page.name,
        "charts": [
            {"name": c.name, "title": c.title, "png": f"{PNG_DIR}/{c.name}.png", "wide": c.wide}
            for c in charts
        ],
    }
    _write(reports / f"{slug}.json", json.dumps(manifest, indent=2))
    return DashboardFiles(page, pngs, write_index(reports))


DASHBOARD_ORDER = ("campaign_funnel", "campaign_uplift", "lead_generation", "spend_analysis")


def write_index(reports: Path) -> Path:
    """`index.html`: every dashboard that has been built, its figures and chart images."""
    manifests = []
    for slug in DASHBOARD_ORDER:
        f = reports / f"{slug}.json"
        if f.exists():
            manifests.append(json.loads(f.read_text(encoding="utf-8")))
    parts = []
    for m in manifests:
        figures = "".join(
            ('<figure class="wide">' if c.get("wide") else "<figure>")
            + f'<a href="{html.escape(m["page"])}#chart-{i}">'
            f'<img src="{html.escape(c["png"])}" alt="{html.escape(c["title"])}"></a>'
            f"<figcaption>{html.escape(c['title'])}</figcaption></figure>"
            for i, c in enumerate(m["charts"])
        )
        parts.append(
            f'<section data-dashboard="{html.escape(m["slug"])}"><h2>'
            f'<a href="{html.escape(m["page"])}">{html.escape(m["title"])}</a></h2>'
            f"<p>{html.escape(m['intro'])}</p>{_kpis(m['kpis'])}"
            f'<div class="grid">{figures}</div></section>'
        )
    missing = [s for s in DASHBOARD_ORDER if s not in {m["slug"] for m in manifests}]
    note = f"<p>Not built yet: {html.escape(', '.join(missing))}.</p>" if missing else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fs-accelerator dashboards</title>
<style>{STYLE}</style></head><body>
<header><h1>Credit-card cross-sell dashboards</h1>
<p>Built from the customer 360 data product's marts. Click a chart for its interactive
page.</p>{note}</header>
{"".join(parts)}
</body></html>
"""
    index = reports / INDEX
    _write(index, page)
    return index


def png_markdown(chart: Chart, png: bytes) -> str:
    """The chart's PNG as an inline image for Dagster metadata (the UI renders markdown
    images): ChartImages.ui_png."""
    data = base64.b64encode(png).decode("ascii")
    return f"**{chart.title}**\n\n![{chart.title}](data:image/png;base64,{data})"
