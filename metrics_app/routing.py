from django.urls import path

from metrics_app.consumers import AccountLiveConsumer, FunctionLiveConsumer

websocket_urlpatterns = [
    path("ws/functions/<str:name>/", FunctionLiveConsumer.as_asgi()),
    path("ws/account/", AccountLiveConsumer.as_asgi()),
]
