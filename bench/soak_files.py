"""Good and hostile landing files for the soak (bench/soak.py), with what each must become.

Every file the soak lands is a `Landed`: its case, where it went, whether its content is
good, the outcomes that count as handled, and the (key, modified_at) pairs it carries.
Good content (generator subsets, change rows, update-customer files, good rows under
hostile names) must reach raw; bad content uses keys of its own (`SOAKB.....`), so handled
correctly it never reaches mastered and the tables still equal a clean build's.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Outcomes (decided by bench/soak_check.py from the warehouse and the landing folder).
INGESTED = "ingested"  # every (key, modified_at) pair of the file is in raw
REJECTED = "rejected"  # ledger status 'rejected', or in landing/_rejected with a report
WARNED = "warned"  # a ledger row for the file carries a message (header-only, skipped)
QUARANTINED = "quarantined"  # its keys sit in a quarantine table with a reason

GOOD = frozenset({INGESTED})
MUST_REJECT = frozenset({REJECTED})
REPORTED = frozenset({REJECTED, WARNED})
ROW_LEVEL = frozenset({REJECTED, QUARANTINED})

# Changed rows get modified_at after every generated version, one second apart.
CHANGE_EPOCH = dt.datetime(2026, 6, 1)


@dataclass
class Landed:
    """One file put into the landing zone, and what it must become."""

    case: str
    entity: str
    path: Path
    good: bool
    expect: frozenset[str]
    pairs: list[tuple[str, str]] = field(default_factory=list)
    # Bytes for the reference build (good files only), landed there under a plain name.
    content: bytes | None = None
    # Rows no other file carries: raw must name this file as their _source_file.
    unique: bool = False


@dataclass
class EntityPool:
    """One entity's generated file: header, rows, and where key and modified_at sit."""

    entity: str
    header: list[str]
    rows: list[list[str]]
    key_at: int
    modified_at: int

    @classmethod
    def read(cls, entity: str, path: Path, key: str) -> EntityPool:
        with path.open(newline="", encoding="utf-8") as handle:
            header, *rows = list(csv.reader(handle))
        names = [h.strip().lower().replace(" ", "_") for h in header]
        return cls(entity, header, rows, names.index(key), names.index("modified_at"))

    def column(self, name: str) -> int:
        return [h.strip().lower().replace(" ", "_") for h in self.header].index(name)


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def write_atomically(path: Path, data: bytes) -> None:
    """Temporary hidden name, then rename: how a well-behaved source delivers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.soak.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class Factory:
    """Makes the soak's files in one landing zone, from one generated pool."""

    def __init__(self, landing: Path, pools: dict[str, EntityPool], rng: random.Random):
        self.landing, self.pools, self.rng = landing, pools, rng
        self.seq = 0
        self.good_landed: list[Landed] = []
        self.writers: list[threading.Thread] = []

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _stamp(self) -> str:
        return (CHANGE_EPOCH + dt.timedelta(seconds=self._next())).strftime("%Y-%m-%d %H:%M:%S")

    def _pairs(self, pool: EntityPool, rows: list[list[str]]) -> list[tuple[str, str]]:
        return [(r[pool.key_at], r[pool.modified_at]) for r in rows]

    # ---- good content -------------------------------------------------------------
    def subset_rows(self, entity: str) -> list[list[str]]:
        pool = self.pools[entity]
        k = self.rng.randint(1, min(200, len(pool.rows)))
        return [list(r) for r in self.rng.sample(pool.rows, k)]

    def change_rows(self) -> list[list[str]]:
        """Customers with a new address line and a newer, unique modified_at."""
        pool = self.pools["customer"]
        line = pool.column("customer_addressline1")
        rows = []
        for row in self.rng.sample(pool.rows, self.rng.randint(1, min(10, len(pool.rows)))):
            new = list(row)
            n = self._next()
            new[line] = f"Soak Lane {n}"
            new[pool.modified_at] = self._stamp()
            rows.append(new)
        return rows

    def good_file(
        self, case: str, entity: str, name: str, rows: list[list[str]], unique: bool = True
    ) -> Landed:
        pool = self.pools[entity]
        data = csv_bytes(pool.header, rows)
        path = self.landing / entity / name
        write_atomically(path, data)
        landed = Landed(
            case, entity, path, True, GOOD, self._pairs(pool, rows), content=data, unique=unique
        )
        self.good_landed.append(landed)
        return landed

    def random_good(self) -> Landed:
        n = self._next()
        if self.rng.random() < 0.5:
            return self.good_file("change", "customer", f"soak_change_{n}.csv", self.change_rows())
        entity = self.rng.choice(sorted(self.pools))
        rows = self.subset_rows(entity)
        return self.good_file("subset", entity, f"soak_subset_{n}.csv", rows, unique=False)

    def adopt(self, case: str, entity: str, path: Path) -> Landed:
        """A good file someone else wrote (update-customer's change file)."""
        data = path.read_bytes()
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))[1:]
        pairs = self._pairs(self.pools[entity], rows)
        landed = Landed(case, entity, path, True, GOOD, pairs, content=data, unique=True)
        self.good_landed.append(landed)
        return landed

    # ---- bad content ----------------------------------------------------------------
    def bad_rows(
        self, k: int = 2, where: Callable[[list[str]], bool] | None = None
    ) -> list[list[str]]:
        """Otherwise valid customers under keys of their own: they must never reach mastered."""
        pool = self.pools["customer"]
        candidates = [r for r in pool.rows if where is None or where(r)]
        rows = []
        for row in self.rng.sample(candidates, min(k, len(candidates))):
            new = list(row)
            new[pool.key_at] = f"SOAKB{self._next():05d}"
            new[pool.modified_at] = self._stamp()
            rows.append(new)
        return rows

    def bad_file(self, case: str, path: Path, data: bytes, rows: list[list[str]], expect) -> Landed:
        write_atomically(path, data)
        return Landed(
            case, "customer", path, False, expect, self._pairs(self.pools["customer"], rows)
        )

    # ---- the hostile cases ----------------------------------------------------------
    def hostile(self, case: str) -> list[Landed]:
        return HOSTILE_CASES[case](self)

    def wait_for_writers(self) -> None:
        for writer in self.writers:
            writer.join()


