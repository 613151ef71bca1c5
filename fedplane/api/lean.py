"""The lean path: a few hot POST routes answered in front of Django's handler, with the same rules.

`LeanRouter` sits in fedplane/asgi.py in front of Django's ASGI handler. A request to one of
its routes (an app lists them, e.g. regions/api/fastpath.py) is answered here when it is the
usual, well-formed case: POST with `X-API-Key`, a `Content-Length`, no query string, plain JSON
`Accept` and no `Idempotency-Key`. Everything else, and every request while
`LEAN_INFERENCE_PATH` is off, goes to Django as before. What a lean request saves: the
request_started/finished signals sent across the event loop, the hand-off per middleware and per
request thread (one plain thread-pool call instead), URL resolution, the middleware that have
nothing to do for such a request, and DRF's Request, negotiation and dispatch.

A request the route says is cheap and ready (`LeanRoute.inline`: for inference, the model loaded
here, batching off, its calls lately within `LEAN_INLINE_MAX_CALL_MS`) whose key is in the key
cache is answered on the event loop itself: no thread hand-off, no GIL contention between request
threads and the loop, which was most of the CPU a small request cost. The rate limiter's file
counters count there; with Redis the count is awaited on the loop first (a Redis that is not
healthy sends the request to a thread, where the outage rules apply). It does nothing that may wait (database, network, model load);
should a cache lapse between the check and the call (a SynchronousOnlyOperation from Django), that
step runs on a request thread instead and the loop waits for it. Django's request_started and
request_finished are not sent for it: their receivers look after the thread's database connection,
which it does not use. While the process serves one request at a time (`IdleDetector`), the bound is
`LEAN_IDLE_INLINE_MAX_CALL_MS` instead, and the body may be larger: nothing else is waiting for the
loop, and the hand-off to a thread and back is two cross-thread wake-ups (~0.4 ms on a VM). A request
for a model with adaptive batching on (`LeanRoute.queue`) is
parsed and queued in its model's batch on the loop instead, the loop awaits the batch, and answers
it inline: no thread sits waiting for each batch member.

Public probes (`probes`: /livez, /v2/health/live, /v2/health/ready; a GET without a cookie,
credentials, query string or body) are answered on the loop too, by Django's own chain and view
(`fallback.get_response`): they read nothing stored, and a request thread made them cost ~4x more.

What it keeps, with the same code, so that a client, a dashboard or an audit cannot tell:
- the middleware of `settings.MIDDLEWARE` in their order, less those in `SKIPPED` (each says why
  it has nothing to do here): Prometheus request metrics (same families and labels: the route's
  name is the view label), request ids, security headers, Django's SecurityMiddleware (HTTPS
  redirect, HSTS), CORS, CommonMiddleware (host check, Content-Length), the body-size limit (413 before
  the body is read), NUL refusal, the 500 envelope, audit;
- authentication by `authenticate_api_key` (the same per-process key cache), the scopes rule of
  the DRF view the route stands for (`HasRequiredScopes` on its `required_scopes`), the rate
  limiter through `count_request` (same buckets, X-RateLimit-* headers, 429 with Retry-After);
- error answers from fedplane's one exception handler (`errors.error_response`), rendered by the
  route as its Django view renders them; DRF's `Allow`/`Vary` headers of that view.
"""
from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.exception import convert_exception_to_response
from django.core.signals import request_finished, request_started
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch, set_urlconf
from django.utils.log import log_response
from django.utils.module_loading import import_string
from rest_framework import exceptions as drf

from .asgi import release_cycles
from .authentication import AUTH_HEADER, api_key_cached, authenticate_api_key
from .envelope import dumps
from .errors import error_response
from .permissions import HasRequiredScopes, required_scope
from .ratelimit import counts_locally, hit_buckets_awaiting
from .throttling import count_request, counter_keys

__all__ = ["IdleDetector", "LeanRoute", "LeanRouter", "SKIPPED", "ScopeHeaders", "envelope_error", "with_error_headers"]

