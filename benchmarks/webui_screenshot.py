"""Take the README's screenshots of the web UI: one per tab (Stylize, Fast styles, Harmonize), each
after a real, small run on the bundled images.

    PYTHONPATH=src python benchmarks/webui_screenshot.py docs/images [--size 256] [--quality draft]

Writes webui_stylize.png, webui_fast.png and webui_harmonize.png (1280×900 browser window).
Needs gradio, playwright and a Chromium binary (Debian's ``chromium``); runs fully offline.
Only the bundled assets (src/brushwork/assets) appear in the pictures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "web"))
from test_webui_browser import CHROMIUM_ARGS, _free_port, find_chromium  # noqa: E402

from brushwork.assets import DEMO_CONTENT  # noqa: E402
from brushwork.web import app as webui  # noqa: E402
from brushwork.web import jobs  # noqa: E402

DONE = "() => (document.querySelector('{0}')?.innerText || '').includes('done')"
SHOWN = "() => {{ const i = document.querySelector('{0} img'); return i && i.complete && i.naturalWidth > 0; }}"


def _choose(page, selector: str, value: str) -> None:
    box = page.locator(selector)
    box.click()
    box.fill(value)
    page.keyboard.press("Enter")


def _save(png: bytes, path: Path, max_kb: int) -> None:
    img = Image.open(io.BytesIO(png)).convert("RGB")
    for colors in (256, 128, 64):  # a palette keeps a UI screenshot small without visible loss
        buf = io.BytesIO()
        img.quantize(colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, "PNG", optimize=True)
        if buf.tell() <= max_kb * 1024:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    print(f"wrote {path} ({buf.tell() / 1024:.0f} KB, {colors} colours)")


def _shot(page, path: Path, max_kb: int) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    time.sleep(1)
    _save(page.screenshot(full_page=False), path, max_kb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--quality", default="draft")
    ap.add_argument("--max-kb", type=int, default=300)
    ap.add_argument("--tabs", default="stylize,fast,harmonize")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    binary = find_chromium()
    if binary is None:
        sys.exit("no chromium found: apt-get install chromium")
    with contextlib.suppress(ImportError):  # gradio imports it lazily in its worker threads; two first
        import matplotlib  # noqa: F401  events at once can then see a half-imported module
    app = webui.build_app("auto", jobs.QueueLimits(1, 4))
    url = webui.launch(app, port=_free_port(), block=False)
    tabs = args.tabs.split(",")
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=binary, args=CHROMIUM_ARGS, headless=True,
                                                    viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        if "stylize" in tabs:
            page.get_by_role("tab", name="Stylize").click()
            page.locator('[data-testid="dataset-cell-0-0"]').first.click()
            page.wait_for_selector("#stylize-style img")
            page.locator("#StylizeSettings-size input").fill(str(args.size))
            _choose(page, "#StylizeSettings-quality input", args.quality)
            start = time.monotonic()
            page.locator("#stylize-run").click()
            page.wait_for_function(DONE.format("#stylize-status"), timeout=1_800_000)
            page.wait_for_function(SHOWN.format("#stylize-result"))
            print(f"stylize took {time.monotonic() - start:.0f} s")
            _shot(page, args.folder / "webui_stylize.png", args.max_kb)
        if "fast" in tabs:
            page.get_by_role("tab", name="Fast styles").click()
            page.locator("#fast-photo input[type=file]").set_input_files(str(DEMO_CONTENT))
            page.wait_for_selector("#fast-photo img")
            page.locator("#fast-run").click()
            page.wait_for_function(DONE.format("#fast-status"), timeout=600_000)
            page.wait_for_function(SHOWN.format("#fast-result"))
            _shot(page, args.folder / "webui_fast.png", args.max_kb)
        if "harmonize" in tabs:
            page.get_by_role("tab", name="Harmonize").click()
            page.locator("#harmonize-example").click()
            page.wait_for_selector("#harmonize-painting img")
            time.sleep(2)  # the editor draws its background
            page.locator("#HarmonizeSettings-size input").fill(str(args.size))
            _choose(page, "#HarmonizeSettings-quality input", args.quality)
            start = time.monotonic()
            page.locator("#harmonize-run").click()
            page.wait_for_function(DONE.format("#harmonize-status"), timeout=1_800_000)
            page.wait_for_function(SHOWN.format("#harmonize-result"))
            print(f"harmonize took {time.monotonic() - start:.0f} s")
            _shot(page, args.folder / "webui_harmonize.png", args.max_kb)
        ctx.close()
    app.close()


if __name__ == "__main__":
    main()
