"""Two `consent` cookies in one browser (here on two paths; host-only and parent-domain
copies behave alike): the banner and the server enforce the same one, the newest.

Chromium sends the longer path first, so Django's request.COOKIES (the last one wins)
and the banner's old reading (the first one) disagreed whichever was newer; each case
below failed on one side before."""

import pytest

CONSENT_ID = "3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f"
ACCEPT_ALL = f"id={CONSENT_ID}&v=1&t=1700000000&m=accept_all&functional=1&advertising=1"
NO_ADS = f"id={CONSENT_ID}&v=1&t=1800000000&m=custom&functional=1&advertising=0"


@pytest.mark.parametrize("newest_path", ["/demo/", "/"])
def test_the_banner_and_the_server_enforce_the_newest_consent_cookie(
    browser, platform, newest_path
):
    other_path = "/" if newest_path == "/demo/" else "/demo/"
    context = browser.new_context()
    try:
        context.add_cookies(
            [
                {"name": "consent", "value": NO_ADS, "domain": "127.0.0.1", "path": newest_path},
                {"name": "consent", "value": ACCEPT_ALL, "domain": "127.0.0.1", "path": other_path},
            ]
        )
        page = context.new_page()
        page.goto(f"{platform.url}/demo/server-cookies/")

        # The server's view: it rendered no ad slot and let no advertising cookie through.
        assert "Advertising is not allowed for this request" in page.content()
        jar = {cookie["name"] for cookie in context.cookies()}
        assert {"_ga", "_gid"} <= jar
        assert not {"_fbp", "_gcl_au"} & jar

        # The banner's view of the same request.
        state = page.evaluate("Consent.get()")
        assert state["time"] == 1800000000
        assert state["categories"] == {"required": True, "functional": True, "advertising": False}
        assert not page.get_by_role("dialog", name="Cookie preferences", exact=True).is_visible()
    finally:
        context.close()
