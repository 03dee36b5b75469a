from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import audit, bundles, checks  # noqa: F401 (checks registers itself)

        audit.connect()
        bundles.connect()
