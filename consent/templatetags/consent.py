"""``{% load consent %}``: the embed, server-side gating and the preferences link.

``{% ifconsent "advertising" %}`` keeps a tracker out of the HTML altogether unless the
visitor allowed its category; it reads ``request.consent`` (ConsentMiddleware), so the
response also gets ``Vary``. Without the middleware nothing optional is rendered.
"""

from django import template
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext

register = template.Library()


def script_url(site_key: str) -> str:
    """The public contract's /c/SITE_KEY.js, on CONSENT_PUBLIC_URL when that is set."""
    try:
        path = reverse("consent-script", args=[site_key])
    except NoReverseMatch:
        path = f"/c/{site_key}.js"  # the platform runs elsewhere; the path is the contract
    return settings.CONSENT_PUBLIC_URL + path


@register.simple_tag(takes_context=True)
def consent_script(context: template.Context, site_key: str = "") -> str:
    """The embed tag, with the request's CSP nonce so a strict policy lets it run."""
    request = context.get("request")
    # django-csp's nonce is lazy and falsy until read: reading it puts it in the header.
    nonce = getattr(request, "csp_nonce", None)
    url = script_url(site_key or settings.CONSENT_SITE_KEY)
    if nonce is not None:
        return format_html('<script src="{}" nonce="{}"></script>', url, str(nonce))
    return format_html('<script src="{}"></script>', url)


@register.simple_tag
def consent_preferences_link(text: str = "") -> str:
    """A link that reopens the preferences panel (the banner handles data-consent-open)."""
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
