"""``{% load consent %}``: the embed, server-side gating and the preferences link.

``{% ifconsent "advertising" %}`` keeps a tracker out of the HTML altogether unless the
visitor allowed its category; it reads ``request.consent`` (ConsentMiddleware), so the
response also gets ``Vary``. Without the middleware nothing optional is rendered.
"""

from django import template
from django.apps import apps
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from .. import remote

register = template.Library()


def script_url(site_key: str) -> str:
    """The public contract's /c/SITE_KEY.js: on the platform (CONSENT_PLATFORM_URL) for a
    site apart from it, else on CONSENT_PUBLIC_URL when that is set."""
    remote_mode = remote.configured()
    if remote_mode is not None:
        return f"{remote_mode.platform_url}/c/{site_key}.js"
    try:
        path = reverse("consent-script", args=[site_key])
    except NoReverseMatch:
        path = f"/c/{site_key}.js"  # the platform runs elsewhere; the path is the contract
    return getattr(settings, "CONSENT_PUBLIC_URL", "") + path


@register.simple_tag(takes_context=True)
def consent_script(context: template.Context, site_key: str = "", inline: bool = False) -> str:
    """The embed tag, with the request's CSP nonce so a strict policy lets it run.

    ``inline=True`` writes the script itself into the page, saving the one request, where
    this project already holds it: a site that shares the platform's database. A site
    apart from the platform always gets the platform's URL: the banner posts decisions
    to where its script came from, and the platform answers each visitor's request."""
    request = context.get("request")
    # django-csp's nonce is lazy and falsy until read: reading it puts it in the header.
    nonce = getattr(request, "csp_nonce", None)
    key = site_key or settings.CONSENT_SITE_KEY
    code = inline_script(key, getattr(request, "META", {})) if inline else None
    if code is not None:
        consent = getattr(request, "consent", None)
        if consent is not None:
            consent.consulted = True  # the script differs by region where the rules do
        if nonce is not None:
            return format_html('<script nonce="{}">{}</script>', str(nonce), code)
        return format_html("<script>{}</script>", code)
    url = script_url(key)
    if nonce is not None:
        return format_html('<script src="{}" nonce="{}"></script>', url, str(nonce))
    return format_html('<script src="{}"></script>', url)


def inline_script(site_key: str, meta: dict | None = None) -> SafeString | None:
    """The site's script as it may stand inside a <script> element; None where this
    project does not hold it, or where its text could end or confuse the element early
    (admin-entered texts are input)."""
    if remote.configured() is not None or not apps.is_installed("consent"):
        return None
    from ..bundles import get_bundle

    bundle = get_bundle(site_key)
    if bundle is None:
        return None
    # The variant the script endpoint would answer this visitor with (the page then
    # varies on the same headers).
    script = bundle.script_for(meta or {}).script
    lowered = script.lower()
    if b"</script" in lowered or b"<!--" in lowered or b"<script" in lowered:
        return None
    return mark_safe(script.decode())  # noqa: S308 (the platform's own code and JSON)


# The California Privacy Protection Agency's opt-out icon (the banner draws the same).
PRIVACY_CHOICES_ICON = mark_safe(
    '<svg viewBox="0 0 30 14" width="30" height="14" aria-hidden="true">'
    '<rect x=".5" y=".5" width="29" height="13" rx="6.5" fill="#fff" stroke="#06f"/>'
    '<path d="M17 .5h6a6.5 6.5 0 0 1 0 13H13z" fill="#06f"/>'
    '<path d="M5 7.2l2.3 2.3L12 4.8" fill="none" stroke="#06f" stroke-width="1.6"/>'
    '<path d="M19.5 4.5l5 5m0-5l-5 5" fill="none" stroke="#fff" stroke-width="1.6"/></svg>'
)


@register.simple_tag(takes_context=True)
def consent_preferences_link(context: template.Context, text: str = "") -> str:
    """A link that reopens the preferences panel (the banner handles data-consent-open).
    Where the visitor's region has the opt-out model, it is the "Your Privacy Choices"
    link the law asks for, with its icon (the page then varies on the region's headers)."""
    consent = getattr(context.get("request"), "consent", None)
    if consent is not None and consent.privacy_model == "opt_out":
        return format_html(
            '<a href="#" data-consent-open>{} {}</a>',
            PRIVACY_CHOICES_ICON,
            text or gettext("Your Privacy Choices"),
        )
    text = text or gettext("Cookie Preferences")
    return format_html('<a href="#" data-consent-open>{}</a>', text)


class IfConsentNode(template.Node):
    def __init__(self, category, allowed: template.NodeList, otherwise: template.NodeList):
        self.category = category
        self.allowed = allowed
        self.otherwise = otherwise

    def render(self, context: template.Context) -> str:
        consent = getattr(context.get("request"), "consent", None)
        category = self.category.resolve(context)
        if consent is not None and consent.allowed(category):
            return self.allowed.render(context)
        return self.otherwise.render(context)


@register.tag
def ifconsent(parser, token) -> IfConsentNode:
    """``{% ifconsent "functional" %}...{% else %}...{% endifconsent %}``"""
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError(
            f'{bits[0]} takes one category, e.g. {{% {bits[0]} "advertising" %}}'
        )
    category = parser.compile_filter(bits[1])
    allowed = parser.parse(("else", "endifconsent"))
    otherwise = template.NodeList()
    if parser.next_token().contents == "else":
        otherwise = parser.parse(("endifconsent",))
        parser.delete_first_token()
    return IfConsentNode(category, allowed, otherwise)
