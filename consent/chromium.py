"""How the platform starts Debian's headless Chromium: for the cookie scanner, and for the
browser tests and benchmarks that drive the same browser.

The background-networking flags matter: without them Chromium keeps calling home, which a
closed network refuses many times a second.
"""

_QUIET = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Browser tests, screenshots and benchmarks: they open only our own pages and run as
# whatever user the developer is (often root in a container, where Chromium's sandbox
# refuses to start).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", *_QUIET]

# The cookie scanner opens pages staff point it at, so its browser keeps Chromium's
# sandbox (consent.crawler runs it as an unprivileged user; Playwright adds --no-sandbox
# unless told ``chromium_sandbox=True``), and has no way out but the egress gate:
# WebRTC may not send UDP past the proxy, no extensions, no hyperlink-auditing pings.
SCANNER_ARGS = [
    "--headless",
    "--disable-gpu",
    *_QUIET,
    "--disable-extensions",
    "--no-pings",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
]
