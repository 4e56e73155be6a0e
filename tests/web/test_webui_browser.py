"""End to end in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Opens the page, picks the bundled demo images, runs a tiny stylization and waits for the result
image, and checks that the page asked nothing of the internet.  ``make test`` installs chromium
where it can (see the Makefile's ``browser`` target); without a browser the test is skipped with
the reason.  Select it alone with ``pytest -m browser``.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from brushwork.web import jobs

pytestmark = pytest.mark.browser

#: Flags for a quiet, offline, sandbox-less headless Chromium (tests may run as root in a container).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def find_chromium() -> str | None:
    """The Chromium binary: $BRUSHWORK_CHROMIUM, else chromium / chromium-browser on the PATH."""
    candidates = [os.environ.get("BRUSHWORK_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                  "/usr/bin/chromium"]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install 'brushwork[web]')")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium browser found (apt-get install chromium, or set BRUSHWORK_CHROMIUM)")
    from brushwork.web import app as webui

    app = webui.build_app("cpu", jobs.QueueLimits(1, 4), workdir=tmp_path_factory.mktemp("web"))
    url = webui.launch(app, port=_free_port(), block=False)
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=binary, args=CHROMIUM_ARGS,
            headless=True, viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        foreign: list[str] = []
        page.on("request", lambda r: foreign.append(r.url)
                if urlparse(r.url).hostname not in ("127.0.0.1", "localhost", None) else None)
        page.goto(url)
        page.wait_for_selector("#stylize-run")
        yield page, foreign
        ctx.close()
    app.close()


def test_every_tab_renders(browser_page):
    page, _ = browser_page
    for tab, button in (("Fast styles", "Paint"), ("Harmonize", "Harmonize"), ("Video", "Paint the video"),
                        ("Stylize", "Stylize")):
        page.get_by_role("tab", name=tab).click()
        assert page.get_by_role("button", name=button, exact=True).is_visible()


def test_tiny_stylization_shows_the_result(browser_page):
    sync_api = pytest.importorskip("playwright.sync_api")
    page, foreign = browser_page
    page.get_by_role("tab", name="Stylize").click()
    page.locator('[data-testid="dataset-cell-0-0"]').first.click()  # the bundled demo pair
    page.wait_for_selector("#stylize-content img")
    page.wait_for_selector("#stylize-style img")
    page.locator("#StylizeSettings-size input").fill("64")
    quality = page.locator("#StylizeSettings-quality input")
    quality.click()
    quality.fill("single")
    page.keyboard.press("Enter")
    page.locator("#StylizeSettings-iterations textarea").fill("2")
    start = time.monotonic()
    page.locator("#stylize-run").click()
    page.wait_for_function("() => (document.querySelector('#stylize-status')?.innerText || '').includes('done')",
                           timeout=90_000)
    status = page.locator("#stylize-status").inner_text()
    assert "2 iterations" in status, status
    side = page.wait_for_function("""() => {
        const img = document.querySelector('#stylize-result img');
        return img && img.complete && img.naturalWidth > 0 && Math.max(img.naturalWidth, img.naturalHeight);
    }""")
    assert side.json_value() == 64
    link = page.locator("#stylize-file a[href$='chelsea_starry_night.png']")
    sync_api.expect(link).to_have_count(1)
    download = page.request.get(link.get_attribute("href"))
    assert download.ok and download.body().startswith(b"\x89PNG")
    assert time.monotonic() - start < 60
    assert foreign == [], f"the page fetched from the internet: {foreign}"
