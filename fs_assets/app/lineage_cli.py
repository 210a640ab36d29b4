"""`fs-accelerator lineage <table>[.<column>]`: where a column comes from, and who uses it.

The answer comes from the emitted OpenLineage events (`<data>/lineage/openlineage.jsonl`),
the same ones a lineage backend receives, read through the graph kept beside them
(graph_state.py: only the lines written since it was last read). Before answering, runs
on the project's instance whose lineage is not in the file yet are emitted (a run launched
while no daemon ran the lineage sensor, or before this feature); `--no-sync` skips that.
The HTML page `<data>/lineage/lineage.html` is rewritten from the same events.
"""

import argparse
import difflib
import sys
from pathlib import Path
from typing import TextIO

from fs_assets.lineage.emitter import EVENTS_FILE, HTML_FILE, read_lineage
from fs_assets.lineage.graph import DatasetKey, LineageGraph, TreeNode
from fs_assets.model.paths import DataPaths, data_paths

FINISHED = ("SUCCESS", "FAILURE", "CANCELED")
SUGGESTIONS = 3  # did-you-mean candidates shown at most


class UnknownTargetError(KeyError):
    """A table or column the lineage does not know; the message suggests close names."""

    def __str__(self) -> str:
        return str(self.args[0])


def add_lineage_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `lineage` on the project's CLI."""
    p = subparsers.add_parser(
        "lineage",
        help="show where a table or column comes from and what consumes it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", help="<schema>.<table>[.<column>], e.g. mastered.customer.cibil_score")
    p.add_argument("--html", help=f"where to write the page (default <data>/lineage/{HTML_FILE})")
    p.add_argument(
        "--no-sync", action="store_true", help="do not emit lineage for runs not yet recorded"
    )
    p.set_defaults(func=run_lineage)


def sync(paths: DataPaths, out: TextIO) -> int:
    """Emit the lineage of finished runs that the events file does not have yet."""
    from dagster import DagsterInstance

    from fs_assets.app.instance import ensure_dagster_home
    from fs_assets.defs.lineage_source import emit_run_lineage
    from fs_assets.lineage.landing import ledger_lookup
    from resources.lineage_sink import resolved_lineage_sink
    from resources.warehouse import WarehouseResource

    ensure_dagster_home(paths)
    done = read_lineage(paths.lineage).run_ids
    emitted = 0
    with DagsterInstance.get() as instance:
        records = [
            r
            for r in reversed(instance.get_run_records())  # oldest first
            if r.dagster_run.status.value in FINISHED and r.dagster_run.run_id not in done
        ]
        if not records:
            return 0
        from fs_assets.definitions import defs

        graph = defs.resolve_asset_graph()
        ledger = ledger_lookup(WarehouseResource(home=str(paths.home)).duckdb_file)
        http = resolved_lineage_sink(str(paths.home)).http_target()
        for r in records:
            report = emit_run_lineage(
                instance,
                r.dagster_run.run_id,
                graph,
                paths.lineage,
                http=http,
                ledger=ledger,
                write_html=False,
            )
            emitted += 1
            if not report.ok:
                out.write(report.message() + "\n")
    return emitted


def _label(graph: LineageGraph, key: DatasetKey, column: str | None) -> str:
    node = graph.datasets.get(key)
    name = node.label if node else f"{key[0]}/{key[1]}"
    if column is None:
        return name
    text = f'{name} column "{column}"' if node and node.is_file else f"{name}.{column}"
    info = node.fields.get(column) if node else None
    if info and info.type:
        text += f"  {info.type}"
    if info and info.pii:
        text += f"  [PII {info.pii}]"
    return text


def _print_tree(
    graph: LineageGraph, node: TreeNode, out: TextIO, prefix: str = "", arrow: str = "<-"
) -> None:
    for i, child in enumerate(node.children):
        last = i == len(node.children) - 1
        via = f"   ({child.via})" if child.via else ""
        via += "   (see above)" if child.repeated and child.field is None else ""
        branch = "└" if last else "├"
        out.write(f"{prefix}{branch}{arrow} {_label(graph, child.dataset, child.field)}{via}\n")
        _print_tree(graph, child, out, prefix + ("   " if last else "│  "), arrow)


def _leaves(node: TreeNode) -> list[TreeNode]:
    if not node.children:
        return [node]
    return [leaf for c in node.children for leaf in _leaves(c)]


