"""Chart images drawn by vl-convert in a worker process, beside the dashboards' reads.

vl-convert runs Vega in an embedded JavaScript engine and holds Python's GIL for the
whole call: in the dashboards step, drawing the charts in a thread stalled the thread that
reads the pages' cubes (~7 s of GIL at 1M customers, two images per chart). A worker
process draws them in parallel instead. Each chart is laid out once, as SVG, and that
SVG is rasterized at each scale (the same PNG bytes as drawing it per scale, in two
thirds of the time). The worker also returns vl-convert's JavaScript bundle, which the
pages carry inline (~1.4 s to produce).

The worker is `python -m` this module, not a multiprocessing child: a spawned child
re-imports the caller's main script, and a script without a `__main__` guard would run
again inside it. Requests go in as JSON lines (a chart's spec), answers come back in
order as a JSON header and the images' bytes. A worker that dies (killed, out of memory)
fails what was asked of it with a message saying so; a rerun draws afresh. The worker
ends when its input closes: when the step ends, or when the step's process is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import vl_convert as vlc

MODULE = "fs_assets.transforms.marts.chart_images"
# The page file's PNG (sharp on a high-density screen) and the UI metadata's (smaller).
FILE_SCALE = 2.0
UI_SCALE = 1.0
# Where `fs_assets` is, so the worker imports this same code however the caller started.
PROJECT_ROOT = Path(__file__).resolve().parents[3]
WORKER_DIED = (
    "the process drawing the chart images stopped before it finished (killed or out of "
    "memory); nothing was written for this dashboard. Rerun the dashboards."
)


@dataclass(frozen=True)
class ChartImages:
    """A chart's page-file PNG and its UI PNG."""

    file_png: bytes
    ui_png: bytes


def chart_svg(spec: dict[str, Any], grammar: str) -> str:
    """The chart laid out once (Vega or Vega-Lite)."""
    if grammar == "vega":
        return vlc.vega_to_svg(spec)
    return vlc.vegalite_to_svg(spec)


def chart_images(spec: dict[str, Any], grammar: str) -> ChartImages:
    """The chart's two PNGs from one layout."""
    svg = chart_svg(spec, grammar)
    return ChartImages(vlc.svg_to_png(svg, scale=FILE_SCALE), vlc.svg_to_png(svg, scale=UI_SCALE))


def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script, as each page carries them."""
    return vlc.javascript_bundle()


def _answer(request: dict[str, Any]) -> list[bytes]:
    if request["kind"] == "javascript":
        return [javascript_bundle().encode("utf-8")]
    images = chart_images(request["spec"], request["grammar"])
    return [images.file_png, images.ui_png]


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The worker: one answer per request line, in order, until the input closes. A chart
    that cannot be drawn is answered with its error; the worker goes on."""
    for line in requests:
        try:
            parts = _answer(json.loads(line))
            header: dict[str, Any] = {"ok": True, "sizes": [len(p) for p in parts]}
        except Exception as exc:  # the caller raises it for this chart only
            parts, header = [], {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(header).encode("utf-8") + b"\n")
        for part in parts:
            answers.write(part)
        answers.flush()


class ImageWorker:
    """A worker process drawing chart images while the caller goes on (a context manager:
    the worker stops on exit). Each request returns a Future of its answer."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(_python_path())}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self._pending: deque[tuple[str, Future[Any]]] = deque()
        self._writing = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="chart-images", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def images(self, spec: dict[str, Any], grammar: str) -> Future[ChartImages]:
        """The chart's images, being drawn."""
        return self._ask({"kind": "chart", "spec": spec, "grammar": grammar})

    def javascript(self) -> Future[str]:
        """vl-convert's JavaScript bundle, being read."""
        return self._ask({"kind": "javascript"})

    def _ask(self, request: dict[str, Any]) -> Future[Any]:
        job: Future[Any] = Future()
        line = json.dumps(request).encode("utf-8") + b"\n"
        assert self._proc.stdin is not None
        # Only the writers take the lock: a write can wait for the worker to read, and the
        # worker for its answers to be read, so the reader never waits on a writer.
        with self._writing:
            try:
                self._pending.append((request["kind"], job))
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
            except (BrokenPipeError, ValueError):  # the worker is gone (or closed)
                # This request never reached it; the ones before it may still be answered
                # (the reader settles them in order, and fails the rest at EOF).
                job.set_exception(RuntimeError(WORKER_DIED))
        return job

    def _read(self) -> None:
        """Answers, in the order asked, into their futures; the rest fail at EOF."""
        out = self._proc.stdout
        assert out is not None
        while header := out.readline():
            kind, job = self._pending.popleft()
            answer = json.loads(header)
            if not answer["ok"]:
                job.set_exception(RuntimeError(f"vl-convert could not draw it: {answer['error']}"))
                continue
            parts = [out.read(size) for size in answer["sizes"]]
            if [len(p) for p in parts] != answer["sizes"]:  # cut off: the worker died
                job.set_exception(RuntimeError(WORKER_DIED))
                break
            text = kind == "javascript"
            job.set_result(parts[0].decode("utf-8") if text else ChartImages(*parts))
        self._fail_pending()

    def _fail_pending(self) -> None:
        """At EOF: every request not answered fails (those whose request could not be
        written have failed already). Only the reader pops, in the order asked."""
        while True:
            try:
                _, job = self._pending.popleft()
            except IndexError:
                return
            if not job.done():
                job.set_exception(RuntimeError(WORKER_DIED))

    def close(self, wait: bool = True) -> None:
        """Close the worker's input (it ends after its current chart); without `wait`,
        end it at once."""
        assert self._proc.stdin is not None
        with self._writing, contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()
        if not wait:
            self._proc.kill()
        self._proc.wait()
        self._reader.join()

    def __enter__(self) -> ImageWorker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(wait=exc is None)


def _python_path() -> list[str]:
    inherited = os.environ.get("PYTHONPATH", "")
    return [str(PROJECT_ROOT), *(p for p in inherited.split(os.pathsep) if p)]


if __name__ == "__main__":
    # Answers go to a copy of stdout; anything else printed (by Python, Rust or the
    # JavaScript engine) goes to stderr, so it can never corrupt an answer.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, answers)
