"""Screenshots of both layers (light, dark, 320 px, 200 % zoom, right-to-left) and a
quick smoke run, against serve.py. Look at the PNGs; they are not compared to anything.

    python banner_static/dev/shots.py [OUTDIR]
"""

import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from consent.chromium import CHROMIUM_ARGS

HERE = Path(__file__).resolve().parent
OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/banner-shots")
PORT = 8766


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([sys.executable, str(HERE / "serve.py"), str(PORT)])
    time.sleep(0.5)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            cases = [
                ("light", {"viewport": {"width": 1280, "height": 720}}, "index"),
                (
                    "dark",
                    {"viewport": {"width": 1280, "height": 720}, "color_scheme": "dark"},
                    "index",
                ),
                ("w320", {"viewport": {"width": 320, "height": 640}}, "index"),
                (
                    "zoom200",
                    {"viewport": {"width": 640, "height": 360}, "device_scale_factor": 2},
                    "index",
                ),
                ("rtl", {"viewport": {"width": 800, "height": 600}}, "rtl"),
            ]
            for name, options, page_name in cases:
                page = browser.new_page(**options)
                page.on("console", lambda m: print("console:", m.text))
                page.on("pageerror", lambda e: print("pageerror:", e))
                page.goto(f"http://127.0.0.1:{PORT}/{page_name}.html")
                page.screenshot(path=OUT / f"{name}-1.png")
                page.evaluate("Consent.open()")
                page.locator("consent-ui details").first.evaluate("d => d.open = true")
                page.screenshot(path=OUT / f"{name}-2.png")
                page.close()
            browser.close()
    finally:
        server.terminate()
    print("screenshots in", OUT)


if __name__ == "__main__":
    main()
