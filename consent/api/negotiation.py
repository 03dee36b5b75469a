"""Content negotiation for the consent POST."""

from rest_framework.negotiation import DefaultContentNegotiation


class AlwaysJSON(DefaultContentNegotiation):
    """The answer is JSON whatever the request's Accept header says (DRF's documented
    "IgnoreClientContentNegotiation"): a browser's fetch is never answered 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
