"""The platform's settings, with the pages a Django site serves in the browser tests
(e2e/site/urls.py): auto-blocking on the server is proven on them."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "e2e.site.urls"
