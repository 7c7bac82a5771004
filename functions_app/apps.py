from django.apps import AppConfig


class FunctionsAppConfig(AppConfig):
    name = "functions_app"
    verbose_name = "Functions"

    def ready(self) -> None:
        # Connects the signals that keep each process's cache of functions and versions current.
        from functions_app import selectors  # noqa: F401
