"""A self-contained HTML page of the lineage graph: datasets, their columns, column edges.

Dagster's open-source UI draws the asset graph but not column lineage. This page draws
both from the emitted events: one box per dataset (landing files on the left, then raw,
mastered, governed, catalog by depth), one row per column, a curve per column edge and a
dashed line where only the dataset is known to feed another. Clicking a column highlights
everything upstream and downstream of it. No CDN, no external file: it opens offline.
"""

import datetime as dt
import html
import json
from pathlib import Path

from fs_assets.lineage.graph import DatasetKey, LineageGraph

BOX_W = 300
ROW_H = 16
HEAD_H = 38
GAP_X = 140
GAP_Y = 26
MARGIN = 20
# Top-to-bottom order within a column: the main flow first, bookkeeping tables last.
LAYER_ORDER = ("landing", "raw", "mastered", "governed", "catalog", "quarantine", "meta")


def _depths(graph: LineageGraph) -> dict[DatasetKey, int]:
    """Longest path from a source, so every edge points right."""
    parents: dict[DatasetKey, set[DatasetKey]] = {k: set() for k in graph.datasets}
    for src, dst, _ in graph.dataset_edges:
        if src != dst:
            parents.setdefault(dst, set()).add(src)
    for e in graph.edges:
        src, dst = e.source[:2], e.target[:2]
        if src != dst:
            parents.setdefault(dst, set()).add(src)
    depth: dict[DatasetKey, int] = {}

    def visit(key: DatasetKey, stack: frozenset) -> int:
        if key in depth:
            return depth[key]
        if key in stack:  # a cycle: stop here rather than recurse forever
            return 0
        d = max((visit(p, stack | {key}) + 1 for p in parents.get(key, ())), default=0)
        depth[key] = d
        return d

    for key in parents:
        visit(key, frozenset())
    return depth