# Middleware a lean request does not need, and why.
SKIPPED = {
    "whitenoise.middleware.WhiteNoiseMiddleware": "serves /static/ only",
    "django.contrib.sessions.middleware.SessionMiddleware": "an API key authenticates; no session is read",
    "django.middleware.csrf.CsrfViewMiddleware": "DRF views are CSRF-exempt; session callers go to Django",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "an API key authenticates",
    "fedplane.api.middleware.PageMessageMiddleware": "flash messages are for pages",
    "fedplane.api.idempotency.IdempotencyMiddleware": "a request with an Idempotency-Key goes to Django",
}
_PLAIN_ACCEPTS = frozenset({b"", b"*/*", b"application/json"})
_PROBE_REFUSED = frozenset({b"cookie", b"authorization", b"x-api-key", b"x-client-certificate", b"transfer-encoding"})
INLINE_MAX_BODY = 64 * 1024  # parsing more than this on the loop would hold other connections up
_POST = type("_Post", (), {"method": "POST"})()  # what required_scope reads of a request
log = logging.getLogger("fedplane.api")


def with_error_headers(out: HttpResponse, response) -> HttpResponse:
    """`out`, a body rendered for the exception handler's `response`, with the headers that answer
    carries (a 401's WWW-Authenticate, a 429's or 503's Retry-After)."""
    for header in ("WWW-Authenticate", "Retry-After"):
        if header in response:
            out[header] = response[header]
    return out


def envelope_error(response) -> HttpResponse:
    """fedplane's error envelope, as DRF renders the exception handler's `response`."""
    return with_error_headers(HttpResponse(dumps(response.data), status=response.status_code,
                                           content_type="application/json"), response)


class ScopeHeaders(Mapping):
    """`request.headers` of a lean request, read from the ASGI scope's header list by name, any case
    (Django's HttpHeaders parses every META key into a new mapping: ~4% of a small request).
    Repeated headers are joined with commas, as Django joins them into META."""

    __slots__ = ("_headers",)

    def __init__(self, scope) -> None:
        self._headers = scope["headers"]

    def get(self, name: str, default=None):
        wanted = name.lower().encode("latin1")
        found = [v.decode("latin1") for k, v in self._headers if k == wanted]
        return default if not found else found[0] if len(found) == 1 else ",".join(found)

    def __getitem__(self, name: str) -> str:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self):
        return iter(dict.fromkeys(k.decode("latin1").title() for k, _ in self._headers))

    def __len__(self) -> int:
        return len({k for k, _ in self._headers})


class IdleDetector:
    """Whether this process has been serving one HTTP request at a time (on its event loop only).

    Requests that find another in flight when they enter show concurrency, but only while answers
    leave the loop free: while requests are answered on the loop one by one, those queued behind
    them enter one at a time too and look alone. So while idle, every PROBE_EVERY-th request that
    could take the idle bound is sent to a thread instead: requests waiting behind it then enter
    while it runs, see it in flight, and end the idle spell. Bursts are found within PROBE_EVERY
    requests; a lone caller pays one thread hand-off in PROBE_EVERY."""

    STREAK = 8  # requests in a row entering alone before the process counts as idle
    PROBE_EVERY = 16

    def __init__(self) -> None:
        self.active = 0  # HTTP requests in flight in this process (any route, streams included)
        self._streak = 0
        self._since_probe = 0

    def entered(self) -> None:
        self.active += 1
        self._streak = 0 if self.active > 1 else self._streak + 1

    def left(self) -> None:
        self.active -= 1

    def idle(self) -> bool:
        """Whether the request in flight may be answered on the loop with the idle bound (False for a probe)."""
        if self.active > 1 or self._streak < self.STREAK:
            return False
        self._since_probe += 1
        if self._since_probe >= self.PROBE_EVERY:
            self._since_probe = 0
            return False
        return True


