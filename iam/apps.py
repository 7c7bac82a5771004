from django.apps import AppConfig


class IamConfig(AppConfig):
    name = "iam"
    verbose_name = "Identity and access"

    def ready(self) -> None:
        # Connects the signals that keep each process's cache of parsed policies current.
        from iam import authorization  # noqa: F401
