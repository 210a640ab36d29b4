"""The linkage's knobs: match thresholds and training sizes, apart from Splink.

The definitions read their defaults (the assets' config fields) when the code location
loads; kept here, loading them does not import Splink, which only the identity steps use.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """Match probabilities: at or above `match` one person; from `review` to `match`, a
    person decides."""

    match: float = 0.95
    review: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.review <= self.match < 1:
            raise ValueError(f"need 0 < review <= match < 1, not {self}")


@dataclass(frozen=True)
class Training:
    """The training knobs: sample sizes and the seed of every random step."""

    seed: int = 42
    u_max_pairs: float = 1e6 + 1  # (1e6 exactly makes Splink warn)
    em_max_pairs: float = 1e6
    prior_recall: float = 0.8  # share of true matches the deterministic rules find