def render(graph: LineageGraph, title: str = "fs-accelerator lineage") -> str:
    depth = _depths(graph)
    columns: dict[int, list[DatasetKey]] = {}

    def order(key: DatasetKey) -> tuple[int, str]:
        layer = graph.datasets[key].layer
        rank = LAYER_ORDER.index(layer) if layer in LAYER_ORDER else len(LAYER_ORDER)
        return rank, key[1]

    for key in sorted(graph.datasets, key=order):
        columns.setdefault(depth.get(key, 0), []).append(key)
    # Columns are drawn for datasets on a column edge; the others (quarantine, meta,
    # catalog) show their header only, their columns in its tooltip, to keep it readable.
    on_edges = {e.source[:2] for e in graph.edges} | {e.target[:2] for e in graph.edges}
    fields: dict[DatasetKey, list[str]] = {
        k: list(n.fields) if k in on_edges else [] for k, n in graph.datasets.items()
    }
    for e in graph.edges:
        for ns, name, col in (e.source, e.target):
            lst = fields.setdefault((ns, name), [])
            if col not in lst:
                lst.append(col)
    pos: dict[DatasetKey, tuple[float, float]] = {}
    field_y: dict[tuple[str, str, str], tuple[float, float, float]] = {}
    height = 0.0
    for col, keys in sorted(columns.items()):
        x = MARGIN + col * (BOX_W + GAP_X)
        y = MARGIN
        for key in keys:
            pos[key] = (x, y)
            for i, f in enumerate(fields.get(key, [])):
                field_y[(*key, f)] = (x, x + BOX_W, y + HEAD_H + i * ROW_H + ROW_H / 2)
            y += HEAD_H + len(fields.get(key, [])) * ROW_H + GAP_Y
        height = max(height, y)
    width = MARGIN * 2 + (max(columns, default=0) + 1) * (BOX_W + GAP_X)

    ids = {k: i for i, k in enumerate(field_y)}
    parts: list[str] = []
    linked: set[tuple[DatasetKey, DatasetKey]] = set()
    edge_list = []
    for e in sorted(graph.edges, key=lambda e: (e.source, e.target)):
        if e.source not in field_y or e.target not in field_y:
            continue
        _, sx, sy = field_y[e.source]
        tx, _, ty = field_y[e.target]
        mid = (sx + tx) / 2
        parts.append(
            f'<path class="edge" data-s="{ids[e.source]}" data-t="{ids[e.target]}" '
            f'd="M{sx:.0f},{sy:.0f} C{mid:.0f},{sy:.0f} {mid:.0f},{ty:.0f} {tx:.0f},{ty:.0f}">'
            f"<title>{html.escape(e.transformation or 'column lineage')}</title></path>"
        )
        edge_list.append([ids[e.source], ids[e.target]])
        linked.add((e.source[:2], e.target[:2]))
    for src, dst, job in sorted(graph.dataset_edges):
        if (src, dst) in linked or src not in pos or dst not in pos:
            continue
        sx, sy = pos[src][0] + BOX_W, pos[src][1] + HEAD_H / 2
        tx, ty = pos[dst][0], pos[dst][1] + HEAD_H / 2
        mid = (sx + tx) / 2
        parts.append(
            f'<path class="dsedge" d="M{sx:.0f},{sy:.0f} C{mid:.0f},{sy:.0f} {mid:.0f},{ty:.0f} '
            f'{tx:.0f},{ty:.0f}"><title>{html.escape(job)}</title></path>'
        )
    for key, (x, y) in pos.items():
        node = graph.datasets[key]
        rows = fields.get(key, [])
        h = HEAD_H + len(rows) * ROW_H
        label = node.label if len(node.label) <= 44 else "…" + node.label[-43:]
        owner = ", ".join(node.owners)
        hidden = "" if rows else f" · {len(node.fields)} columns"
        listing = "" if rows else "\n" + ", ".join(node.fields)
        parts.append(
            f'<g class="ds {html.escape(node.layer)}"><rect x="{x}" y="{y}" width="{BOX_W}" '
            f'height="{h}" rx="6"/><text class="name" x="{x + 8}" y="{y + 16}">'
            f"{html.escape(label)}<title>{html.escape(node.label)}\n"
            f"{html.escape(node.description or '')}{html.escape(listing)}</title></text>"
            f'<text class="meta" x="{x + 8}" y="{y + 31}">{html.escape(node.layer)}'
            f"{' · ' + html.escape(owner) if owner else ''}{hidden}</text></g>"
        )
        for i, f in enumerate(rows):
            info = node.fields.get(f)
            fy = y + HEAD_H + i * ROW_H
            pii = f" [{info.pii}]" if info and info.pii else ""
            kind = f"  {info.type}" if info and info.type else ""
            tip = f"{f}{kind}{pii}\n{info.description if info and info.description else ''}"
            parts.append(
                f'<g class="field{" pii" if pii else ""}" data-id="{ids[(*key, f)]}" '
                f'data-name="{html.escape(f"{node.name}.{f}")}">'
                f'<rect x="{x + 1}" y="{fy}" width="{BOX_W - 2}" height="{ROW_H}"/>'
                f'<text x="{x + 10}" y="{fy + 12}">{html.escape(f)}'
                f'<tspan class="type">{html.escape(kind)}{html.escape(pii)}</tspan></text>'
                f"<title>{html.escape(tip)}</title></g>"
            )
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return _PAGE.format(
        title=html.escape(title),
        generated=generated,
        datasets=len(graph.datasets),
        edges=len(graph.edges),
        width=int(width),
        height=int(height + MARGIN),
        body="\n".join(parts),
        edges_json=json.dumps(edge_list),
    )


