"""How the platform starts Debian's headless Chromium: for the cookie scanner, and for the
browser tests and benchmarks that drive the same browser.

The background-networking flags matter: without them Chromium keeps calling home, which a
closed network refuses many times a second.
"""

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
