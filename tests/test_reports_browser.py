"""The dashboards in a real headless Chromium: pages load offline, without errors, with charts."""

from pathlib import Path

import pytest

from fs_assets.model.paths import DataPaths
from fs_assets.transforms.marts.report import DASHBOARD_ORDER

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


@pytest.mark.slow
def test_reports_render_in_chromium(built: DataPaths, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    reports = built.reports
    shots = tmp_path / "screenshots"
    shots.mkdir()
    errors: list[str] = []
    remote: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
            )

            def only_files(route) -> None:
                # Self-contained means nothing but the report's own files is ever requested.
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    remote.append(route.request.url)
                    route.abort()

            page.route("**/*", only_files)

            page.goto((reports / "index.html").as_uri())
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])"
            )
            pngs = sorted(p.name for p in (reports / "png").glob("*.png"))
            assert sorted(Path(src).name for src, _ in images) == pngs
            assert all(width > 0 for _, width in images), images
            for slug in DASHBOARD_ORDER:
                assert page.locator(f'section[data-dashboard="{slug}"]').count() == 1
            page.screenshot(path=str(shots / "index.png"), full_page=True)

            for slug in DASHBOARD_ORDER:
                page.goto((reports / f"{slug}.html").as_uri())
                sections = page.locator("section[data-chart]").count()
                assert sections > 0
                page.wait_for_function(
                    f"document.body.dataset.rendered === '{sections}'", timeout=60_000
                )
                assert page.evaluate("window.chartErrors") == []
                drawn = page.eval_on_selector_all(
                    ".chart", "els => els.map(e => e.querySelector('svg') !== null)"
                )
                assert drawn == [True] * sections, f"{slug}: a chart did not draw"
                page.screenshot(path=str(shots / f"{slug}.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert remote == []
    for shot in shots.iterdir():
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
