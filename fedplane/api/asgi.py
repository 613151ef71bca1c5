"""Django's ASGI handler with the middleware chain run as one synchronous call.

Django's own handler builds the chain in async mode. Our views are synchronous (DRF) and
so are most middleware (Django's MiddlewareMixin ones run each hook through
`sync_to_async` in async mode), so every request crossed between the event loop and
the sync thread about 11 times, ~0.25 ms each on a busy machine. Here the whole chain,
view included, runs in one `sync_to_async` call, as under WSGI: a request makes the same
three hand-offs as a bare view (request_started, the chain, response.close). Body
reading, disconnect handling and streaming (SSE) stay on the event loop, as before;
an async view still works (Django runs it through `async_to_sync`).
"""
from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

__all__ = ["SyncChainASGIHandler", "get_asgi_application"]


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_asgi_application() -> SyncChainASGIHandler:
    """`django.core.asgi.get_asgi_application` with this handler."""
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()
