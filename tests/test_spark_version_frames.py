"""A version folder is read (listed, its schema inferred) once per session, not per statement.

`VersionFrames` keeps the frames of the version folders a Spark engine has read: a
version is written once under a new name and never changed, so reading it again may reuse
the frame. A different folder (a newer version) or a different schema is read afresh, and
at most `limit` frames are kept, the least recently read dropped first.
"""

from __future__ import annotations

from fs_assets.engines.spark_warehouse import VersionFrames


class _Reader:
    """The corner of `SparkSession.read` VersionFrames uses; counts the folders read."""

    def __init__(self, reads: list[tuple[str, str | None]]) -> None:
        self.reads = reads
        self.ddl: str | None = None

    def option(self, key: str, value: str) -> _Reader:
        assert (key, value) == ("recursiveFileLookup", "true")
        return self

    def schema(self, ddl: str) -> _Reader:
        self.ddl = ddl
        return self

    def parquet(self, folder: str) -> tuple[str, str | None, int]:
        self.reads.append((folder, self.ddl))
        return (folder, self.ddl, len(self.reads))  # a distinct "frame" per read


class _Session:
    def __init__(self) -> None:
        self.reads: list[tuple[str, str | None]] = []

    @property
    def read(self) -> _Reader:
        return _Reader(self.reads)


def test_a_folder_read_again_reuses_its_frame_and_a_new_version_is_read() -> None:
    spark, frames = _Session(), VersionFrames()
    first = frames.read(spark, "wh/marts/x/v1", None)
    assert frames.read(spark, "wh/marts/x/v1", None) is first
    newer = frames.read(spark, "wh/marts/x/v2", None)
    typed = frames.read(spark, "wh/marts/x/v1", "a INT")
    assert len({id(first), id(newer), id(typed)}) == 3
    assert spark.reads == [
        ("wh/marts/x/v1", None),
        ("wh/marts/x/v2", None),
        ("wh/marts/x/v1", "a INT"),
    ]


def test_at_most_limit_frames_are_kept_the_least_recently_read_dropped_first() -> None:
    spark, frames = _Session(), VersionFrames(limit=2)
    a = frames.read(spark, "a", None)
    frames.read(spark, "b", None)
    assert frames.read(spark, "a", None) is a  # a read again: b is now the oldest
    frames.read(spark, "c", None)  # over the limit: b dropped
    assert frames.read(spark, "a", None) is a
    frames.read(spark, "b", None)  # read afresh
    assert [folder for folder, _ in spark.reads] == ["a", "b", "c", "b"]
