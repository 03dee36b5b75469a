from django.apps import AppConfig


class EnforceConfig(AppConfig):
    name = "consent.enforce"
    label = "consent_enforce"
    verbose_name = "Consent enforcement"

    def ready(self) -> None:
        from .. import checks as middleware_checks  # noqa: F401 (registers itself)
        from . import checks  # noqa: F401 (registers itself)
