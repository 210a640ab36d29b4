"""SQL text and its `?` parameters built together, so their order cannot slip apart."""

from __future__ import annotations

from collections.abc import Mapping


class SqlBuilder:
    """Append text with the parameters of its `?` markers; `.text` and `.params` at the end."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[object] = []

    def add(self, text: str, *params: object) -> SqlBuilder:
        if text.count("?") != len(params):
            raise ValueError(f"{text.count('?')} markers but {len(params)} parameters: {text!r}")
        self.parts.append(text)
        self.params.extend(params)
        return self

    def case_map(self, column: str, mapping: Mapping[str, object], cast: str = "") -> SqlBuilder:
        """`case column when ? then ? ... end` for a constant mapping."""
        self.add(f"case {column}")
        for k, v in mapping.items():
            self.add(f" when ? then ?{cast}", k, v)
        return self.add(" end")

    def join(self, pieces: list[tuple[str, tuple[object, ...]]], sep: str) -> SqlBuilder:
        """Several (text, params) pieces separated by `sep`."""
        for i, (text, params) in enumerate(pieces):
            if i:
                self.add(sep)
            self.add(text, *params)
        return self

    @property
    def text(self) -> str:
        return "".join(self.parts)
