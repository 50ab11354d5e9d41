"""Real browser: Debian's Chromium driven by Playwright against `streamlit run app.py` on loopback."""
from __future__ import annotations

import os

import pytest

from browser import CHROMIUM, CHROMIUM_ARGS, screenshot, streamlit_server, wait_until_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = [("home", "召回实验室", "Recall Lab"), ("two_tower", "双塔基线", "Two-tower baseline")]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM} (Debian package 'chromium')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(data_root, trained):
    trained("two_tower")
    with streamlit_server(data_root) as (url, proc):
        yield url


@pytest.mark.parametrize("slug, zh, en", PAGES)
def test_page_loads_in_both_languages(browser, server, slug, zh, en):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{server}/{slug if slug != 'home' else ''}")
    wait_until_idle(page)
    assert page.locator("[data-testid='stException']").count() == 0
    assert zh in page.locator("h1").first.inner_text()
    screenshot(page, f"{slug}-zh")
    page.get_by_text("English", exact=True).click()
    wait_until_idle(page)
    assert en in page.locator("h1").first.inner_text()
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, f"{slug}-en")
    page.close()
