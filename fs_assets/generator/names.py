"""Small pools of Faker ('en_IN') names and street parts, built once per seed.

Faker is slow per call, so it only fills pools of a few thousand entries; the builders then
sample the pools with numpy. Pools keep only values the entity rules accept (the seed's
`^[a-zA-Z]+$` for names, at most 35 characters) and values that never need CSV quoting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa
from faker import Faker

from fs_assets.model.columns import ALPHA

POOL_DRAWS = 1_500
NAME_MAX = 35
# Organisations' legal suffixes (cust_last_name of Corporate and Merchant customers).
ORG_SUFFIXES = (
    "Enterprises", "Traders", "Industries", "Holdings", "Ventures", "Exports", "Associates",
    "Solutions",
)  # fmt: skip
# Words in Faker company names that are connectors or suffixes, not a name.
_COMPANY_NOISE = frozenset({"and", "Sons", "Group", "Ltd", "Limited", "Inc", "LLC", "Pvt"})
_NAME = re.compile(ALPHA)
# Street parts: ASCII without the CSV delimiter or quotes, so no field ever needs quoting.
_STREET = re.compile(r"^[A-Za-z0-9./ -]+$")
_WORD_SPLIT = re.compile(r"[^A-Za-z]+")


@dataclass(frozen=True)
class Pools:
    """Arrow string arrays the builders `take` from."""

    first_male: pa.Array
    first_female: pa.Array
    first_any: pa.Array
    last: pa.Array
    org_words: pa.Array
    org_suffixes: pa.Array
    buildings: pa.Array
    streets: pa.Array
    landmarks: pa.Array


def _unique(values: list[str], keep: re.Pattern[str], max_len: int) -> pa.Array:
    """Distinct values in first-seen order (deterministic), filtered by `keep`."""
    kept = [v for v in dict.fromkeys(s.strip() for s in values) if keep.fullmatch(v)]
    kept = [v for v in kept if len(v) <= max_len]
    if not kept:
        raise ValueError("a Faker pool came out empty after filtering; check the Faker locale")
    return pa.array(kept, pa.string())


@lru_cache(maxsize=4)
def build_pools(seed: int) -> Pools:
    """Draw every pool from one Faker seeded with `seed`, in a fixed order."""
    fake = Faker("en_IN")
    fake.seed_instance(seed)

    def draw(method: str) -> list[str]:
        return [getattr(fake, method)() for _ in range(POOL_DRAWS)]

    first_male = _unique(draw("first_name_male"), _NAME, NAME_MAX)
    first_female = _unique(draw("first_name_female"), _NAME, NAME_MAX)
    first_any = _unique(draw("first_name"), _NAME, NAME_MAX)
    last = _unique(draw("last_name"), _NAME, NAME_MAX)
    company_words = [
        w
        for company in draw("company")
        for w in _WORD_SPLIT.split(company)
        if w[:1].isupper() and w not in _COMPANY_NOISE
    ]
    org_words = _unique(company_words, _NAME, NAME_MAX)
    buildings = _unique(draw("building_number"), _STREET, 12)
    streets = _unique(draw("street_name"), _STREET, 30)
    return Pools(
        first_male=first_male,
        first_female=first_female,
        first_any=first_any,
        last=last,
        org_words=org_words,
        org_suffixes=pa.array(ORG_SUFFIXES, pa.string()),
        buildings=buildings,
        streets=streets,
        landmarks=pa.array([f"Near {s}" for s in streets.to_pylist()], pa.string()),
    )
