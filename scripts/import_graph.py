"""Draw the tiers' import graph as docs/import_graph.svg and .png (grimp; vl-convert for PNG).

One box per package in its tier, its modules listed inside; one arrow per pair of packages
where a module of one imports a module of the other, labelled with the number of imports.
Arrows run down the page (or across a tier); one running up is red: the contracts forbid
it but for the exceptions pyproject.toml lists. Boxes are drawn over the arrows.
Run: `.venv/bin/python scripts/import_graph.py`.
"""

from __future__ import annotations

import sys
from html import escape
from pathlib import Path

import grimp
import vl_convert

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "import_graph.svg"
# Top to bottom, as the "tiers" contract in pyproject.toml.
TIERS: list[list[str]] = [
    ["fs_assets.app"],
    ["fs_assets.definitions"],
    ["asset_checks", "sensors"],
    ["fs_assets.defs"],
    ["resources"],
    ["fs_assets.lineage", "fs_assets.catalog"],
    ["fs_assets.engines", "fs_assets.generator"],
    ["fs_assets.identity"],
    ["fs_assets.transforms"],
    ["fs_assets.model"],
]
BOX_W, LINE_H, PAD, GAP_X, GAP_Y, COLUMNS = 300, 13, 8, 40, 46, 2


def package_of(module: str) -> str | None:
    for row in TIERS:
        for pkg in row:
            if module == pkg or module.startswith(pkg + "."):
                return pkg
    return None


def modules_of(graph: grimp.ImportGraph, pkg: str) -> list[str]:
    names = {m for m in graph.modules if m.startswith(pkg + ".")}
    short = sorted(m.removeprefix(pkg + ".") for m in names if not m.endswith("__init__"))
    return short or [pkg.rsplit(".", 1)[-1] + ".py"]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph("fs_assets", "asset_checks", "resources", "sensors", cache_dir=None)
    edges: dict[tuple[str, str], int] = {}
    for importer in graph.modules:
        a = package_of(importer)
        for imported in graph.find_modules_directly_imported_by(importer):
            b = package_of(imported)
            if a and b and a != b:
                edges[(a, b)] = edges.get((a, b), 0) + 1

    boxes: dict[str, tuple[float, float, float, float]] = {}
    parts: list[str] = []
    y = 20.0
    width = 2 * BOX_W + GAP_X + 40
    for row in TIERS:
        heights = []
        for i, pkg in enumerate(row):
            mods = modules_of(graph, pkg)
            per_col = -(-len(mods) // COLUMNS)
            h = PAD * 2 + LINE_H * (1.6 + per_col)
            x = 20 + (BOX_W + GAP_X) * i if len(row) > 1 else 20 + (BOX_W + GAP_X) / 2
            boxes[pkg] = (x, y, BOX_W, h)
            heights.append(h)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{h}" rx="6" '
                'fill="#f4f7fb" stroke="#4a6785"/>'
                f'<text x="{x + PAD}" y="{y + PAD + LINE_H}" font-weight="bold">'
                f"{escape(pkg.replace('.', '/'))}</text>"
            )
            for j, mod in enumerate(mods):
                col, line = divmod(j, per_col)
                parts.append(
                    f'<text x="{x + PAD + col * BOX_W / COLUMNS}" '
                    f'y="{y + PAD + LINE_H * (2.3 + line)}" font-size="10" fill="#333">'
                    f"{escape(mod)}</text>"
                )
        y += max(heights) + GAP_Y

    arrows: list[str] = []
    for (a, b), n in sorted(edges.items()):
        ax, ay, aw, ah = boxes[a]
        bx, by, bw, _ = boxes[b]
        down = by >= ay
        x1, y1 = ax + aw / 2, (ay + ah if down else ay)
        x2, y2 = bx + bw / 2, (by if down else by + boxes[b][3])
        colour = "#7a8ea6" if down else "#c0392b"
        bend = 60 if x1 == x2 else 0
        mid_x, mid_y = (x1 + x2) / 2 + bend, (y1 + y2) / 2
        arrows.append(
            f'<path d="M{x1},{y1} Q{mid_x},{mid_y} {x2},{y2}" fill="none" stroke="{colour}" '
            f'stroke-width="{1 + min(n, 40) / 12:.1f}" marker-end="url(#arrow)" opacity="0.7"/>'
            f'<text x="{mid_x + 3}" y="{mid_y}" font-size="9" fill="{colour}">{n}</text>'
        )
    height = y
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#4a6785"/>'
        "</marker></defs>"
        f'<rect width="{width}" height="{height}" fill="white"/>'
        + "".join(arrows)
        + "".join(parts)
        + "</svg>\n"
    )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(svg)
    OUT.with_suffix(".png").write_bytes(vl_convert.svg_to_png(svg, scale=1.0))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(boxes)} packages, {len(edges)} arrows")


if __name__ == "__main__":
    main()
