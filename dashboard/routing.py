"""Websocket routes."""

from metrics_app.routing import websocket_urlpatterns as metrics_routes

websocket_urlpatterns: list = [*metrics_routes]
