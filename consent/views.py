"""The platform's own pages: a front page for operators and the demo site."""

from csp.decorators import csp_replace
from django.conf import settings
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_sameorigin


def home(request):
    return redirect("demo")


def demo(request):
    """A small shop page with gated example tags, so a newcomer sees the product work."""
    return render(request, "consent/demo.html", {"site_key": settings.CONSENT_SITE_KEY})


@xframe_options_sameorigin
@csp_replace({"frame-ancestors": ["'self'"]})
def demo_video(request):
    """Stands in for a video vendor's embed on the demo page."""
    return render(request, "consent/demo_video.html")
