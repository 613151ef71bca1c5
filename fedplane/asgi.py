"""ASGI entry point: HTTP (Django, including the SSE stream) and WebSockets (Channels).

The inference routes (OIP v2 infer, the seed's predict) are answered by the lean path in front of
Django (fedplane/api/lean.py, routes in regions/api/fastpath.py) when `LEAN_INFERENCE_PATH` is on.
"""
import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedplane.settings")

from fedplane.api.asgi import get_asgi_application  # noqa: E402  (Django's, middleware chain run sync)

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from fedplane.events.auth import TokenAuthMiddleware  # noqa: E402
from fedplane.events.routing import websocket_urlpatterns  # noqa: E402
from fedplane.api.lean import LeanRouter  # noqa: E402
from regions.api.fastpath import ROUTES as INFERENCE_ROUTES  # noqa: E402

from django.urls import reverse  # noqa: E402

# Liveness and readiness probes that read nothing stored: answered on the event loop (lean.py).
PROBES = frozenset(reverse(name) for name in ("livez", "oip-live", "oip-ready"))

application = ProtocolTypeRouter({
    "http": LeanRouter(INFERENCE_ROUTES, django_asgi_app, probes=PROBES),
    "websocket": TokenAuthMiddleware(URLRouter(websocket_urlpatterns)),
})

# What start-up made (Django, apps, libraries: ~30,000 objects) lives as long as the process: out of
# the collector's sight, a full collection costs microseconds instead of ~4 ms in some request.
gc.freeze()
