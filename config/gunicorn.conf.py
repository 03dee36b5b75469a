"""gunicorn settings for production: ``gunicorn -c config/gunicorn.conf.py config.wsgi``.

Threaded workers (``gthread``): a slow client or a request waiting on the database holds
one thread, not a whole process. bench/consent_throughput measures this stack against
sync workers.
Every value can be set from the environment; command-line options override them.
"""

import os
import sys

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(os.cpu_count() or 2)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Behind a proxy that keeps connections open to us.
keepalive = 5
timeout = 60
backlog = 2048
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"


def post_fork(server, worker):
    interval = os.environ.get("PYTHON_SWITCH_INTERVAL")
    if interval:
        sys.setswitchinterval(float(interval))
