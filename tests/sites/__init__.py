"""A Django site's pages: inside the platform for the middleware and template tag tests
(``@pytest.mark.urls("tests.sites.urls")``), and as a project of its own apart from the
platform, in remote mode (``tests.sites.settings``, ``tests.sites.wsgi``)."""

import uuid

CONSENT_ID = "3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f"


def stored_choice(version: int = 1, method: str = "custom", **categories: bool) -> str:
    """The consent cookie's value, as the banner writes it."""
    value = f"id={CONSENT_ID}&v={version}&t=1732370000&m={method}"
    return value + "".join(f"&{slug}={int(on)}" for slug, on in categories.items())


def new_consent_id() -> str:
    return str(uuid.uuid4())


def set_cookie_headers(response) -> list[str]:
    """Every Set-Cookie header the server sends, exactly as the WSGI handler writes it."""
    return sorted(morsel.output(header="Set-Cookie:") for morsel in response.cookies.values())


def set_cookie_names(response) -> list[str]:
    return sorted(morsel.key for morsel in response.cookies.values())