@dataclass
class LeanRoute:
    """One POST route: `pattern` matches the whole path (its groups are the view's kwargs)."""

    pattern: re.Pattern
    url_name: str  # the Django route's name: the view label of the request metrics
    view: type  # the DRF view Django serves it with: its required_scopes, throttle_bucket, audited
    serve: Callable[[HttpRequest, bytes, dict], HttpResponse]  # after authentication, scopes and throttle
    render_error: Callable[[object], HttpResponse] = envelope_error
    json_body: bool = False  # the body must be sent as plain `application/json`, else Django parses it
    # (scope, kwargs, body, max call seconds) -> whether `serve` can answer without waiting on
    # anything (database, network, a model load, a batch) in a call of at most that long lately.
    inline: Callable[[dict, dict, bytes, float], bool] | None = None
    # (scope, kwargs, body) -> (handle, future) when the request was queued for a shared batch from
    # the caches alone (else None): the loop awaits the future, then answers it inline, `serve`
    # finding the handle on `request.lean_queued`.
    queue: Callable[[dict, dict, bytes], tuple[object, Future] | None] | None = None
    func: Callable = field(init=False)
    headers: dict = field(init=False)

    def __post_init__(self) -> None:
        self.func = self.view.as_view()  # what the resolver would give: AuditMiddleware reads its view_class
        self.headers = self.view().default_response_headers  # DRF's Allow (and Vary) on every answer


