"""A cluster view without PII in clear: who was linked to whom, and on what evidence.

For the largest clusters (and those holding a pair in review), each record is shown by
its source and keyed tokens of its values, computed in DuckDB by the project's masking
operators (`hash` for PII-masked attributes, `bucket_date` to the year for the date of
birth) under the masking key: two records with the same token hold the same value, and
without the key no token can be tested against a guess. Record ids are tokens too.
Edges are the scored pairs with their match weights. Written as a self-contained HTML
page (Vega inline, a table per cluster) and a PNG, like the model charts.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import vl_convert as vlc

from fs_assets.identity import tables
from fs_assets.identity.attributes import ATTRIBUTES, DATE_ATTRIBUTES
from fs_assets.model.columns import Column
from fs_assets.transforms.governance.masking_key import MaskingKey, hmac_sql
from fs_assets.transforms.governance.operators import BUCKET_DATE, HASH, mask_sql

NAME = "cluster_view"
TITLE = "Largest clusters and clusters in review (values as keyed tokens)"
TOKEN_CHARS = 8  # shown of each 64-hex token: enough to tell values apart on a page
DEFAULT_CLUSTERS = 12
_MASKED = "_identity_cluster_view"


@dataclass(frozen=True)
class ClusterView:
    html: Path
    png: Path
    clusters: int
    records: int


def _masked_select() -> str:
    """The select list of one masked row per record (quoted names, closed operators)."""
    items = [f"left({hmac_sql('r.unique_id')}, {TOKEN_CHARS}) as record", "r.source"]
    for attribute in ATTRIBUTES:
        if attribute in DATE_ATTRIBUTES:
            masked = mask_sql(Column(attribute, "DATE"), BUCKET_DATE, {"precision": "year"})
            items.append(f"cast(year({masked.sql}) as varchar) as {attribute}")
        else:
            masked = mask_sql(Column(attribute, "VARCHAR"), HASH)
            items.append(f"left({masked.sql}, {TOKEN_CHARS}) as {attribute}")
    return ", ".join(items)


def _chosen(con: duckdb.DuckDBPyConnection, count: int) -> list[str]:
    """The golden ids shown: clusters with a pair in review first (a person decides on
    them), then the largest."""
    rows = con.execute(
        f"with sizes as (select golden_id, count(*) as n from {tables.CUSTOMER_IDENTITY} "
        "group by golden_id having count(*) > 1), "
        f"review as (select distinct i.golden_id from {tables.REVIEW_PAIRS} p join "
        f"{tables.CUSTOMER_IDENTITY} i on i.unique_id in (p.unique_id_l, p.unique_id_r)) "
        "select golden_id from (select golden_id, n, 0 as kind from sizes union all "
        "select golden_id, 0, 1 from review) group by golden_id "
        "order by max(kind) desc, max(n) desc, golden_id limit $n",
        {"n": count},
    ).fetchall()
    return [r[0] for r in rows]


def masked_clusters(
    con: duckdb.DuckDBPyConnection, key: MaskingKey, count: int = DEFAULT_CLUSTERS
) -> tuple[list[dict], list[dict]]:
    """(records, edges) of the chosen clusters, every value a keyed token or a year."""
    key.apply(con)
    chosen = _chosen(con, count)
    con.execute(
        f"create or replace temp table {_MASKED} as select "
        "list_position($ids::varchar[], i.golden_id) as _rank, "
        f"left({hmac_sql('i.golden_id')}, {TOKEN_CHARS}) as golden_id, {_masked_select()} "
        f"from {tables.RECORDS} r join {tables.CUSTOMER_IDENTITY} i using (unique_id) "
        "where i.golden_id in (select unnest($ids::varchar[]))",
        {"ids": chosen},
    )
    # In the chosen order (review first, then the largest); the golden id is a token too.
    cursor = con.execute(f"select * exclude (_rank) from {_MASKED} order by _rank, source, record")
    names = [d[0] for d in cursor.description]
    records = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    token = f"left({hmac_sql('{side}')}, {TOKEN_CHARS})"
    edges_cursor = con.execute(
        f"select {token.format(side='i.golden_id')} as golden_id, "
        f"{token.format(side='p.unique_id_l')} as left_record, "
        f"{token.format(side='p.unique_id_r')} as right_record, p.match_weight, "
        f"p.match_probability from {tables.PAIRS} p join {tables.CUSTOMER_IDENTITY} i "
        "on i.unique_id = p.unique_id_l where i.golden_id in (select unnest($ids::varchar[])) "
        "order by all",
        {"ids": chosen},
    )
    edge_names = [d[0] for d in edges_cursor.description]
    edges = [dict(zip(edge_names, row, strict=True)) for row in edges_cursor.fetchall()]
    con.execute(f"drop table {_MASKED}")
    return records, edges


def _spec(records: list[dict], edges: list[dict]) -> dict:
    """Vega-Lite: per cluster (a row) its records as points by source, and its pairs'
    match weights as ticks."""

    def row(title: str | None) -> dict:
        return {"field": "golden_id", "type": "nominal", "title": title}

    points = {
        "data": {"values": records},
        "mark": {"type": "point", "filled": True, "size": 120},
        "encoding": {
            "x": {"field": "record", "type": "nominal", "title": "record (keyed token)",
                  "sort": None},
            "y": row("golden id"),
            "color": {"field": "source", "type": "nominal"},
            "tooltip": [{"field": c, "type": "nominal"}
                        for c in ("golden_id", "record", "source", *ATTRIBUTES)],
        },
    }  # fmt: skip
    weights = {
        "data": {"values": edges},
        "mark": {"type": "tick", "thickness": 3, "size": 18},
        "encoding": {
            "x": {"field": "match_weight", "type": "quantitative",
                  "title": "match weight of its pairs"},
            "y": row(None),
            "color": {"field": "match_probability", "type": "quantitative",
                      "scale": {"scheme": "redyellowgreen"}},
            "tooltip": [{"field": "left_record", "type": "nominal"},
                        {"field": "right_record", "type": "nominal"},
                        {"field": "match_weight", "type": "quantitative"}],
        },
    }  # fmt: skip
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": TITLE,
        "hconcat": [points, weights],
    }


def _table_html(records: list[dict]) -> str:
    header = ["golden_id", "record", "source", *ATTRIBUTES]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r[h] or ''))}</td>" for h in header) + "</tr>"
        for r in records
    )
    return f"<table border='1' cellspacing='0'><tr>{head}</tr>{body}</table>"


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def write_cluster_view(
    con: duckdb.DuckDBPyConnection, key: MaskingKey, folder: Path, count: int = DEFAULT_CLUSTERS
) -> ClusterView:
    """The masked cluster view as `cluster_view.html` and `.png` in `folder`."""
    records, edges = masked_clusters(con, key, count)
    spec = _spec(records, edges)
    folder.mkdir(parents=True, exist_ok=True)
    page = vlc.vegalite_to_html(spec, bundle=True).replace(
        "</body>",
        f"<h2>Records (keyed tokens; a date of birth as its year)</h2>"
        f"{_table_html(records)}</body>",
        1,
    )
    html_path, png_path = folder / f"{NAME}.html", folder / f"{NAME}.png"
    _write(html_path, page.encode("utf-8"))
    _write(png_path, vlc.vegalite_to_png(spec, scale=1.0))
    return ClusterView(html_path, png_path, len({r["golden_id"] for r in records}), len(records))
