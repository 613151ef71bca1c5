"""Django's ASGI handler with the middleware chain run as one synchronous call, on pooled threads.

Django's own handler builds the chain in async mode. Our views are synchronous (DRF) and
so are most middleware (Django's MiddlewareMixin ones run each hook through
`sync_to_async` in async mode), so every request crossed between the event loop and
the sync thread about 11 times, ~0.25 ms each on a busy machine. Here the whole chain,
view included, runs in one `sync_to_async` call, as under WSGI: a request makes the same
three hand-offs as a bare view (request_started, the chain, response.close). Body
reading, disconnect handling and streaming (SSE) stay on the event loop, as before;
an async view still works (Django runs it through `async_to_sync`).

Django also gives every request a thread of its own (`ThreadSensitiveContext()`: a new
one-thread executor, started from the event loop, which waits for the thread to start, and
joined by one more new thread at the end): two thread starts per request, on the loop.
Here a request borrows an idle one-thread executor from a pool and gives it back when it
is done, so its sync code still runs on one thread that no other request uses meanwhile
(thread-sensitive code sees the same isolation), without starting any thread.

Once a response is sent and closed, the reference cycles a DRF request leaves behind
(view <-> its Request <-> parser/renderer contexts <-> Response, a list serializer and
its child, Django's `request.auser` and message storage) are cut, so ~180 objects per
request are freed by reference counting at once instead of by the cyclic collector, and
the objects loaded at start-up are frozen out of its full passes.
"""
from __future__ import annotations

import gc
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

__all__ = ["SyncChainASGIHandler", "get_asgi_application", "release_cycles"]

# ThreadSensitiveContext(executor=...) is recent asgiref (3.13 here); without it, Django's way.
_LENDS_EXECUTORS = "executor" in inspect.signature(ThreadSensitiveContext).parameters


class _ExecutorPool:
    """Idle one-thread executors; at most `keep` are kept, the rest are shut down when returned."""

    def __init__(self, keep: int = 64):
        self.keep = keep
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()

    def acquire(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedplane-request")

    def release(self, executor: ThreadPoolExecutor) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(executor)
                return
        executor.shutdown(wait=False)


def release_cycles(request, response) -> None:
    """After `response.close()`: nothing reads these any more (the test client, which keeps
    using a response after closing it, does not come through here)."""
    context = response.__dict__.get("renderer_context")
    if context:
        view, drf_request = context.get("view"), context.get("request")
        context.clear()
        if drf_request is not None and getattr(drf_request, "parser_context", None):
            drf_request.parser_context.clear()
        if view is not None:
            view.__dict__.clear()
    request.__dict__.pop("auser", None)
    request.__dict__.pop("_messages", None)
    data = response.__dict__.get("data")
    for value in data.values() if isinstance(data, dict) else (data,):
        child = getattr(getattr(value, "serializer", None), "child", None)
        if child is not None:
            child.parent = None


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self):
        super().__init__()
        self.executors = _ExecutorPool()

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if not _LENDS_EXECUTORS:
            return await super().__call__(scope, receive, send)
        if scope["type"] != "http":
            raise ValueError("Django can only handle ASGI/HTTP connections, not %s." % scope["type"])
        executor = self.executors.acquire()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            # handle() waits for its tasks, so nothing of this request is left on the executor.
            self.executors.release(executor)

    async def run_get_response(self, request):
        response = await super().run_get_response(request)
        # close() runs its closers after the response is sent, then drops them.
        response._resource_closers.append(partial(release_cycles, request, response))
        return response

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_asgi_application() -> SyncChainASGIHandler:
    """`django.core.asgi.get_asgi_application` with this handler."""
    import django

    django.setup(set_prefix=False)
    handler = SyncChainASGIHandler()
    # Everything loaded so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise walk these ~350k objects (~0.1-0.3 s each, a p99 spike).
    gc.collect()
    gc.freeze()
    return handler
