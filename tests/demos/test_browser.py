"""The demo in a real browser: headless Chromium (Debian's, driven by playwright) loads the page, runs
the default sample request, waits for the video and saves a screenshot. Skips where Chromium is absent
(``.ci/run`` installs it); never ``playwright install``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.slow,  # a trained prior, a running demo and a browser
              pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not installed (apt-get install chromium)")]


def test_sample_in_headless_chromium(demo_server, tmp_path, capsys):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, backend = demo_server
    lim = backend.limits  # the page's defaults: up to 9 samples over up to 5 s
    expected = f"{min(9, lim.max_samples)} samples x {min(5.0, lim.max_seconds):g} s"
    shots = Path(os.environ.get("NEUFACE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(url, timeout=60_000)
            page.wait_for_selector("#sample-button", timeout=60_000)
            assert "STAND-IN" in page.content()
            t = time.perf_counter()
            page.click("#sample-button")
            video = page.wait_for_selector("#sample-video video[src]", timeout=180_000)
            took = time.perf_counter() - t
            page.wait_for_function("document.querySelector('#sample-video video').readyState >= 2", timeout=60_000)
            assert video.evaluate("v => v.videoWidth") > 0  # the browser decoded the mp4
            # the default request's results are on the page: the summary names its samples and horizon, the
            # curves image has loaded
            page.wait_for_function("document.querySelector('#sample-summary').innerText.includes('APD')",
                                   timeout=60_000)
            assert expected in page.inner_text("#sample-summary")
            curves = page.wait_for_selector("#sample-curves img", timeout=60_000)
            page.wait_for_function("document.querySelector('#sample-curves img').naturalWidth > 0", timeout=60_000)
            assert curves.evaluate("i => i.naturalWidth") > 200
            page.wait_for_timeout(1500)
            page.screenshot(path=str(shots / "demo_sample.png"), full_page=True)
        finally:
            browser.close()
    with capsys.disabled():
        print(f"\n[demo] browser: click to video {took:.1f} s; screenshot {shots / 'demo_sample.png'}")
    assert (shots / "demo_sample.png").stat().st_size > 20_000
