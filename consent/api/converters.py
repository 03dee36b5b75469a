"""The grammar of a site key in a URL, the model's own (``validators.SITE_KEY``).

Registered once in consent.urls as ``<site_key:...>``, so a key the model could never hold
is no URL of ours: a 404 before any view, cache or database is asked, whatever its length
or characters.
"""

from ..validators import SITE_KEY


class SiteKeyConverter:
    regex = SITE_KEY

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
