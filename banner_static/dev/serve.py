"""A throwaway server for developing the banner without Django.

Serves the test page, /c/demo.js built exactly as the platform builds it (dist/banner.js
stripped of trailing whitespace and ';', then '(' + config JSON + ');'), fake vendor
scripts that record their runs, and a consent endpoint that answers 201 and remembers
what it was sent (GET /__posts).

    python banner_static/dev/serve.py [PORT]
"""

import json
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
POSTS: list[dict] = []


def config() -> dict:
    config = json.loads((ROOT / "bench/fixtures/english-config.json").read_text())
    sys.path.insert(0, str(ROOT))
    import importlib.util

    spec = importlib.util.spec_from_file_location("texts", ROOT / "consent/texts.py")
    texts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(texts)
    config["texts"].update({k: v for k, v in texts.DEFAULT_TEXTS.items() if k != "en"})
    # Right-to-left check: English words, Arabic title.
    config["texts"]["ar"] = {**config["texts"]["en"], "title": "تفضيلات ملفات تعريف الارتباط"}
    return config


def script() -> bytes:
    code = (ROOT / "banner_static/dist/banner.js").read_bytes().strip().rstrip(b";")
    return code + b"(" + json.dumps(config(), ensure_ascii=False).encode() + b");\n"


VENDOR = """window.__ran = window.__ran || []; window.__ran.push(%(name)r);
document.cookie = %(cookie)r + "=1; path=/; max-age=3600";"""


class Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(HERE), **kwargs)

    def send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/c/demo.js"):
            return self.send(200, script(), "text/javascript")
        if self.path.startswith("/vendor/"):
            name = self.path.split("/")[-1].split(".")[0]
            body = VENDOR % {"name": name, "cookie": {"ga": "_ga", "ads": "_fbp"}.get(name, name)}
            return self.send(200, body.encode(), "text/javascript")
        if self.path == "/__posts":
            return self.send(200, json.dumps(POSTS).encode(), "application/json")
        if self.path.startswith("/csp.html"):
            # The strict policy a careful site would send: the banner must still work.
            body = (HERE / "csp.html").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self' 'nonce-n0nce'; style-src 'self'",
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        return super().do_GET()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        POSTS.append(body)
        receipt = {**body, "record_id": len(POSTS), "gpc": False, "dnt": False}
        return self.send(201, json.dumps(receipt).encode(), "application/json")

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
