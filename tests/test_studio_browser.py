"""The studio in a real browser: headless Chromium (Debian's package, driven by Playwright) against the
server on a tiny model. Skipped where Chromium or Playwright is missing; CI installs both. Screenshots
are kept in test-artifacts/studio/ to look at."""

import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from conftest import HERE, TAKES
from test_studio import model  # noqa: F401 (the tiny model fixture)

from omnimogen.serving import create_app

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine")
ARTIFACTS = HERE.parent / "test-artifacts" / "studio"


@pytest.fixture
def server(model):  # noqa: F811
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(model=model), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


def _canvas_png(page, card) -> bytes:
    return card.locator("canvas").screenshot()


def test_a_session_in_the_browser(server, tmp_path, monkeypatch):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    import omnimogen.model.generate as gen

    slow, report = threading.Event(), gen.report

    def slowly(index, expected):  # while ``slow`` is set, every token takes 20 ms
        if slow.is_set():
            time.sleep(0.02)
        report(index, expected)

    monkeypatch.setattr(gen, "report", slowly)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900}, accept_downloads=True)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server)
        page.wait_for_selector("#health:has-text('model')")

        # Text to motion: a card whose viewer draws and moves.
        page.fill("#instruction", "a person walks")
        page.fill("#seconds", "3")
        page.click("#send")
        card = page.locator(".card").first
        card.wait_for(timeout=60_000)
        page.wait_for_timeout(300)
        a = _canvas_png(page, card)
        page.wait_for_timeout(700)
        b = _canvas_png(page, card)
        pixels = page.evaluate("""() => { const c = document.querySelector('.card canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let ink = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) ink++; return ink; }""")
        assert pixels > 2000, "the viewer drew (almost) nothing"
        assert a != b, "the viewer does not move between frames"
        page.screenshot(path=str(ARTIFACTS / "1_text_to_motion.png"))

        # Upload a take, bind it as <SourceMotion>, and edit it.
        page.set_input_files("#upload", str(TAKES / "dataset-1_walk_normal_001.bvh.gz"))
        page.wait_for_selector(".turn:has-text('uploaded') .card")
        page.once("dialog", lambda d: d.accept("SourceMotion"))
        page.locator(".turn:has-text('uploaded') .card .bind").click()
        assert "<SourceMotion>" in page.input_value("#instruction")
        page.fill("#instruction", "make <SourceMotion> look happy")
        page.click("#send")
        page.wait_for_selector(".turn:has-text('make <SourceMotion> look happy') .card", timeout=60_000)
        edited = page.locator(".turn:has-text('make <SourceMotion> look happy') .card").first
        edited.locator(".overlay").click()  # the source drawn in grey under the edit
        page.wait_for_selector(".overlay:has-text('hide')")
        page.screenshot(path=str(ARTIFACTS / "2_edit.png"), full_page=True)

        # A bad upload is a message on the page, not a broken page.
        bad = tmp_path / "broken.bvh"
        bad.write_text("HIERARCHY\nROOT Hips\n{")
        page.set_input_files("#upload", str(bad))
        page.wait_for_selector("#status.error")
        assert "broken.bvh" in page.inner_text("#status")

        # A two-segment timeline (the page starts with two rows), then one segment regenerated alone.
        page.locator("#rows .row .secs").nth(0).fill("2")
        page.locator("#rows .row .secs").nth(1).fill("2")
        page.click("#make-timeline")
        page.wait_for_selector("#timeline-out .card", timeout=60_000)
        seeds = page.eval_on_selector_all("#rows .row", "rows => rows.map(r => r.dataset.seed)")
        assert all(seeds)
        first_id = page.get_attribute("#timeline-out .card", "data-motion")
        page.locator("#rows .row .again").nth(1).click()
        page.wait_for_function(f"() => document.querySelector('#timeline-out .card')?.dataset.motion !== '{first_id}'")
        again = page.eval_on_selector_all("#rows .row", "rows => rows.map(r => r.dataset.seed)")
        assert again[0] == seeds[0] and again[1] != seeds[1]
        page.locator("#timeline").screenshot(path=str(ARTIFACTS / "4_timeline.png"))

        # Download the edit's BVH and load it back.
        edit = page.locator(".turn:has-text('make <SourceMotion> look happy') .card").first
        with page.expect_download() as download:
            edit.locator(".dl[data-format=bvh]").click()
        path = tmp_path / "edit.bvh"
        download.value.save_as(path)
        from omnimogen import Motion

        back = Motion.load(path)
        assert back.num_frames > 10 and np.isfinite(back.joints).all()
        page.screenshot(path=str(ARTIFACTS / "3_session.png"), full_page=True)

        # A long request shows its progress and stops when cancelled (each token slowed down here).
        page.fill("#instruction", "a person walks")
        page.fill("#seconds", "30")
        slow.set()
        page.click("#send")
        page.wait_for_selector("#status:has-text('pass')", timeout=30_000)
        assert page.is_visible("#progress") and page.is_visible("#cancel")
        page.locator("form").screenshot(path=str(ARTIFACTS / "5_progress.png"))
        page.click("#cancel")
        page.wait_for_selector("#status.error:has-text('cancelled')", timeout=30_000)
        assert page.is_hidden("#cancel") and page.is_hidden("#progress")
        slow.clear()
        browser.close()
    assert not errors, errors
    assert Path(ARTIFACTS / "1_text_to_motion.png").stat().st_size > 10_000
