"""Splink's model charts (match weights, m/u parameters) as files: a self-contained HTML
page each (Vega libraries inline, no network) and a PNG for the asset's metadata.

They show the model's parameters only (comparison levels, weights, probabilities), no
record values, so they may sit in reports/, outside the governed boundary.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

import vl_convert as vlc
from splink import Linker

CHARTS = {
    "match_weights": "Match weights per comparison level",
    "m_u_parameters": "m and u probabilities per comparison level",
}


@dataclass(frozen=True)
class ChartFiles:
    name: str
    title: str
    html: Path
    png: Path


def _write(path: Path, data: bytes) -> None:
    """Write to a temporary name and rename: a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def write_model_charts(linker: Linker, folder: Path) -> list[ChartFiles]:
    """The trained linker's two charts, as HTML and PNG in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "match_weights": linker.visualisations.match_weights_chart(),
        "m_u_parameters": linker.visualisations.m_u_parameters_chart(),
    }
    files = []
    for name, chart in made.items():
        html, png = folder / f"{name}.html", folder / f"{name}.png"
        _write(html, chart.to_html(inline=True).encode("utf-8"))
        _write(png, vlc.vegalite_to_png(chart.chart_dict, scale=1.0))
        files.append(ChartFiles(name, CHARTS[name], html, png))
    return files


def png_markdown(chart: ChartFiles) -> str:
    """The chart's PNG as an inline image for Dagster metadata (the UI renders it)."""
    data = base64.b64encode(chart.png.read_bytes()).decode("ascii")
    return f"**{chart.title}**\n\n![{chart.title}](data:image/png;base64,{data})"
