"""The chart-image worker: the same images as vl-convert draws in process, a chart it
cannot draw failing alone, and no image lost or process left behind when a side dies."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import vl_convert as vlc

from fs_assets.transforms.marts.chart_images import (
    FILE_SCALE,
    UI_SCALE,
    WORKER_DIED,
    ImageWorker,
)

BAR = {
    "data": {"values": [{"a": "x", "b": 1}, {"a": "y", "b": 3}, {"a": "ü <&>", "b": 2}]},
    "mark": "bar",
    "encoding": {
        "x": {"field": "a", "type": "nominal"},
        "y": {"field": "b", "type": "quantitative"},
    },
}


def test_the_worker_draws_what_vl_convert_draws_at_each_scale() -> None:
    """One layout rasterized twice gives the bytes of drawing each scale (Vega-Lite and
    Vega), and the bundle is vl-convert's; answers come back in the order asked."""
    vega = vlc.vegalite_to_vega(BAR)
    with ImageWorker() as worker:
        bundle = worker.javascript()
        lite, full = worker.images(BAR, "vega-lite"), worker.images(vega, "vega")
        assert bundle.result() == vlc.javascript_bundle()
        assert lite.result().file_png == vlc.vegalite_to_png(BAR, scale=FILE_SCALE)
        assert lite.result().ui_png == vlc.vegalite_to_png(BAR, scale=UI_SCALE)
        assert full.result().file_png == vlc.vega_to_png(vega, scale=FILE_SCALE)
        assert full.result().ui_png != full.result().file_png


def test_a_chart_it_cannot_draw_fails_alone() -> None:
    with ImageWorker() as worker:
        bad = worker.images({"mark": 3}, "vega-lite")
        good = worker.images(BAR, "vega-lite")
        with pytest.raises(RuntimeError, match="vl-convert could not draw it"):
            bad.result()
        assert good.result().file_png.startswith(b"\x89PNG")


def test_a_killed_worker_fails_what_was_asked_with_what_to_do() -> None:
    worker = ImageWorker()
    try:
        assert worker.javascript().result()
        os.kill(worker.pid, signal.SIGKILL)
        asked = [worker.images(BAR, "vega-lite") for _ in range(3)]
        for job in asked:
            with pytest.raises(RuntimeError, match="Rerun the dashboards") as caught:
                job.result(timeout=30)
            assert str(caught.value) == WORKER_DIED
    finally:
        worker.close(wait=False)


def test_a_request_after_the_worker_ended_fails_at_once() -> None:
    """Asked after close (its input closed): the request fails with what to do, the
    answered ones keep their answers, nothing waits."""
    worker = ImageWorker()
    answered = worker.images(BAR, "vega-lite")
    worker.close()
    late = worker.images(BAR, "vega-lite")
    assert answered.result().file_png.startswith(b"\x89PNG")
    with pytest.raises(RuntimeError, match="Rerun the dashboards"):
        late.result(timeout=5)


def test_the_worker_ends_when_its_caller_is_killed(tmp_path) -> None:
    """SIGKILL of the step's process (no exit handler runs) still ends the worker: its
    input closes. No vl-convert process is left behind."""
    script = textwrap.dedent(
        """
        import sys, time
        from fs_assets.transforms.marts.chart_images import ImageWorker
        worker = ImageWorker()
        worker.javascript().result()
        print(worker.pid, flush=True)
        time.sleep(600)
        """
    )
    caller = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert caller.stdout is not None
    pid = int(caller.stdout.readline())
    caller.kill()
    caller.wait()
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie, waiting for init to reap it, has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_requests_larger_than_the_pipes_never_deadlock() -> None:
    """Asking for many large charts before reading any answer: the worker's answers fill
    its output pipe while the requests fill its input. The reader never waits on a writer,
    so every request is written and answered (a first version hung here for good)."""
    values = [{"a": i, "b": (i * 7919) % 997} for i in range(4_000)]  # ~90 KB of JSON
    spec = {
        "data": {"values": values},
        "mark": "point",
        "encoding": {
            "x": {"field": "a", "type": "quantitative"},
            "y": {"field": "b", "type": "quantitative"},
        },
    }
    asked = []
    writer = threading.Thread(
        target=lambda: asked.extend(worker.images(spec, "vega-lite") for _ in range(8))
    )
    with ImageWorker() as worker:
        writer.start()
        writer.join(timeout=120)
        assert not writer.is_alive(), "the requests could not be written: deadlock"
        pngs = [job.result(timeout=120).file_png for job in asked]
    assert len(pngs) == 8 and len(set(pngs)) == 1 and len(pngs[0]) > 65_536
