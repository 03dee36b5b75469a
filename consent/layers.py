"""The site's banner configuration cut in two: what the banner's own script carries, and
what only the preferences layer shows (banner_static/src/preferences.js), served apart
at /c/SITE_KEY/preferences.js and loaded the first time a visitor opens that layer.

Most visitors answer on the first layer, so its script carries only what runs there:
the categories with their names, the cookies' names, domains and paths (to delete them on
withdrawal), the vendors' names and hosts where auto-blocking sends hosts (to hold back
and name what loads from them), and the first layer's words. The descriptions of the
categories, vendors and cookies, and the words only the preferences layer uses, are in
the layer's own data. No Django here: bench/banner_size cuts its fixture with it too.
"""

# Words only the preferences layer shows (consent/texts.py DEFAULT_TEXTS keys).
PANEL_WORDS = frozenset({"alwaysOn", "vendors", "cookies", "session", "day", "days", "save"})


def _to_expire(cookie: dict) -> dict:
    """What the banner needs to delete a cookie: "/" is always among the paths it tries."""
    kept = {k: v for k, v in cookie.items() if k in ("name", "domain", "path")}
    if kept.get("path") == "/":
        del kept["path"]
    return kept


def split(config: dict) -> tuple[dict, dict]:
    """(the banner script's config, the preferences layer's data) of a full config."""
    banner_categories = []
    panel_categories = []
    for category in config["categories"]:
        head = {k: v for k, v in category.items() if k not in ("vendors", "cookies")}
        banner_categories.append(
            {
                **head,
                "vendors": [
                    {"name": vendor["name"], "hosts": vendor["hosts"]}
                    for vendor in category["vendors"]
                    if vendor.get("hosts")
                ],
                "cookies": [_to_expire(cookie) for cookie in category["cookies"]],
            }
        )
        panel_categories.append(
            {
                **head,
                "vendors": [
                    {k: v for k, v in vendor.items() if k != "hosts"}
                    for vendor in category["vendors"]
                ],
                "cookies": [
                    {k: v for k, v in cookie.items() if k not in ("domain", "path")}
                    for cookie in category["cookies"]
                ],
            }
        )
    banner_texts = {}
    panel_texts = {}
    for language, words in config["texts"].items():
        named = words.get("categories", {})
        banner_texts[language] = {
            **{k: v for k, v in words.items() if k not in PANEL_WORDS},
            "categories": {slug: {"name": w["name"]} for slug, w in named.items() if "name" in w},
        }
        panel_texts[language] = {
            **{k: v for k, v in words.items() if k in PANEL_WORDS},
            "categories": {
                slug: {"description": w["description"]}
                for slug, w in named.items()
                if w.get("description")
            },
        }
    banner = {**config, "categories": banner_categories, "texts": banner_texts}
    return banner, {"categories": panel_categories, "texts": panel_texts}