def _named(case: str, *names: str) -> Callable[[Factory], list[Landed]]:
    """Good change rows under each name (the later ones are decoys a glob would match)."""

    def make(f: Factory) -> list[Landed]:
        n = f._next()
        return [f.good_file(case, "customer", name.format(n=n), f.change_rows()) for name in names]

    return make


def _same_file_twice(f: Factory) -> list[Landed]:
    present = [g for g in f.good_landed if g.path.exists() and g.content]
    if not present:
        return [f.random_good()]
    first = f.rng.choice(present)
    write_atomically(first.path, first.content or b"")  # same name, same bytes, new mtime
    again = Landed("same-file-twice", first.entity, first.path, True, GOOD, first.pairs)
    return [again]


def _copy_other_name(f: Factory) -> list[Landed]:
    present = [g for g in f.good_landed if g.path.exists() and g.content]
    if not present:
        return [f.random_good()]
    first = f.rng.choice(present)
    path = first.path.with_name(f"copy {f._next()} of {first.path.name}")
    write_atomically(path, first.content or b"")
    return [Landed("copy-other-name", first.entity, path, True, GOOD, first.pairs)]


def _slow_copy(f: Factory) -> list[Landed]:
    """Good rows written straight to the final name in parts, cut mid-line, over seconds."""
    pool = f.pools["customer"]
    rows = f.change_rows() + f.change_rows()
    data = csv_bytes(pool.header, rows)
    path = f.landing / "customer" / f"soak_slow_copy_{f._next()}.csv"
    cuts = sorted(f.rng.sample(range(1, len(data)), min(4, len(data) - 1)))
    pauses = [f.rng.uniform(0.5, 2.0) for _ in cuts]

    def write() -> None:
        with path.open("wb") as handle:
            start = 0
            for cut, pause in zip([*cuts, len(data)], [*pauses, 0.0], strict=True):
                handle.write(data[start:cut])
                handle.flush()
                start = cut
                time.sleep(pause)

    writer = threading.Thread(target=write, name=f"slow-copy {path.name}", daemon=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.start()
    f.writers.append(writer)
    landed = Landed(
        "slow-copy", "customer", path, True, GOOD, f._pairs(pool, rows), content=data, unique=True
    )
    f.good_landed.append(landed)
    return [landed]


def _typed_parquet(f: Factory) -> list[Landed]:
    pool = f.pools["customer"]
    typed = [pool.column(c) for c in ("cibil_score", "mobile_number1", "pin")]
    rows = f.bad_rows(3, where=lambda r: all(r[i].isdigit() for i in typed))
    names = [h.strip().lower().replace(" ", "_") for h in pool.header]
    columns: dict[str, pa.Array] = {}
    for i, (header, name) in enumerate(zip(pool.header, names, strict=True)):
        values = [r[i] for r in rows]
        if name in ("cibil_score", "mobile_number1"):
            columns[header] = pa.array([float(v) if v else None for v in values], pa.float64())
        elif name == "pin":
            columns[header] = pa.array([int(v) if v else None for v in values], pa.int64())
        elif name == "cust_dob":
            columns[header] = pa.array(
                [dt.date.fromisoformat(v) if v else None for v in values], pa.date32()
            )
        else:
            columns[header] = pa.array(values, pa.string())
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    path = f.landing / "customer" / f"soak_typed_{f._next()}.parquet"
    return [f.bad_file("typed-parquet", path, buffer.getvalue(), rows, MUST_REJECT)]


def _non_utf8(in_index: bool) -> Callable[[Factory], list[Landed]]:
    def make(f: Factory) -> list[Landed]:
        pool = f.pools["customer"]
        rows = f.bad_rows()
        text = csv_bytes(pool.header, rows).decode("utf-8")
        city = rows[0][pool.column("city")]
        head, _, tail = text.partition("\n")
        if in_index:  # the bad bytes sit in the index column the raw step drops
            data = (head + "\n").encode() + b"\xff\xfe" + tail.encode()[1:]
        else:
            data = (head + "\n").encode() + tail.encode().replace(
                city.encode(), city.encode()[:2] + b"\xe9\xff", 1
            )
        case = "non-utf8-index" if in_index else "non-utf8-value"
        path = f.landing / "customer" / f"soak_{case}_{f._next()}.csv"
        return [f.bad_file(case, path, data, rows, MUST_REJECT)]

    return make


def _control(char: str, case: str) -> Callable[[Factory], list[Landed]]:
    def make(f: Factory) -> list[Landed]:
        pool = f.pools["customer"]
        rows = f.bad_rows()
        for row in rows:
            city = row[pool.column("city")]
            row[pool.column("city")] = city[:3] + char + city[3:]
        path = f.landing / "customer" / f"soak_{case}_{f._next()}.csv"
        return [f.bad_file(case, path, csv_bytes(pool.header, rows), rows, ROW_LEVEL)]

    return make


def _empty(f: Factory) -> list[Landed]:
    path = f.landing / "customer" / f"soak_empty_{f._next()}.csv"
    return [f.bad_file("empty", path, b"", [], REPORTED)]


def _header_only(f: Factory) -> list[Landed]:
    pool = f.pools["customer"]
    path = f.landing / "customer" / f"soak_header_only_{f._next()}.csv"
    return [f.bad_file("header-only", path, csv_bytes(pool.header, []), [], REPORTED)]


def _bad_quoting(f: Factory) -> list[Landed]:
    pool = f.pools["customer"]
    rows = f.bad_rows()
    data = csv_bytes(pool.header, rows) + b'0,"unterminated,quote\n'
    path = f.landing / "customer" / f"soak_bad_quoting_{f._next()}.csv"
    return [f.bad_file("bad-quoting", path, data, rows, MUST_REJECT)]


def _schema_drift(f: Factory) -> list[Landed]:
    pool = f.pools["customer"]
    rows = f.bad_rows()
    drop = pool.column("city")
    data = csv_bytes(
        [h for i, h in enumerate(pool.header) if i != drop],
        [[v for i, v in enumerate(r) if i != drop] for r in rows],
    )
    path = f.landing / "customer" / f"soak_schema_drift_{f._next()}.csv"
    return [f.bad_file("schema-drift", path, data, rows, MUST_REJECT)]


def _symlink(f: Factory) -> list[Landed]:
    """A link in the landing folder to valid rows outside it."""
    pool = f.pools["customer"]
    rows = f.bad_rows()
    n = f._next()
    target = f.landing.parent / "outside_landing" / f"target_{n}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(csv_bytes(pool.header, rows))
    link = f.landing / "customer" / f"soak_symlink_{n}.csv"
    link.symlink_to(target)
    return [Landed("symlink", "customer", link, False, REPORTED, f._pairs(pool, rows))]


def _nested(f: Factory) -> list[Landed]:
    pool = f.pools["customer"]
    rows = f.bad_rows()
    path = f.landing / "customer" / f"sub folder {f._next()}" / "nested.csv"
    return [f.bad_file("nested-folder", path, csv_bytes(pool.header, rows), rows, REPORTED)]


HOSTILE_CASES: dict[str, Callable[[Factory], list[Landed]]] = {
    "name-spaces": _named("name-spaces", "soak change {n} (copy).csv"),
    "name-quotes": _named("name-quotes", "soak 'single' \"double\" {n}.csv"),
    "name-unicode": _named("name-unicode", "soak_клиент_ü_客户_{n}.csv"),
    "name-glob-brackets": _named("name-glob-brackets", "cust[1]_{n}.csv", "cust1_{n}.csv"),
    "name-glob-star": _named("name-glob-star", "g*_{n}.csv", "gz_{n}.csv"),
    "name-glob-question": _named("name-glob-question", "what?_{n}.csv", "whatX_{n}.csv"),
    "same-file-twice": _same_file_twice,
    "copy-other-name": _copy_other_name,
    "slow-copy": _slow_copy,
    "typed-parquet": _typed_parquet,
    "non-utf8-value": _non_utf8(in_index=False),
    "non-utf8-index": _non_utf8(in_index=True),
    "control-nul": _control("\x00", "control-nul"),
    "control-escape": _control("\x1b[31m", "control-escape"),
    "empty": _empty,
    "header-only": _header_only,
    "bad-quoting": _bad_quoting,
    "schema-drift": _schema_drift,
    "symlink": _symlink,
    "nested-folder": _nested,
}