class LeanRouter:
    """ASGI: the lean routes here, everything else (and any request they do not take) to `fallback`."""

    def __init__(self, routes: list[LeanRoute], fallback, *, threads: int = 32, probes: frozenset = frozenset()) -> None:
        self.routes = routes
        self.probes = probes  # paths of public GET probes answered on the loop (see _probe)
        self.fallback = fallback
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fedplane-lean")
        self._exception_hooks: list[Callable] = []
        self.idle = IdleDetector()
        self._chain = self._build_chain()

    def _build_chain(self):
        """settings.MIDDLEWARE less SKIPPED around the lean view, as BaseHandler.load_middleware builds it."""
        handler = convert_exception_to_response(self._view)
        for path in reversed(settings.MIDDLEWARE):
            if path in SKIPPED:
                continue
            middleware = import_string(path)(handler)
            if hasattr(middleware, "process_exception"):
                self._exception_hooks.append(middleware.process_exception)  # innermost first, as Django
            handler = convert_exception_to_response(middleware)
        return handler

    # --- on the event loop -------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.fallback(scope, receive, send)
        self.idle.entered()
        try:
            if scope["method"] == "POST" and settings.LEAN_INFERENCE_PATH:
                taken = self._take(scope)
                if taken is not None:
                    return await self._serve(scope, receive, send, *taken)
            elif scope["method"] == "GET" and scope["path"] in self.probes and self._plain_probe(scope):
                return await self._probe(scope, send)
            return await self.fallback(scope, receive, send)
        finally:
            self.idle.left()

    @staticmethod
    def _plain_probe(scope) -> bool:
        """A probe with nothing that could make Django read the database (a session cookie, credentials)
        or a body to read."""
        if scope.get("query_string") or scope.get("root_path") or not settings.LEAN_INFERENCE_PATH:
            return False
        for name, value in scope["headers"]:
            if name in _PROBE_REFUSED or (name == b"content-length" and value.strip() != b"0"):
                return False
        return True

    async def _probe(self, scope, send) -> None:
        """A public probe answered by Django's own chain and view (`fallback.get_response`, the chain
        the fallback runs on a thread), here on the loop: the probes read nothing stored."""
        request = ASGIRequest(scope, io.BytesIO(b""))
        request.__dict__["headers"] = ScopeHeaders(scope)
        response = self.fallback.get_response(request)  # sets the urlconf, adds request.close, logs 4xx/5xx
        response._resource_closers.append(partial(release_cycles, request, response))
        status, headers, content = self._finished(response, True)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _take(self, scope) -> tuple[LeanRoute, dict, int, bytes] | None:
        """(route, kwargs, body length, API key) when the lean path answers this request, else None."""
        path = scope["path"]
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is not None:
                break
        else:
            return None
        if scope.get("query_string") or scope.get("root_path"):
            return None
        if scope.get("extensions", {}).get("tls", {}).get("client_cert_chain"):
            return None  # the client-only mTLS listener: its certificate authenticates, in Django
        key = length = None
        accept = content_type = b""
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                key = value
            elif name == b"content-length":
                length = value
            elif name == b"accept":
                accept = value.strip()
            elif name == b"content-type":
                content_type = value
            elif name in (b"idempotency-key", b"transfer-encoding", b"x-client-certificate"):
                return None  # the last: a certificate authenticates first, in Django
        if not key or length is None or not length.isdigit() or accept not in _PLAIN_ACCEPTS:
            return None
        if route.json_body and content_type != b"application/json":
            return None
        return route, {k: v for k, v in match.groupdict().items() if v is not None}, int(length), key

    async def _serve(self, scope, receive, send, route: LeanRoute, kwargs: dict, length: int, key: bytes) -> None:
        body = b""
        if length <= settings.MAX_REQUEST_BODY_BYTES:  # else BodySizeLimitMiddleware answers 413 unread
            parts = []
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body = b"".join(parts)
        answered = await self._on_loop(scope, route, kwargs, body, key)
        if answered is None:
            loop = asyncio.get_running_loop()
            answered = await loop.run_in_executor(self._pool, self._respond, scope, body, route, kwargs, False)
        status, headers, content = answered
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _on_loop(self, scope, route: LeanRoute, kwargs: dict, body: bytes, key: bytes):
        """The answer made on the event loop (see the module's docstring), or None: a request
        thread makes it. With Redis counting the limits, the count is awaited here first, and the
        chain then uses it instead of counting."""
        # Alone in the process, a slower call (or a larger body) holds no other request up.
        idle = settings.LEAN_IDLE_INLINE_MAX_CALL_MS > settings.LEAN_INLINE_MAX_CALL_MS and self.idle.idle()
        raw_key = self._loop_may_answer(body, key, idle)
        if raw_key is None:
            return None
        bound = settings.LEAN_IDLE_INLINE_MAX_CALL_MS if idle else settings.LEAN_INLINE_MAX_CALL_MS
        inline = route.inline is not None and route.inline(scope, kwargs, body, bound / 1000)
        if not inline and route.queue is None:
            return None
        local = counts_locally()
        counted = None
        if not inline or not local:
            # A model run (queued) or a count (Redis) before the chain: only for a key holding the
            # route's scope, so that nobody else gets either (the chain refuses such keys uncounted).
            api_key = self._holding_scope(route, raw_key)
            if api_key is None:
                return None
            if not local:
                keys = counter_keys(api_key.user, api_key, "POST", getattr(route.view, "throttle_bucket", None))
                counted = await hit_buckets_awaiting(keys, settings.RATE_LIMIT_WINDOW_SECONDS)
                if counted is None:  # Redis not healthy now: a request thread counts, with the outage rules
                    return None
        if inline:
            return self._respond(scope, body, route, kwargs, True, None, counted)
        queued = route.queue(scope, kwargs, body)
        if queued is None:
            if counted is None:
                return None
            loop = asyncio.get_running_loop()  # counted already: the request thread must not count again
            return await loop.run_in_executor(self._pool, self._respond, scope, body, route, kwargs, False, None,
                                              counted)
        handle, future = queued
        try:
            await asyncio.wrap_future(future)  # the batch runs on its worker; no thread waits for it
        except Exception:  # noqa: BLE001  the view takes the error from the future and answers it
            pass
        return self._respond(scope, body, route, kwargs, True, handle, counted)

    @staticmethod
    def _loop_may_answer(body: bytes, key: bytes, idle: bool) -> str | None:
        """The API key, when a request of this body with this key may be answered on the loop at all."""
        if settings.LEAN_INLINE_MAX_CALL_MS <= 0 or (len(body) > INLINE_MAX_BODY and not idle):
            return None
        try:
            raw_key = key.decode("latin1")
        except UnicodeDecodeError:
            return None
        return raw_key if api_key_cached(raw_key) else None

    @staticmethod
    def _holding_scope(route: LeanRoute, raw_key: str):
        """The key's row when it is valid and holds the route's scope (from the key cache: no database)."""
        try:
            _, api_key = authenticate_api_key(raw_key)
        except Exception:  # noqa: BLE001  revoked, expired, or the cache lapsed: the usual path answers
            return None
        needed = required_scope(route.view, _POST)
        return api_key if needed is None or needed in api_key.scopes else None

    # --- on a request thread (or on the loop, inline) ----------------------------------------
    def _respond(self, scope, body: bytes, route: LeanRoute, kwargs: dict, inline: bool, queued=None,
                 counted=None):
        if not inline:
            request_started.send(sender=LeanRouter, scope=scope)  # what Django does per request (old connections)
        request = ASGIRequest(scope, io.BytesIO(body))
        request.__dict__["headers"] = ScopeHeaders(scope)  # HttpRequest.headers, a cached_property
        request.lean_queued, request.lean_counted = queued, counted
        request.resolver_match = ResolverMatch(route.func, (), kwargs, url_name=route.url_name)
        request._lean = (route, kwargs, body, inline)
        set_urlconf(settings.ROOT_URLCONF)
        response = self._chain(request)
        response._resource_closers.append(request.close)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return self._finished(response, inline)

    @staticmethod
    def _finished(response, inline: bool):
        """(status, headers, body) of a response, closed."""
        headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
        headers += [(b"Set-Cookie", c.output(header="").encode("ascii").strip()) for c in response.cookies.values()]
        content = response.content
        if inline:  # what close() does, less request_finished (see the module's docstring)
            for closer in response._resource_closers:
                closer()
            response._resource_closers.clear()
            response.closed = True
        else:
            response.close()  # request_finished, as Django sends it
        return response.status_code, headers, content

    def _off_loop(self, inline: bool, step: Callable, *args):
        """`step(*args)`; inline, on a request thread instead when it turns out to need the database."""
        if not inline:
            return step(*args)
        try:
            return step(*args)
        except SynchronousOnlyOperation:  # a cache lapsed since the check: rare, so the loop waits
            log.debug("lean path: %s needed the database; run on a request thread", step.__qualname__)
            return self._pool.submit(step, *args).result()

    def _view(self, request) -> HttpResponse:
        route, kwargs, body, inline = request._lean
        try:
            try:
                response = self._checked(request, route, kwargs, body, inline)
            except Exception as exc:
                answered = error_response(exc, request)
                if answered is None:
                    raise
                response = route.render_error(answered)
        except Exception as exc:
            for hook in self._exception_hooks:  # ApiErrorMiddleware's 500 envelope, the exception counters
                response = hook(request, exc)
                if response is not None:
                    break
            else:
                raise
        for header, value in route.headers.items():
            response[header] = value
        return response

    def _checked(self, request, route: LeanRoute, kwargs: dict, body: bytes, inline: bool) -> HttpResponse:
        """DRF's APIView.initial for this view: authenticate, check scopes, count; then serve."""
        try:
            user, key = self._off_loop(inline, authenticate_api_key, request.META["HTTP_X_API_KEY"])
        except drf.AuthenticationFailed as exc:
            exc.auth_header = AUTH_HEADER
            raise
        request.user, request.auth = user, key
        permission = HasRequiredScopes()
        if not permission.has_permission(request, route.view):
            raise drf.PermissionDenied(detail=permission.message, code=getattr(permission, "code", None))
        allowed, wait = count_request(request, user, key, request.method, getattr(route.view, "throttle_bucket", None),
                                      counted=request.lean_counted)
        if not allowed:
            raise drf.Throttled(wait)
        return self._off_loop(inline, route.serve, request, body, kwargs)