def write_lineage_page(graph: LineageGraph, path: Path) -> Path:
    """Write the page atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render(graph), encoding="utf-8")
    tmp.replace(path)
    return path


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 13px system-ui, sans-serif; margin: 0; color: #1f2933; background: #f7f9fb; }}
header {{ padding: 10px 20px; background: #fff; border-bottom: 1px solid #d9e2ec;
  position: sticky; top: 0; z-index: 1; }}
header h1 {{ font-size: 16px; margin: 0 0 4px; }}
header p {{ margin: 0; color: #52606d; }}
svg {{ display: block; }}
.ds rect {{ fill: #fff; stroke: #9aa5b1; }}
.ds.landing rect {{ fill: #fffbea; }} .ds.raw rect {{ fill: #f0f4f8; }}
.ds.mastered rect {{ fill: #e3f8ff; }} .ds.governed rect {{ fill: #effcf6; }}
.ds.quarantine rect {{ fill: #ffeeee; }} .ds.catalog rect {{ fill: #f5f0ff; }}
.name {{ font-weight: 600; }} .meta {{ fill: #7b8794; font-size: 11px; }}
.field rect {{ fill: transparent; }} .field {{ cursor: pointer; }}
.field text {{ font-size: 11.5px; }} .field .type {{ fill: #9aa5b1; }}
.field.pii text {{ fill: #b44d12; }}
.field:hover rect {{ fill: #e4e7eb; }}
.edge {{ fill: none; stroke: #829ab1; stroke-opacity: .35; }}
.dsedge {{ fill: none; stroke: #bcccdc; stroke-dasharray: 5 4; }}
svg.focus .edge {{ stroke-opacity: .06; }} svg.focus .field text {{ fill-opacity: .35; }}
svg.focus .edge.hl {{ stroke: #d64545; stroke-opacity: 1; stroke-width: 2; }}
svg.focus .field.hl text {{ fill-opacity: 1; font-weight: 600; }}
svg.focus .field.sel rect {{ fill: #ffe3e3; }}
</style></head>
<body>
<header><h1>{title}</h1>
<p>{datasets} datasets, {edges} column edges, from the OpenLineage events
(generated {generated}). Click a column to follow it upstream and downstream (or open
the page with #schema.table.column); click empty space to clear. Orange columns carry a
PII tag; dashed lines are dataset-level lineage.</p></header>
<svg id="g" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">
{body}
</svg>
<script>
const EDGES = {edges_json};
const up = new Map(), down = new Map();
for (const [s, t] of EDGES) {{
  if (!down.has(s)) down.set(s, []); down.get(s).push(t);
  if (!up.has(t)) up.set(t, []); up.get(t).push(s);
}}
function reach(start, adj) {{
  const seen = new Set([start]), todo = [start];
  while (todo.length) for (const n of (adj.get(todo.pop()) || []))
    if (!seen.has(n)) {{ seen.add(n); todo.push(n); }}
  return seen;
}}
const svg = document.getElementById("g");
function select(f) {{
  for (const el of svg.querySelectorAll(".hl, .sel")) el.classList.remove("hl", "sel");
  if (!f) {{ svg.classList.remove("focus"); return; }}
  const id = Number(f.dataset.id);
  const on = new Set([...reach(id, up), ...reach(id, down)]);
  svg.classList.add("focus");
  f.classList.add("sel");
  for (const el of svg.querySelectorAll(".field"))
    if (on.has(Number(el.dataset.id))) el.classList.add("hl");
  for (const el of svg.querySelectorAll(".edge"))
    if (on.has(Number(el.dataset.s)) && on.has(Number(el.dataset.t))) el.classList.add("hl");
}}
svg.addEventListener("click", (ev) => select(ev.target.closest(".field")));
// lineage.html#mastered.customer.cibil_score opens with that column selected.
function fromHash() {{
  const name = decodeURIComponent(location.hash.slice(1));
  const f = [...svg.querySelectorAll(".field")].find((el) => el.dataset.name === name);
  if (f) {{ select(f); f.scrollIntoView({{block: "center", inline: "center"}}); }}
}}
window.addEventListener("hashchange", fromHash);
fromHash();
</script>
</body></html>
"""
