"""End to end: `python app.py` on a loopback port, driven by headless Chromium (Playwright).

Screenshots go to artifacts/screenshots/. Skips with a reason when /usr/bin/chromium or
Playwright is missing.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from demo_fixtures import motion, start_app, stop_app

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    proc, url = start_app(tmp_path_factory.mktemp("app"))
    yield url
    stop_app(proc)


@pytest.fixture(scope="module")
def page(app):
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tempfile.mkdtemp(prefix="chromium-")
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=FLAGS, headless=True,
            viewport={"width": 1300, "height": 1100})
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(app)
        pg.wait_for_selector("#query textarea", timeout=30_000)
        pg.errors = errors
        yield pg
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


def shot(page, artifacts_dir, name: str) -> None:
    out = artifacts_dir / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)


def map_colors(page) -> list[str]:
    return page.eval_on_selector_all("#viewer .mr-heatmap rect.mr-cell",
                                     "els => els.map(e => e.getAttribute('fill'))")


def test_text_search_hover_and_animation(page, artifacts_dir):
    page.fill("#query textarea", "a person waves the left hand")
    page.click("#search-btn")
    page.wait_for_selector("#viewer .mr-card", timeout=30_000)
    assert page.locator("#viewer .mr-card").count() == 5
    assert "results for" in page.inner_text("#status")
    assert page.locator("#viewer canvas.mr-stage").count() == 1
    # The animation runs: the clock moves.
    t0 = page.inner_text("#viewer .mr-clock")
    page.wait_for_timeout(700)
    assert page.inner_text("#viewer .mr-clock") != t0
    # No map until a word is hovered; each word draws its own.
    assert map_colors(page) == []
    page.hover("#viewer .mr-chip[data-word='2']")
    waves = map_colors(page)
    assert len(waves) == 196
    assert "matched the" in page.inner_text("#viewer .mr-mapnote")
    assert page.locator("#viewer .mr-span").is_visible()
    shot(page, artifacts_dir, "text_search_hover")
    page.hover("#viewer .mr-chip[data-word='4']")
    left = map_colors(page)
    assert len(left) == 196 and left != waves
    page.mouse.move(5, 5)  # leaving the chip clears the highlight
    assert map_colors(page) == []
    # Clicking another card focuses it.
    page.click("#viewer .mr-card[data-rank='3']")
    assert "#3" in page.inner_text("#viewer .mr-title")
    assert "where each word matched" in page.inner_text("#summary")
    assert not page.errors, page.errors


def test_words_new_to_the_model_are_marked(page, artifacts_dir):
    page.fill("#query textarea", "someone applauds")
    page.click("#search-btn")
    page.wait_for_function(
        "document.querySelector('#summary').innerText.includes('New to this model')",
        timeout=30_000)
    new = page.locator("#viewer .mr-chip[data-word='1']")
    assert "mr-unseen" in new.get_attribute("class")
    assert "No training caption used" in new.get_attribute("title")
    known = page.locator("#viewer .mr-chip[data-word='0']")
    assert "mr-unseen" not in known.get_attribute("class") and not known.get_attribute("title")
    new.hover()
    assert "a guess" in page.inner_text("#viewer .mr-mapnote")
    shot(page, artifacts_dir, "text_search_new_word")
    assert not page.errors, page.errors


def test_empty_and_long_queries_get_messages(page):
    page.fill("#query textarea", "")
    page.click("#search-btn")
    page.wait_for_function("document.querySelector('#status').innerText.includes('Cannot')")
    assert "type a description" in page.inner_text("#status")
    page.fill("#query textarea", "walk " * 80)
    page.click("#search-btn")
    page.wait_for_function("document.querySelector('#status').innerText.includes('characters')")


def test_uploads(page, artifacts_dir, tmp_path):
    from motion_retrieval.formats import write_bvh

    joints = motion(80, np.random.default_rng(5))
    np.save(tmp_path / "wave.npy", joints)
    (tmp_path / "walk.bvh").write_text(write_bvh(joints))
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY this is not an array")
    page.get_by_role("tab", name="Search by motion").click()
    upload = "#upload input[type=file]"
    page.wait_for_selector(upload, state="attached")

    page.set_input_files(upload, str(tmp_path / "wave.npy"))
    page.wait_for_selector("#viewer2 .mr-card", timeout=30_000)
    assert "wave.npy" in page.inner_text("#status2")
    assert page.locator("#viewer2 .mr-captions li").count() >= 1
    shot(page, artifacts_dir, "motion_search_npy")

    page.locator("#upload button[aria-label='Clear']").first.click()
    page.set_input_files(upload, str(tmp_path / "walk.bvh"))
    page.wait_for_function("document.querySelector('#status2').innerText.includes('walk.bvh')",
                           timeout=30_000)
    assert page.locator("#viewer2 .mr-card").count() >= 1

    page.locator("#upload button[aria-label='Clear']").first.click()
    page.set_input_files(upload, str(tmp_path / "broken.npy"))
    page.wait_for_function("document.querySelector('#status2').innerText.includes('Cannot')",
                           timeout=30_000)
    text = page.inner_text("#status2")
    assert "broken.npy" in text and "Traceback" not in page.content()
    shot(page, artifacts_dir, "motion_search_corrupt")
    assert not page.errors, page.errors


def test_mesh_tab_says_how_to_enable_it(page):
    page.get_by_role("tab", name="Mesh view").click()
    page.wait_for_selector("#mesh-note", state="visible")
    text = page.inner_text("#mesh-note")
    assert "SMPL_MODEL_DIR" in text and "smpl.is.tue.mpg.de" in text
    assert page.locator("#mesh").count() == 0  # no viewer that cannot work
