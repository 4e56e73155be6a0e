"""Take the README's screenshot of the web UI: the stylize tab after a small run of the bundled demo pair.

    PYTHONPATH=src python benchmarks/webui_screenshot.py docs/images/webui.png [--size 256] [--quality draft]

Needs gradio, playwright and a Chromium binary (Debian's ``chromium``); runs fully offline.
Only the bundled assets (src/brushwork/assets) appear in the picture.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_webui_browser import CHROMIUM_ARGS, _free_port, find_chromium  # noqa: E402

from brushwork.web import app as webui
from brushwork.web import jobs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", type=Path)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--quality", default="draft")
    ap.add_argument("--max-kb", type=int, default=300)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    binary = find_chromium()
    if binary is None:
        sys.exit("no chromium found: apt-get install chromium")
    app = webui.build_app("auto", jobs.QueueLimits(1, 4))
    url = webui.launch(app, port=_free_port(), block=False)
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=binary, args=CHROMIUM_ARGS, headless=True,
                                                    viewport={"width": 1280, "height": 820})
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        page.locator('[data-testid="dataset-cell-0-0"]').first.click()
        page.wait_for_selector("#stylize-style img")
        page.locator("#StylizeSettings-size input").fill(str(args.size))
        quality = page.locator("#StylizeSettings-quality input")
        quality.click()
        quality.fill(args.quality)
        page.keyboard.press("Enter")
        start = time.monotonic()
        page.locator("#stylize-run").click()
        page.wait_for_function("() => (document.querySelector('#stylize-status')?.innerText || '').includes('done')",
                               timeout=1_800_000)
        page.wait_for_function("() => { const i = document.querySelector('#stylize-result img');"
                               " return i && i.complete && i.naturalWidth > 0; }")
        page.evaluate("window.scrollTo(0, 0)")
        time.sleep(1)
        png = page.screenshot(full_page=False)
        print(f"run took {time.monotonic() - start:.0f} s")
        ctx.close()
    app.close()
    img = Image.open(io.BytesIO(png)).convert("RGB")
    for colors in (256, 128, 64):  # a palette keeps a UI screenshot small without visible loss
        buf = io.BytesIO()
        img.quantize(colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, "PNG", optimize=True)
        if buf.tell() <= args.max_kb * 1024:
            break
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(buf.getvalue())
    print(f"wrote {args.output} ({buf.tell() / 1024:.0f} KB, {colors} colours)")


if __name__ == "__main__":
    main()
