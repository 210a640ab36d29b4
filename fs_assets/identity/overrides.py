"""People's decisions over the model: must-link and cannot-link pairs of source records.

`load_overrides` reads `policies/identity_overrides.yaml` (its format is documented in
the file) and names the line and field of anything malformed; `cut_edges` chooses which
match edges to drop so that every cannot-link pair ends in different clusters.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import yaml

from fs_assets.model.paths import PROJECT_ROOT

OVERRIDES_FILE = PROJECT_ROOT / "policies" / "identity_overrides.yaml"
KINDS = ("must_link", "cannot_link")
_SIDES = ("left", "right")
_RECORD_FIELDS = ("source", "source_id")


class OverridesError(ValueError):
    """An overrides file that cannot be used, naming the line and field to fix."""


@dataclass(frozen=True)
class Override:
    """One decision: two source records are (must_link) or are not (cannot_link) one person."""

    kind: str
    left: str  # unique id: "<source>:<source id>"
    right: str
    reason: str
    line: int
    automatic: bool = False  # made by the linkage (different national ids), not a person

    @property
    def logged_reason(self) -> str:
        """The reason as the cut edges and the golden id log record it."""
        return self.reason if self.automatic else f"{self.kind}: {self.reason}"


@dataclass(frozen=True)
class Overrides:
    """The overrides of one file and the SHA-256 of its bytes (recorded with the run)."""

    items: tuple[Override, ...] = ()
    sha256: str = ""
    path: Path | None = None

    def of_kind(self, kind: str) -> list[Override]:
        return [o for o in self.items if o.kind == kind]


def _fail(path: Path, node: yaml.Node, where: str, what: str) -> OverridesError:
    return OverridesError(f"{path}:{node.start_mark.line + 1}: {where}: {what}")


def _scalar(path: Path, node: yaml.Node, where: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise _fail(path, node, where, 'must be a non-empty text (quote ids: "0012")')
    return str(node.value).strip()


def _fields(path: Path, node: yaml.Node, where: str, allowed: Iterable[str]) -> dict:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, where, f"must be a mapping with {', '.join(allowed)}")
    fields: dict[str, yaml.Node] = {}
    for key, value in node.value:
        name = str(key.value)
        if name not in allowed:
            raise _fail(path, key, f"{where}.{name}", f"unknown field; use {', '.join(allowed)}")
        fields[name] = value
    for name in allowed:
        if name not in fields:
            raise _fail(path, node, f"{where}.{name}", "is missing")
    return fields


def _record(path: Path, node: yaml.Node, where: str) -> str:
    fields = _fields(path, node, where, _RECORD_FIELDS)
    source = _scalar(path, fields["source"], f"{where}.source")
    return f"{source}:{_scalar(path, fields['source_id'], f'{where}.source_id')}"


def _override(path: Path, kind: str, index: int, node: yaml.Node) -> Override:
    where = f"{kind}[{index}]"
    fields = _fields(path, node, where, (*_SIDES, "reason"))
    left, right = (_record(path, fields[s], f"{where}.{s}") for s in _SIDES)
    if left == right:
        raise _fail(path, node, where, f"left and right are the same record {left}")
    reason = _scalar(path, fields["reason"], f"{where}.reason")
    return Override(kind, left, right, reason, node.start_mark.line + 1)


def parse_overrides(path: Path, text: str) -> Overrides:
    """The overrides of a file's text; a malformed entry is an error naming its line."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise OverridesError(f"{path}: not valid YAML: {exc}") from exc
    items: list[Override] = []
    if root is not None:
        if not isinstance(root, yaml.MappingNode):
            raise _fail(path, root, "top level", f"must be a mapping with {', '.join(KINDS)}")
        for key, value in root.value:
            kind = str(key.value)
            if kind not in KINDS:
                raise _fail(path, key, kind, f"unknown section; use {', '.join(KINDS)}")
            if isinstance(value, yaml.ScalarNode) and value.value in ("", "null", "~"):
                continue
            if not isinstance(value, yaml.SequenceNode):
                raise _fail(path, value, kind, "must be a list of pairs")
            items += [_override(path, kind, i, n) for i, n in enumerate(value.value)]
    _no_contradiction(path, items)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Overrides(tuple(items), digest, path)


def _no_contradiction(path: Path, items: list[Override]) -> None:
    seen: dict[frozenset[str], Override] = {}
    for item in items:
        pair = frozenset((item.left, item.right))
        other = seen.setdefault(pair, item)
        if other.kind != item.kind:
            raise OverridesError(
                f"{path}:{item.line}: {item.kind} contradicts {other.kind} on line {other.line} "
                f"for the same pair {item.left} / {item.right}; keep one"
            )


def load_overrides(path: Path = OVERRIDES_FILE) -> Overrides:
    """The overrides file's decisions (none when the file does not exist)."""
    if not path.exists():
        return Overrides(path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OverridesError(f"{path}: cannot be read as UTF-8 text: {exc}") from exc
    return parse_overrides(path, text)


Edge = tuple[str, str]


def _path(adjacent: Mapping[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A shortest path from start to goal (breadth first), or None."""
    came: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while (prev := came[path[-1]]) is not None:
                path.append(prev)
            return path
        for nxt in sorted(adjacent[node]):
            if nxt not in came:
                came[nxt] = node
                queue.append(nxt)
    return None


def cut_edges(
    weights: Mapping[Edge, float], cannot_link: Iterable[Override]
) -> dict[Edge, Override]:
    """The edges to drop so that no cannot-link pair stays connected, with the override
    that cut each. While a path joins the pair, the weakest edge on it is cut (a greedy
    cut: it removes the least evidence along each path, not a minimum cut of the graph);
    a must-link edge weighs +inf, so a path of must-links only is a contradiction (an
    automatic cannot-link gives way to it instead)."""
    adjacent: dict[str, set[str]] = defaultdict(set)
    for left, right in weights:
        adjacent[left].add(right)
        adjacent[right].add(left)
    cut: dict[Edge, Override] = {}
    for item in cannot_link:
        while (path := _path(adjacent, item.left, item.right)) is not None:
            steps = [(a, b) if (a, b) in weights else (b, a) for a, b in pairwise(path)]
            weakest = min(steps, key=lambda e: (weights[e], e))
            if weights[weakest] == float("inf"):
                if item.automatic:  # a person's must-links outrank the linkage's own rule
                    break
                raise OverridesError(
                    f"cannot_link on line {item.line} ({item.left} / {item.right}) contradicts "
                    "must_link entries that join them; remove one of them"
                )
            cut[weakest] = item
            adjacent[weakest[0]].discard(weakest[1])
            adjacent[weakest[1]].discard(weakest[0])
    return cut
