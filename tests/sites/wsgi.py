"""tests.sites as a project of its own, for gunicorn: ``tests.sites.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.sites.settings")
application = get_wsgi_application()
