"""Where the full stack spends its time on GET /api/v1/integration/events (in process).

Companion of run.py (same throwaway deployment: temp FEDPLANE_VAR_DIR, SQLite, file
cache, 200 events, an API key). Django's test clients, no server, no network:

1. CPU time per request of the full stack, with parts taken away (the throttle,
   authentication, all middleware), and of the bare view; on the sync path (Client)
   and on the ASGI path (AsyncClient, what uvicorn runs), with the number of
   sync<->async thread hops each request makes on the ASGI path;
2. direct timings of the pieces: API-key lookup + SHA-512 check, the rate-limit
   counter (file cache get + set), the DB connection and the two queries, the filter
   backends, the serializer and the envelope renderer;
3. a cProfile (CPU time) of the full stack: per-request time of each component and
   of each middleware's own code, then the top functions by cumulative time;
4. what-if, on the ASGI path: candidate fixes monkeypatched in this process only,
   applied one after the other, each with its bare/full ratio (nothing is changed on
   disk; this is to size the suggestions, not a patch).

CPU time (process_time), not wall time: the machine may be shared, and a process
waiting for a core should not count. The DB connection is closed after every
request, as the servers do (CONN_MAX_AGE=0 on SQLite), which the test clients skip.

    source scripts/setup.sh && python bench/api_overhead/profile_stack.py   # ~4 min on a busy 2-core box
    python bench/api_overhead/profile_stack.py --requests 300 --rounds 7 --top 40
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.api_overhead.run import PATH, prepare  # noqa: E402

BARE = {"MIDDLEWARE": [], "ROOT_URLCONF": "bench.api_overhead.bare_urls"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100,
                        help="requests per configuration and round; 3x this are profiled (100)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds, the median is kept (5)")
    parser.add_argument("--top", type=int, default=30, help="rows of the cProfile listing (30)")
    parser.add_argument("--no-what-if", action="store_true", help="skip section 4")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="fedplane-bench-profile-"))
    try:
        key = prepare(var_dir)
        os.environ.update({"FEDPLANE_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "fedplane.settings",
                           "FEDPLANE_RATE_LIMIT_DEFAULT": "1000000000", "LOG_LEVEL": "WARNING"})
        for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "FEDPLANE_ENV", "DEBUG"):
            os.environ.pop(name, None)
        import django

        django.setup()
        headers = {"X-API-Key": key}
        ablation(headers, args)
        pieces(key)
        profile(headers, args)
        if not args.no_what_if:
            what_if(headers, args)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


# ------------------------------------------------------------------- 1. ablation
class HopCounter:
    """Counts asgiref SyncToAsync / AsyncToSync calls (each one a thread hand-off)."""

    def __init__(self):
        self.count = 0

    @contextlib.contextmanager
    def active(self):
        from asgiref import sync

        originals = sync.SyncToAsync.__call__, sync.AsyncToSync.__call__
        counter = self

        async def s2a(self, *a, **kw):
            counter.count += 1
            return await originals[0](self, *a, **kw)

        def a2s(self, *a, **kw):
            counter.count += 1
            return originals[1](self, *a, **kw)

        sync.SyncToAsync.__call__, sync.AsyncToSync.__call__ = s2a, a2s
        try:
            yield self
        finally:
            sync.SyncToAsync.__call__, sync.AsyncToSync.__call__ = originals


def run_sync(headers: dict, n: int, overrides: dict, view_attrs: dict) -> float:
    from django.db import connection
    from django.test import Client, override_settings

    with override_settings(**overrides), patched_view(**view_attrs):
        client = Client()
        for _ in range(10):  # warm this configuration up
            client.get(PATH, headers=headers)
        t0 = time.process_time()
        for _ in range(n):
            response = client.get(PATH, headers=headers)
            connection.close()
        elapsed = time.process_time() - t0
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return elapsed / n * 1e3


def run_asgi(headers: dict, n: int, overrides: dict, hops: HopCounter | None = None,
             patches: contextlib.AbstractContextManager | None = None) -> float:
    from asgiref.sync import async_to_sync, sync_to_async
    from django.db import connection
    from django.test import AsyncClient, override_settings

    close = sync_to_async(connection.close)

    async def loop():
        client = AsyncClient()
        for _ in range(10):
            await client.get(PATH, headers=headers)
            await close()
        if hops is not None:  # one counted request
            with hops.active():
                await client.get(PATH, headers=headers)
        t0 = time.process_time()
        for _ in range(n):
            response = await client.get(PATH, headers=headers)
            await close()
        assert response.status_code == 200, (response.status_code, response.content[:300])
        return (time.process_time() - t0) / n * 1e3

    with override_settings(**overrides), patches or contextlib.nullcontext():
        return async_to_sync(loop)()


@contextlib.contextmanager
def patched_view(**attrs):
    from fedplane.events.views import EventViewSet

    saved = {k: getattr(EventViewSet, k) for k in attrs}
    for k, v in attrs.items():
        setattr(EventViewSet, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(EventViewSet, k, v)


def ablation(headers: dict, args) -> None:
    from django.conf import settings
    from rest_framework.permissions import AllowAny

    n, rounds = args.requests, args.rounds
    no_auth = {"throttle_classes": [], "authentication_classes": [], "permission_classes": [AllowAny]}
    hops_full, hops_bare = HopCounter(), HopCounter()
    configs = {  # label -> callable returning ms per request
        "full stack (API key)": lambda: run_sync(headers, n, {}, {}),
        "  without the throttle (rate-limit counter)": lambda: run_sync(headers, n, {}, {"throttle_classes": []}),
        "  without throttle + authentication + scope check": lambda: run_sync({}, n, {}, no_auth),
        "  ... and MIDDLEWARE = [] (the DRF view alone)": lambda: run_sync({}, n, {"MIDDLEWARE": []}, no_auth),
        "bare view (MIDDLEWARE = [], bare_urls)": lambda: run_sync({}, n, BARE, {}),
        "ASGI path: full stack (API key)": lambda: run_asgi(headers, n, {}, hops_full),
        "ASGI path: bare view": lambda: run_asgi({}, n, BARE, hops_bare),
    }
    samples: dict[str, list[float]] = {label: [] for label in configs}
    print(f"\n1. CPU time per request, median of {rounds} interleaved rounds x {n} requests "
          f"(sync path: django.test.Client; ASGI path: AsyncClient)", flush=True)
    for _ in range(rounds):
        for label, fn in configs.items():
            samples[label].append(fn())
    t = {label: statistics.median(v) for label, v in samples.items()}
    for label in configs:
        print(f"  {label:<56}{t[label]:8.3f} ms   (rounds: {', '.join(f'{x:.2f}' for x in samples[label])})")
    full, no_throttle, no_auth_t, drf_only, bare, afull, abare = t.values()
    print(f"\n  sync path: bare/full = {bare / full:.3f}; the full stack's extra {full - bare:.2f} ms per request:")
    print(f"    throttle (rate-limit counter)          {full - no_throttle:6.3f} ms")
    print(f"    authentication + scope check           {no_throttle - no_auth_t:6.3f} ms")
    print(f"    middleware (all {len(settings.MIDDLEWARE)})                    {no_auth_t - drf_only:6.3f} ms")
    print(f"    DRF view vs the bare view              {drf_only - bare:6.3f} ms "
          "(filters, paginator, serializer, renderer, Request/Response)")
    print(f"  ASGI path: bare/full = {abare / afull:.3f}; extra {afull - abare:.2f} ms per request, "
          f"of which {(afull - abare) - (full - bare):.2f} ms more than on the sync path")
    print(f"  sync<->async thread hops per request on the ASGI path: full stack {hops_full.count // rounds}, "
          f"bare view {hops_bare.count // rounds}")


# --------------------------------------------------------------------- 2. pieces
def timed(fn, n: int) -> float:
    """Median-of-5 mean CPU time of fn() in ms."""
    fn()
    means = []
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        means.append((time.process_time() - t0) / n * 1e3)
    return statistics.median(means)


def pieces(key: str) -> None:
    import orjson
    from django.db import connection
    from django_filters.rest_framework import DjangoFilterBackend
    from rest_framework.test import APIRequestFactory

    from fedplane.api.authentication import authenticate_api_key
    from fedplane.api.envelope import EnvelopeJSONRenderer
    from fedplane.api.filters import SearchFilter, SortFilter
    from fedplane.api.models import ApiKey
    from fedplane.api.ratelimit import hit
    from fedplane.events.models import Event
    from fedplane.events.views import EventSerializer, EventViewSet

    api_key = ApiKey.objects.get(prefix=key.partition(".")[0])
    rows = list(Event.objects.order_by("id")[:20])
    view = EventViewSet(action_map={"get": "list"}, action="list", format_kwarg=None)
    request = view.initialize_request(APIRequestFactory().get(PATH))
    view.request = request

    def fresh_connection():
        connection.close()
        connection.ensure_connection()

    def filters():
        qs = Event.objects.all()
        for backend in (DjangoFilterBackend, SearchFilter, SortFilter):
            qs = backend().filter_queryset(request, qs, view)
        return qs

    def by_hand():
        return orjson.dumps([
            {"id": e.id, "event": e.type, "system": e.system, "severity": e.severity,
             "timestamp": e.created_at.isoformat().replace("+00:00", "Z"), "data": e.data,
             "requestId": e.request_id} for e in rows])

    doc = {"success": True, "data": EventSerializer(rows, many=True).data,
           "pagination": {"page": 1, "limit": 20, "total": 200, "hasNext": True, "hasPrev": False}}
    print("\n2. pieces, timed directly (CPU time, median of 5 x N calls)")
    for label, fn, count in [
        ("API key: lookup (1 query, user joined) + SHA-512 verify", lambda: authenticate_api_key(key), 500),
        ("  of which SHA-512 verify (ApiKey.is_valid)", lambda: api_key.is_valid(key), 5000),
        ("rate-limit counter: ratelimit.hit (flock'd counter file)", lambda: hit("ratelimit:bench:x", 3600), 500),
        ("DB: open a SQLite connection (+ PRAGMA init_command)", fresh_connection, 300),
        ("DB: SELECT COUNT(*)", lambda: Event.objects.count(), 1000),
        ("DB: SELECT one page (20 rows)", lambda: list(Event.objects.order_by("id")[:20]), 1000),
        ("filter backends (FilterSet, search, sort)", filters, 1000),
        ("EventSerializer(20 rows, many=True).data", lambda: EventSerializer(rows, many=True).data, 1000),
        ("EnvelopeJSONRenderer.render (orjson)", lambda: EnvelopeJSONRenderer().render(dict(doc)), 5000),
        ("bare view's 20 dicts by hand + orjson.dumps", by_hand, 5000),
    ]:
        print(f"  {label:<60}{timed(fn, count):8.3f} ms", flush=True)
    connection.close()


# -------------------------------------------------------------------- 3. profile
def _key(fn) -> tuple[str, int, str]:
    code = getattr(fn, "__func__", fn).__code__
    return code.co_filename, code.co_firstlineno, code.co_name


def profile(headers: dict, args) -> None:
    from django.conf import settings
    from django.core.cache.backends.filebased import FileBasedCache
    from django.core.handlers import base, exception
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.utils import CursorWrapper
    from django.db.models.sql.compiler import SQLCompiler
    from django.test import Client
    from django.db import connection
    from django.utils.deprecation import MiddlewareMixin
    from django.utils.module_loading import import_string
    from rest_framework import generics, serializers, views
    from rest_framework.response import Response

    from fedplane.api import authentication, envelope, pagination, ratelimit, throttling
    from fedplane.api.models import ApiKey

    n = 3 * args.requests
    client = Client()
    for _ in range(10):
        client.get(PATH, headers=headers)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(n):
        client.get(PATH, headers=headers)
        connection.close()
    profiler.disable()
    stats = pstats.Stats(profiler)
    table = stats.stats  # (file, line, name) -> (cc, ncalls, tottime, cumtime, callers)

    def cum(fn) -> float:
        entry = table.get(_key(fn))
        return entry[3] / n * 1e3 if entry else 0.0

    total = cum(base.BaseHandler.get_response)
    print(f"\n3. cProfile (CPU time) of {n} full-stack requests on the sync path; profiler overhead "
          f"inflates every figure (total {total:.2f} ms per request here)")
    print("  component (cumulative, per request)")
    for label, fn in [
        ("DRF APIView.initial: authentication + scope check + throttle", views.APIView.initial),
        ("  authenticate_api_key (ApiKey query + SHA-512)", authentication.authenticate_api_key),
        ("    ApiKey.is_valid (SHA-512 verify)", ApiKey.is_valid),
        ("  BucketThrottle.allow_request", throttling.BucketThrottle.allow_request),
        ("    ratelimit.hit", ratelimit.hit),
        ("      FileBasedCache.get", FileBasedCache.get),
        ("      FileBasedCache.set", FileBasedCache.set),
        ("GenericAPIView.filter_queryset (FilterSet, search, sort)", generics.GenericAPIView.filter_queryset),
        ("PagePagination.paginate_queryset (COUNT + page query)", pagination.PagePagination.paginate_queryset),
        ("ListSerializer.data (20 rows)", serializers.ListSerializer.data.fget),
        ("Response.rendered_content (EnvelopeJSONRenderer)", Response.rendered_content.fget),
        ("  EnvelopeJSONRenderer.render", envelope.EnvelopeJSONRenderer.render),
        ("DB: BaseDatabaseWrapper.connect (new connection + PRAGMAs)", BaseDatabaseWrapper.connect),
        ("DB: SQLCompiler.execute_sql (compile + run + fetch, all queries)", SQLCompiler.execute_sql),
        ("  DB: CursorWrapper.execute (SQLite only)", CursorWrapper.execute),
        ("ratelimit.peek (RequestIdMiddleware, when the view did not count)", ratelimit.peek),
    ]:
        print(f"    {label:<70}{cum(fn):7.3f} ms")

    # Each middleware's own code: __call__ minus the inner handler for a plain
    # middleware; its process_* hooks for a MiddlewareMixin one.
    inner = _key(exception.convert_exception_to_response(lambda r: None))
    print("  middleware, own code only (per request)")
    rows = []
    for path in settings.MIDDLEWARE:
        cls = import_string(path)
        if issubclass(cls, MiddlewareMixin):
            own = sum(cum(getattr(cls, hook)) for hook in
                      ("process_request", "process_view", "process_template_response", "process_response")
                      if hasattr(cls, hook))
        else:
            call = table.get(_key(cls.__call__))
            callee = table.get(inner, (0, 0, 0, 0, {}))[4].get(_key(cls.__call__))
            own = ((call[3] if call else 0) - (callee[3] if callee else 0)) / n * 1e3
        rows.append((own, path))
    for own, path in sorted(rows, reverse=True):
        print(f"    {path:<70}{own:7.3f} ms")
    print(f"    {'all middleware':<70}{sum(r[0] for r in rows):7.3f} ms")

    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
    text = out.getvalue()
    print(f"\n  top {args.top} by cumulative time (times are for all {n} requests)")
    print(text[text.index("   ncalls"):].replace(str(REPO) + "/", "").replace(sys.prefix + "/", ""))


# ------------------------------------------------------------------- 4. what-if
def what_if(headers: dict, args) -> None:
    from django.conf import settings

    from fedplane.api import authentication, ratelimit, throttling
    from fedplane.api.filters import SortFilter
    from fedplane.events import views as event_views

    original_auth = authentication.authenticate_api_key
    auth_cache: dict = {}

    def cached_auth(raw_key):  # 5 s per-process cache of (user, key), keyed by the raw key
        hit = auth_cache.get(raw_key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        value = original_auth(raw_key)
        auth_cache[raw_key] = (time.monotonic() + 5, value)
        return value

    counts: dict = {}

    def memory_hit(key, window_seconds):  # per-process counter, for sizing only
        now = time.time()
        count, reset_at = counts.get(key, (0, int(now + window_seconds)))
        counts[key] = (count + 1, reset_at)
        return ratelimit.Window(count=count + 1, reset_at=reset_at)

    def by_hand(self, e):
        return {"id": e.id, "event": e.type, "system": e.system, "severity": e.severity,
                "timestamp": e.created_at.isoformat().replace("+00:00", "Z"), "data": e.data,
                "requestId": e.request_id}

    @contextlib.contextmanager
    def patched(names):
        targets = [(authentication, "authenticate_api_key", cached_auth),
                   (event_views.EventViewSet, "filter_backends", [SortFilter]),
                   (event_views.EventSerializer, "to_representation", by_hand),
                   (ratelimit, "hit", memory_hit)]
        saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in targets]
        for (obj, attr, value), name in zip(targets, ("auth", "filters", "serializer", "counter")):
            if name in names:
                setattr(obj, attr, value)
        try:
            yield
        finally:
            for obj, attr, value in saved:
                setattr(obj, attr, value)

    audit = "fedplane.api.middleware.AuditMiddleware"
    reordered = [m for m in settings.MIDDLEWARE if m != audit] + [audit]
    no_prometheus = [m for m in reordered if not m.endswith(".PrometheusMiddleware")]
    steps = [  # label, headers, settings overrides, patches
        ("full stack as is", headers, {}, ()),
        ("+ AuditMiddleware last in MIDDLEWARE (2 fewer thread hops)", headers, {"MIDDLEWARE": reordered}, ()),
        ("+ 5 s per-process cache of the API-key lookup", headers, {"MIDDLEWARE": reordered}, ("auth",)),
        ("+ no FilterSet when no filter parameter is given", headers, {"MIDDLEWARE": reordered},
         ("auth", "filters")),
        ("+ hand-written EventSerializer.to_representation", headers, {"MIDDLEWARE": reordered},
         ("auth", "filters", "serializer")),
        ("+ in-memory rate-limit counter (sizing the counter file)", headers, {"MIDDLEWARE": reordered},
         ("auth", "filters", "serializer", "counter")),
        ("+ without the Prometheus metrics middleware", headers, {"MIDDLEWARE": no_prometheus},
         ("auth", "filters", "serializer", "counter")),
        ("bare view", {}, BARE, ()),
    ]
    samples: dict[str, list[float]] = {step[0]: [] for step in steps}
    print(f"\n4. what-if on the ASGI path (AsyncClient, CPU time, median of {args.rounds} interleaved rounds "
          f"x {args.requests}); fixes monkeypatched in process, cumulative", flush=True)
    for _ in range(args.rounds):
        for label, hdrs, overrides, names in steps:
            samples[label].append(run_asgi(hdrs, args.requests, overrides, patches=patched(names)))
    bare = statistics.median(samples["bare view"])
    for label, *_ in steps:
        ms = statistics.median(samples[label])
        print(f"  {label:<62}{ms:8.3f} ms   bare/this {bare / ms:.2f}")


if __name__ == "__main__":
    main()
