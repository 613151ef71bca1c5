"""ASGI entry point: HTTP (Django, including the SSE stream) and WebSockets (Channels)."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedplane.settings")

from fedplane.api.asgi import get_asgi_application  # noqa: E402  (Django's, middleware chain run sync)

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from fedplane.events.auth import TokenAuthMiddleware  # noqa: E402
from fedplane.events.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": TokenAuthMiddleware(URLRouter(websocket_urlpatterns)),
})
