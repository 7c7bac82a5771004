"""ASGI entry point: HTTP through Django, websockets through Channels.

Django's HTTP side runs as WSGI on a pool of threads that live on (a2wsgi), rather than
through Django's ASGI handler, which starts a thread for every request (asgiref's
ThreadSensitiveContext): on a signed API call that was about 2 ms of a 4.5 ms request and
half the server's throughput. There are no async HTTP views to lose. A synchronous Invoke
holds its thread while the function runs, so the pool is as large as the account's
concurrency, plus room for everything else; threads start only as they are needed.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django_wsgi_app = get_wsgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from dashboard.routing import websocket_urlpatterns  # noqa: E402

HTTP_THREADS = settings.STRATUS_ACCOUNT_CONCURRENCY + 100

application = ProtocolTypeRouter(
    {
        "http": WSGIMiddleware(django_wsgi_app, workers=HTTP_THREADS),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
