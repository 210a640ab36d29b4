"""Generating a whole landing zone.

Products and fx rates are written once; customers, accounts and transactions one chunk of
customers at a time (one part file per chunk and entity), so memory stays flat as the
volume grows.
Each chunk is cut into a fixed number of slices, each with its own random streams; worker
threads build and encode slices while this thread appends them to the file in order. The
slice count is a constant, not the core count, so the bytes do not depend on the machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from fs_assets.generator.accounts import AccountChunk, build_accounts, draw_account_counts
from fs_assets.generator.campaigns import build_campaign_events, build_campaigns
from fs_assets.generator.customers import CustomerChunk, build_customers
from fs_assets.generator.faults import PlantedFaults, fault_count, plant_faults
from fs_assets.generator.fx_rates import build_fx_rates
from fs_assets.generator.names import Pools, build_pools
from fs_assets.generator.products import build_products
from fs_assets.generator.transactions import build_transactions, draw_transaction_counts
from fs_assets.generator.writer import FORMATS, Encoded, PartFile, encode, write_part
from fs_assets.model.columns import Entity
from fs_assets.model.entities import (
    ACCOUNT,
    CAMPAIGN,
    CAMPAIGN_EVENT,
    CUSTOMER,
    ENTITY_NAMES,
    FX_RATE,
    PRODUCT,
    TRANSACTION,
)
from fs_assets.model.value_sets import FIRST_CUSTOMER_ID

SLICES_PER_CHUNK = 4
MAX_WORKERS = 2  # the reference machine's cores; more threads only add contention
MAX_CUSTOMER_ID = 10**10 - 1  # customer ids are ten digits

T = TypeVar("T")


@dataclass
class GenerationStats:
    """What one run wrote and the wall-clock seconds each entity took (build and write)."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITY_NAMES, 0))
    files: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ENTITY_NAMES, 0.0))
    total_seconds: float = 0.0
    faults: PlantedFaults | None = None  # at a non-zero error rate

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def rows_per_second(self, entity: str | None = None) -> float:
        rows = self.total_rows if entity is None else self.rows[entity]
        seconds = self.total_seconds if entity is None else self.seconds[entity]
        return rows / seconds if seconds > 0 else float("inf")

    @contextmanager
    def timing(self, entity: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[entity] += time.perf_counter() - started


@dataclass(frozen=True)
class _Slice:
    """One slice of a chunk: its customers and its random streams (customer, account,
    transaction, campaign event)."""

    first_customer: int  # global customer index
    customers: int
    rngs: tuple[np.random.Generator, ...]


def _slices(part_seed: np.random.SeedSequence, start: int, size: int) -> list[_Slice]:
    sizes = [
        size // SLICES_PER_CHUNK + (i < size % SLICES_PER_CHUNK) for i in range(SLICES_PER_CHUNK)
    ]
    firsts = np.cumsum([start, *sizes[:-1]])
    slices = []
    for first, count, seed in zip(firsts, sizes, part_seed.spawn(SLICES_PER_CHUNK), strict=True):
        # A fourth stream for campaign events: the first three are the same as before it.
        rngs = tuple(np.random.default_rng(s) for s in seed.spawn(4))
        slices.append(_Slice(int(first), count, rngs))
    return slices


def _offsets(counts: Sequence[int], start: int = 0) -> list[int]:
    """Where each piece starts when the pieces are laid end to end from `start`."""
    return [int(x) for x in np.cumsum([start, *counts[:-1]])]


def _customer_piece(
    pools: Pools, fmt: str, s: _Slice, first_row: int
) -> tuple[CustomerChunk, Encoded, int]:
    chunk = build_customers(s.rngs[0], s.first_customer, s.customers, pools)
    piece = encode(CUSTOMER, chunk.columns, fmt, first_row)
    return replace(chunk, columns={}), piece, chunk.size


def _account_piece(
    fmt: str,
    s: _Slice,
    customers: CustomerChunk,
    per_customer: np.ndarray,
    first: int,
    first_row: int,
) -> tuple[AccountChunk, Encoded, int]:
    chunk = build_accounts(s.rngs[1], first, customers, per_customer)
    piece = encode(ACCOUNT, chunk.columns, fmt, first_row)
    return replace(chunk, columns={}), piece, chunk.size


def _transaction_piece(
    fmt: str, s: _Slice, accounts: AccountChunk, counts: np.ndarray, first: int, first_row: int
) -> tuple[None, Encoded, int]:
    columns = build_transactions(s.rngs[2], first, accounts, counts)
    return None, encode(TRANSACTION, columns, fmt, first_row), int(counts.sum())


def _ready(piece: Encoded, rows: int) -> tuple[None, Encoded, int]:
    """An already encoded piece, as a slice task returns it."""
    return None, piece, rows


class _Run:
    """One generation: where to write, the worker threads, the pools and the running ids."""

    def __init__(
        self, out_dir: Path, seed: int, fmt: str, workers: ThreadPoolExecutor, pools: Pools
    ) -> None:
        self.folders = {name: out_dir / name for name in ENTITY_NAMES}
        for folder in self.folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.fmt = fmt
        self.workers = workers
        self.pools = pools
        self.stats = GenerationStats()
        self.accounts_so_far = 0
        self.transactions_so_far = 0
        self.events_so_far = 0

    def _write(
        self, entity: Entity, part: int, tasks: Sequence[Callable[[], tuple[T, Encoded, int]]]
    ) -> list[T]:
        """Run the slice tasks on the workers; append their pieces to the file in order."""
        with PartFile(self.folders[entity.name], entity, self.seed, part, self.fmt) as out:
            results = []
            for facts, piece, rows in self.workers.map(lambda task: task(), tasks):
                out.write(piece, rows)
                results.append(facts)
        self.stats.files.append(out.path)
        self.stats.rows[entity.name] += out.rows
        return results

    def products(self) -> None:
        with self.stats.timing("product"):
            columns = build_products()
            folder = self.folders["product"]
            self.stats.files.append(write_part(folder, PRODUCT, self.seed, 0, self.fmt, columns))
            self.stats.rows["product"] += len(columns["product_id"])

    def fx_rates(self) -> None:
        with self.stats.timing("fx_rate"):
            columns = build_fx_rates(self.seed)
            folder = self.folders["fx_rate"]
            self.stats.files.append(write_part(folder, FX_RATE, self.seed, 0, self.fmt, columns))
            self.stats.rows["fx_rate"] += len(columns["fx_rate_id"])

    def campaigns(self) -> None:
        with self.stats.timing("campaign"):
            columns = build_campaigns()
            folder = self.folders["campaign"]
            self.stats.files.append(write_part(folder, CAMPAIGN, self.seed, 0, self.fmt, columns))
            self.stats.rows["campaign"] += len(columns["campaign_id"])

    def campaign_events(
        self, part: int, slices: list[_Slice], customers: list[CustomerChunk]
    ) -> None:
        """The chunk's campaign events, slice by slice in order (a small share of rows)."""
        with self.stats.timing("campaign_event"):
            pieces = []
            row = 0
            for s, chunk in zip(slices, customers, strict=True):
                columns = build_campaign_events(s.rngs[3], self.events_so_far, chunk)
                size = len(columns["event_id"])
                self.events_so_far += size
                pieces.append(partial(_ready, encode(CAMPAIGN_EVENT, columns, self.fmt, row), size))
                row += size
            tasks = pieces
            self._write(CAMPAIGN_EVENT, part, tasks)

    def chunk(self, part: int, slices: list[_Slice]) -> None:
        """The customers of one chunk, then their accounts, then their transactions."""
        with self.stats.timing("customer"):
            rows = _offsets([s.customers for s in slices])
            tasks = [
                partial(_customer_piece, self.pools, self.fmt, s, r)
                for s, r in zip(slices, rows, strict=True)
            ]
            customers = self._write(CUSTOMER, part, tasks)
        self.campaign_events(part, slices, customers)

        with self.stats.timing("account"):
            # Counts first, so each slice knows where its account ids start.
            per_customer = [draw_account_counts(s.rngs[1], s.customers) for s in slices]
            sizes = [int(p.sum()) for p in per_customer]
            firsts, rows = _offsets(sizes, self.accounts_so_far), _offsets(sizes)
            self.accounts_so_far += sum(sizes)
            args = zip(slices, customers, per_customer, firsts, rows, strict=True)
            tasks = [partial(_account_piece, self.fmt, *a) for a in args]
            accounts = self._write(ACCOUNT, part, tasks)

        with self.stats.timing("transaction"):
            pairs = zip(slices, accounts, strict=True)
            counts = [draw_transaction_counts(s.rngs[2], a) for s, a in pairs]
            sizes = [int(c.sum()) for c in counts]
            firsts, rows = _offsets(sizes, self.transactions_so_far), _offsets(sizes)
            self.transactions_so_far += sum(sizes)
            args = zip(slices, accounts, counts, firsts, rows, strict=True)
            tasks = [partial(_transaction_piece, self.fmt, *a) for a in args]
            self._write(TRANSACTION, part, tasks)


def generate_landing(
    out_dir: Path,
    customers: int,
    seed: int = 42,
    fmt: str = "csv",
    chunk_customers: int = 100_000,
    error_rate: float = 0.0,
) -> GenerationStats:
    """Write mock landing files for every entity into `out_dir/<entity>/`.

    The same arguments give byte-identical files: every slice draws from its own numpy
    stream spawned from `seed`, Faker is seeded with it, and dates are relative to AS_OF.
    A non-zero `error_rate` then plants about that share of faulty customer rows (see
    `faults.py`) and writes their truth file; the clean files stay as they were.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    fault_count(error_rate, customers)  # refuses a rate out of range before writing
    if customers < 0 or chunk_customers < 1:
        raise ValueError("customers must be >= 0 and chunk_customers >= 1")
    if FIRST_CUSTOMER_ID + customers > MAX_CUSTOMER_ID:
        raise ValueError(
            f"at most {MAX_CUSTOMER_ID - FIRST_CUSTOMER_ID:,} customers fit ten digits"
        )
    started = time.perf_counter()
    workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="generate") as executor:
        clock = time.perf_counter()
        pools = build_pools(seed)
        pool_seconds = time.perf_counter() - clock
        run = _Run(Path(out_dir), seed, fmt, executor, pools)
        run.products()
        run.fx_rates()
        run.campaigns()
        starts = range(0, customers, chunk_customers)
        part_seeds = np.random.SeedSequence(seed).spawn(len(starts))
        for part, (start, part_seed) in enumerate(zip(starts, part_seeds, strict=True)):
            size = min(chunk_customers, customers - start)
            run.chunk(part, _slices(part_seed, start, size))
    # Faker pools exist for customers' names and addresses.
    run.stats.seconds["customer"] += pool_seconds
    if error_rate:
        planted = plant_faults(
            Path(out_dir),
            seed,
            fmt,
            error_rate,
            customers,
            run.stats.rows["transaction"],
            part=len(starts),
        )
        for entity, rows in planted.rows.items():
            run.stats.rows[entity] += rows
        run.stats.files.extend(planted.files)
        run.stats.faults = planted
    run.stats.total_seconds = time.perf_counter() - started
    return run.stats
