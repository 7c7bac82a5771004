"""Websocket routes; the metrics app adds its live consumers here."""

websocket_urlpatterns: list = []
