"""Filling in the admin's own forms, as a person at the browser would: every field the
page renders, with its current value, and then the fields the test changes."""

from html.parser import HTMLParser


class _FormFields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "image", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            default = "on" if kind in ("checkbox", "radio") else ""
            self.data.setdefault(name, []).append(a.get("value", default))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            text = "".join(self._text)
            self.data.setdefault(self._textarea, []).append(text.removeprefix("\n"))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self._text.append(data)


def form_data(html: str) -> dict[str, list[str]]:
    """The values the admin page's form would submit unchanged."""
    parser = _FormFields()
    parser.feed(html)
    data = parser.data
    data.pop("csrfmiddlewaretoken", None)
    return data


def submit(client, url: str, **changes: str) -> tuple[int, dict[str, list[str]], str]:
    """Opens ``url``, changes some fields and saves: (status, the form's errors, page)."""
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    data = form_data(page.content.decode())
    for name, value in changes.items():
        data[name] = [value]
    data["_save"] = ["Save"]
    response = client.post(url, data)
    errors: dict[str, list[str]] = {}
    if response.status_code == 200 and response.context is not None:
        adminform = response.context.get("adminform")
        if adminform is not None:
            errors = {k: list(v) for k, v in adminform.form.errors.items()}
        for formset in response.context.get("inline_admin_formsets", []):
            for i, inline_errors in enumerate(formset.formset.errors):
                for k, v in inline_errors.items():
                    errors[f"{formset.formset.prefix}-{i}-{k}"] = list(v)
    return response.status_code, errors, response.content.decode()