def did_you_mean(word: str, choices: list[str], prefix: str = "") -> str:
    """'; did you mean <prefix>a or <prefix>b?' for the closest choices (difflib), else ''."""
    close = difflib.get_close_matches(word, choices, n=SUGGESTIONS, cutoff=0.6)
    return f"; did you mean {' or '.join(prefix + c for c in close)}?" if close else ""


def columns_of(graph: LineageGraph, key: DatasetKey) -> set[str]:
    """Every column the events name for a dataset: its schema and its column edges."""
    named = set(graph.datasets[key].fields)
    for edge in graph.edges:
        named |= {col for ns, name, col in (edge.source, edge.target) if (ns, name) == key}
    return named


def resolve_target(graph: LineageGraph, target: str) -> tuple[DatasetKey, str | None]:
    """The dataset and column `target` names; an unknown one is an error naming close ones."""
    tables = sorted(n.name for n in graph.datasets.values() if not n.is_file)
    try:
        key, column = graph.resolve(target)
    except KeyError:
        names = tables + [f"{n.name}.{c}" for n in graph.datasets.values() for c in n.fields]
        hint = did_you_mean(target, names) or f"; known tables: {', '.join(tables)}"
        raise UnknownTargetError(f"no table or column {target!r} in the lineage{hint}") from None
    known = sorted(columns_of(graph, key))
    if column is not None and column not in known:
        table = graph.datasets[key].label
        hint = did_you_mean(column, known, prefix=f"{table}.")
        listing = f"; its columns: {', '.join(known) or 'none recorded'}"
        raise UnknownTargetError(f"table {table} has no column {column!r}{hint or listing}")
    return key, column


def describe(graph: LineageGraph, target: str, out: TextIO) -> None:
    """Print the upstream path to the landing files and the downstream consumers."""
    key, column = resolve_target(graph, target)
    node = graph.datasets[key]
    out.write(_label(graph, key, column) + "\n")
    info = node.fields.get(column) if column else None
    if info and info.description:
        out.write(f"  {info.description}\n")
    elif column is None and node.description:
        out.write(f"  {node.description}\n")
    producers = ", ".join(sorted(node.producers)) or "none (a source)"
    out.write(f"  dataset {node.namespace}/{node.name}; written by {producers}")
    out.write(f"; owners {', '.join(node.owners)}\n" if node.owners else "\n")

    up = graph.upstream(key, column)
    out.write("\nupstream (where it comes from):\n")
    if up.children:
        _print_tree(graph, up, out, "  ", "<-")
        sources = sorted(
            {(leaf.dataset, leaf.field) for leaf in _leaves(up) if leaf.dataset[0] == "file"}
        )
        if sources:
            out.write("  landing sources:\n")
            for ds, field in sources:
                out.write(f"    {_label(graph, ds, field)}\n")
    else:
        out.write("  nothing recorded (a source, or no column lineage declared)\n")

    down = graph.downstream(key, column)
    out.write("\ndownstream (what consumes it):\n")
    if down.children:
        _print_tree(graph, down, out, "  ", "->")
    elif column is not None:
        out.write("  no column-level consumers recorded\n")
    readers = graph.readers(key) if column is not None else []
    if readers:
        out.write(f"  jobs reading {node.label}:\n")
        for job, writes in readers:
            names = ", ".join(graph.datasets[w].label for w in writes if w in graph.datasets)
            out.write(f"    {job}" + (f" -> {names}" if names else "") + "\n")


def run_lineage(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from fs_assets.lineage.html import write_lineage_page

    paths = data_paths(getattr(args, "home", None))
    if not args.no_sync:
        n = sync(paths, out)
        if n:
            out.write(f"(emitted lineage for {n} run(s) not yet recorded)\n")
    events = paths.lineage / EVENTS_FILE
    graph = read_lineage(paths.lineage).graph
    if not graph.datasets:
        sys.stderr.write(f"no lineage events in {events}: build first (`fs-accelerator build`)\n")
        return 1
    try:
        describe(graph, args.target, out)
    except UnknownTargetError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    page = write_lineage_page(graph, Path(args.html) if args.html else paths.lineage / HTML_FILE)
    out.write(f"\nlineage page: {page.resolve().as_uri()}#{args.target}\n")
    return 0
