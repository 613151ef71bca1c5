"""Small warm requests on the lean path are answered on the event loop itself (fedplane/api/lean.py):
the same answers as on a request thread and through Django, the same limits and metering, and a
request thread whenever the answer could wait on something (database, a batch, a slow model)."""
from __future__ import annotations

import asyncio
import json
import threading

import httpx
import numpy as np

import pytest
from django.core.exceptions import SynchronousOnlyOperation

from fedplane.api import authentication
from fedplane.api.lean import IdleDetector, LeanRouter

from .conftest import ALL_SCOPES
from .test_lean_path import INFER, PREDICT, ROW, _answers, assert_api_headers, call

pytestmark = pytest.mark.django_db(transaction=True)  # requests are served on other threads


@pytest.fixture(autouse=True)
def metrics_written(transactional_db):
    from regions.services import recorder

    yield
    recorder.flush()


@pytest.fixture
def where(settings, monkeypatch, tmp_path):
    """Where each lean request was answered, in order: "loop" or "thread". Rate limits are counted
    in files, as in the embedded default (with Redis, the loop never answers: see lean.py)."""
    from fedplane.api import ratelimit

    monkeypatch.setattr(ratelimit, "_redis", lambda: None)
    monkeypatch.setattr(ratelimit, "_counter_dir", lambda: tmp_path)
    settings.LEAN_INFERENCE_PATH = True
    settings.REGIONS_ROUTING_CACHE_SECONDS = 60
    settings.API_KEY_CACHE_SECONDS = 60
    settings.LEAN_INLINE_MAX_CALL_MS = 50  # a loaded CI machine must not make the tiny MLP look slow
    settings.LEAN_IDLE_INLINE_MAX_CALL_MS = 0  # one request at a time here: idle, which its own tests turn on
    seen = []
    respond = LeanRouter._respond

    def noted(self, scope, body, route, kwargs, inline, queued=None, counted=None):
        seen.append("thread" if not inline else "batch" if queued is not None else "loop")
        if inline:
            asyncio.get_running_loop()  # really on the thread running the event loop (else RuntimeError)
        return respond(self, scope, body, route, kwargs, inline, queued, counted)

    monkeypatch.setattr(LeanRouter, "_respond", noted)
    yield seen


@pytest.fixture
def key(make_key):
    return make_key(ALL_SCOPES)[0]


def test_a_warm_request_is_answered_on_the_loop_metered_and_counted(where, registered, key):
    from regions.models import RequestMetric

    # Key and model not cached yet: a request thread; TorchScript's first call (its profiling
    # run) is slow, so the model's cost is known from the second call on.
    first = call(INFER, ROW, key=key)
    answers = [call(INFER, {"id": f"r{i}", **ROW}, key=key) for i in range(3)]
    assert where[0] == "thread" and where[2:] == ["loop", "loop"]
    assert [a.status_code for a in answers] == [200] * 3 and first.status_code == 200
    assert [a.json()["id"] for a in answers] == ["r0", "r1", "r2"]
    assert answers[0].json()["outputs"] == first.json()["outputs"]
    for answer in answers:
        assert_api_headers(answer)
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in (first, *answers)]
    assert remaining == [remaining[0] - i for i in range(4)]  # one counter, whichever thread counts
    predicted = call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=key)
    assert predicted.status_code == 200 and predicted.json()["data"]["model_id"] == "churn"
    assert where[-1] == "loop"
    assert RequestMetric.objects.filter(model_name="churn", status_code=200).count() == 5


def test_answers_on_the_loop_equal_djangos(registered, settings, make_key, monkeypatch, where):
    settings.LEAN_INFERENCE_PATH = False
    django = _answers(settings, make_key)
    settings.LEAN_INFERENCE_PATH = True
    _answers(settings, make_key)  # keys and routes cached from here on
    where.clear()
    inline = _answers(settings, make_key)
    assert "loop" in where  # the valid keys' requests (200, 403, 404, 422) went inline
    for (d_status, d_headers, d_body), (l_status, l_headers, l_body) in zip(django, inline):
        assert (l_status, l_body) == (d_status, d_body)
        assert l_headers == d_headers


@pytest.mark.parametrize("change", [None, "off", "slow", "version", "timeout", "routing-cache-off",
                                    "no-counter-here"])
def test_requests_that_could_wait_go_to_a_request_thread(where, registered, key, settings, monkeypatch, change):
    for _ in range(3):  # warm: key, routes, the model's cost
        call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=key)
    body = {"inputs": [[1, 2, 3, 4]]}
    if change == "off":
        settings.LEAN_INLINE_MAX_CALL_MS = 0
    elif change == "slow":
        settings.LEAN_INLINE_MAX_CALL_MS = 1e-6  # every call of the model takes longer
    elif change == "version":
        body["parameters"] = {"version": "1.0.0"}
    elif change == "timeout":
        body["parameters"] = {"timeout_ms": 5000}
    elif change == "routing-cache-off":
        settings.REGIONS_ROUTING_CACHE_SECONDS = 0
    elif change == "no-counter-here":  # neither the file counters nor Redis: a request thread counts
        monkeypatch.setattr("fedplane.api.lean.counts_locally", lambda: False)
    where.clear()
    response = call(PREDICT, body, key=key)
    assert response.status_code == 200, response.content
    assert where == ["loop" if change is None else "thread"]


def test_a_cache_that_lapses_after_the_check_is_read_on_a_request_thread(where, registered, key, monkeypatch):
    """The check said the key was cached; by the call it was gone: authenticating needs the
    database, which Django refuses on the loop; that step runs on a request thread instead."""
    for _ in range(3):
        call(INFER, ROW, key=key)
    authentication.clear_api_key_cache()
    monkeypatch.setattr("fedplane.api.lean.api_key_cached", lambda raw: True)
    used = []
    real = authentication.authenticate_api_key

    def tracked(raw):
        try:
            answer = real(raw)
        except SynchronousOnlyOperation:
            used.append("refused on the loop")
            raise
        used.append(threading.current_thread().name)
        return answer

    monkeypatch.setattr("fedplane.api.lean.authenticate_api_key", tracked)
    where.clear()
    response = call(INFER, ROW, key=key)
    assert response.status_code == 200, response.content
    assert where == ["loop"]
    assert used[0] == "refused on the loop" and used[1].startswith("fedplane-lean")


def _batching_on(max_size: int = 8, max_latency_ms: float = 20) -> None:
    from django.db import transaction

    from regions.services.registry import model_update

    with transaction.atomic():
        model_update(name="churn", batching={"batch_max_size": max_size, "batch_max_latency_ms": max_latency_ms})


def _concurrently(path: str, bodies: list[dict], key: str) -> list:
    """The requests sent at once on one event loop (the way a server's connections arrive)."""
    from asgiref.sync import async_to_sync

    from fedplane.asgi import application

    async def go():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await asyncio.gather(*(client.post(path, content=json.dumps(b).encode(), headers={
                "Content-Type": "application/json", "X-API-Key": key}) for b in bodies))
    return async_to_sync(go)()


def test_batched_requests_wait_for_their_batch_on_the_loop_and_get_their_own_rows(where, registered, key, mlp):
    from prometheus_client import REGISTRY

    from regions.models import RequestMetric

    _batching_on()
    call(INFER, ROW, key=key)  # key, routes and model cached (a request thread)
    runs_before = REGISTRY.get_sample_value("fedplane_batch_runs_total", {"model": "churn:1.0.0"}) or 0.0
    rows = [[0.1 * i, 0.2, 0.3, 0.4 * i] for i in range(6)]
    where.clear()
    answers = _concurrently(INFER, [{"id": f"r{i}", "inputs": [{**ROW["inputs"][0], "data": row}]}
                                    for i, row in enumerate(rows)], key)
    assert where == ["batch"] * 6  # each waited for its batch on the loop, none on a thread
    import torch
    with torch.no_grad():
        expected = mlp(torch.tensor(rows)).numpy()
    for i, answer in enumerate(answers):
        assert answer.status_code == 200, answer.content
        assert answer.json()["id"] == f"r{i}"
        assert answer.json()["outputs"][0]["data"] == pytest.approx(expected[i].tolist(), abs=1e-6)
        assert_api_headers(answer)
    runs = REGISTRY.get_sample_value("fedplane_batch_runs_total", {"model": "churn:1.0.0"}) - runs_before
    assert 1 <= runs < 6  # they shared batches
    remaining = sorted(int(a.headers["X-RateLimit-Remaining"]) for a in answers)
    assert remaining == list(range(remaining[0], remaining[0] + 6))  # each counted once
    assert RequestMetric.objects.filter(model_name="churn", status_code=200).count() == 7

    where.clear()  # the seed's predict, the same way
    predicted = _concurrently(PREDICT, [{"inputs": [row]} for row in rows], key)
    assert where == ["batch"] * 6
    for i, answer in enumerate(predicted):
        assert answer.status_code == 200, answer.content
        assert np.ravel(answer.json()["data"]["predictions"]).tolist() == pytest.approx(expected[i].tolist(),
                                                                                       abs=1e-6)
    assert RequestMetric.objects.filter(model_name="churn", status_code=200).count() == 13


@pytest.mark.parametrize("case", ["no-scope", "bad-tensor", "off", "predict-parameters", "predict-bad-rows"])
def test_requests_that_cannot_be_queued_from_the_loop_take_a_request_thread(where, registered, key, make_key,
                                                                          settings, case):
    _batching_on()
    call(INFER, ROW, key=key)
    body, sent, status = ROW, key, 200
    if case == "no-scope":
        from fedplane.api.scopes import Scope

        sent = make_key([Scope.REGIONS_MODELS_READ])[0]
        call(INFER, ROW, key=sent)  # its key cached too
        status = 403
    elif case == "bad-tensor":
        body, status = {"inputs": [{**ROW["inputs"][0], "shape": [1, 3], "data": [1, 2, 3]}]}, 400
    elif case == "off":
        settings.LEAN_INLINE_MAX_CALL_MS = 0
    path = INFER
    if case == "predict-parameters":  # asks for a split: not queued from the loop
        path, body = PREDICT, {"inputs": [[1, 2, 3, 4]], "parameters": {"batch_size": 1}}
    elif case == "predict-bad-rows":
        path, body, status = PREDICT, {"inputs": [[1, 2]]}, 400
    where.clear()
    response = call(path, body, key=sent)
    assert response.status_code == status, response.content
    assert where == ["thread"]


@pytest.fixture
def where_redis(settings, monkeypatch):
    """As `where`, with the rate limits counted in the real Redis (CI's; skipped without one)."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (the services backend)")
    settings.LEAN_INFERENCE_PATH = True
    settings.REGIONS_ROUTING_CACHE_SECONDS = 60
    settings.API_KEY_CACHE_SECONDS = 60
    settings.LEAN_INLINE_MAX_CALL_MS = 50
    seen = []
    respond = LeanRouter._respond

    def noted(self, scope, body, route, kwargs, inline, queued=None, counted=None):
        seen.append(("thread" if not inline else "batch" if queued is not None else "loop", counted is not None))
        return respond(self, scope, body, route, kwargs, inline, queued, counted)

    monkeypatch.setattr(LeanRouter, "_respond", noted)
    yield seen


def test_with_redis_the_count_is_awaited_on_the_loop_and_over_the_limit_is_429(where_redis, registered, make_key,
                                                                              settings):
    from fedplane.api.ratelimit import counts_locally

    assert not counts_locally()
    key = make_key(ALL_SCOPES)[0]
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "predict": 4}
    answers = [call(INFER, ROW, key=key) for _ in range(5)]
    assert where_redis[0] == ("thread", False)  # key and model not cached yet
    assert where_redis[2:] == [("loop", True)] * 3  # counted in Redis on the loop, answered there
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    remaining = [int(a.headers["X-RateLimit-Remaining"]) for a in answers]
    assert remaining == [3, 2, 1, 0, 0]  # one count per request, whichever path counted
    assert int(answers[-1].headers["Retry-After"]) > 0 and answers[-1].json()["error"]  # OIP's error body

    _batching_on()  # a batched request: counted on the loop, then queued in its batch
    call(INFER, ROW, key=make_key(ALL_SCOPES)[0])
    where_redis.clear()
    other = make_key(ALL_SCOPES)[0]
    call(INFER, ROW, key=other)
    answer = call(INFER, ROW, key=other)
    assert answer.status_code == 200 and where_redis[-1] == ("batch", True)


# While the process serves one request at a time, a slower model call is answered on the loop too.

def test_idle_detector_counts_a_lone_caller_idle_and_probes_it():
    idle = IdleDetector()
    answers = []
    for _ in range(IdleDetector.STREAK + 2 * IdleDetector.PROBE_EVERY):
        idle.entered()
        answers.append(idle.idle())
        idle.left()
    assert answers[:IdleDetector.STREAK - 1] == [False] * (IdleDetector.STREAK - 1)  # not idle yet
    after = answers[IdleDetector.STREAK - 1:]
    assert after.count(False) == 2 and after.count(True) == len(after) - 2  # one probe in PROBE_EVERY


def test_idle_detector_ends_idle_when_requests_overlap():
    idle = IdleDetector()
    for _ in range(IdleDetector.STREAK):
        idle.entered()
        idle.left()
    idle.entered()
    assert idle.idle()
    idle.entered()  # a second request arrives while the first is still in flight (e.g. a probe on a thread)
    assert not idle.idle()
    idle.left()
    idle.left()
    idle.entered()  # alone again, but the streak starts over
    assert not idle.idle()
    idle.left()


def _lean_router():
    from fedplane.asgi import application

    router = application.application_mapping["http"]
    assert isinstance(router, LeanRouter)
    return router


def test_a_slower_call_is_answered_on_the_loop_while_the_process_is_idle(where, registered, key, settings,
                                                                         monkeypatch):
    router = _lean_router()
    monkeypatch.setattr(router, "idle", IdleDetector())  # a fresh count: other tests' requests left a streak
    for _ in range(3):  # warm: key, routes, the model's cost
        call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=key)
    settings.LEAN_INLINE_MAX_CALL_MS = 1e-6  # every call of the model is slower than this
    settings.LEAN_IDLE_INLINE_MAX_CALL_MS = 60_000  # and well within this
    where.clear()
    answers = [call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=key) for _ in range(IdleDetector.PROBE_EVERY + 8)]
    assert {a.status_code for a in answers} == {200}
    idle_from = IdleDetector.STREAK - 4  # the three warm-up requests started the streak; it counts at entry
    assert set(where[:idle_from]) == {"thread"}  # not idle yet: a slow call takes a thread
    assert where[idle_from:].count("thread") == 1  # then on the loop, but for one probe
    assert where[idle_from:].count("loop") == len(where) - idle_from - 1
    settings.LEAN_IDLE_INLINE_MAX_CALL_MS = 0
    where.clear()
    call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=key)
    assert where == ["thread"]  # off: only the small-call bound counts


def test_concurrent_requests_end_the_idle_spell(where, registered, key, settings, monkeypatch):
    router = _lean_router()
    monkeypatch.setattr(router, "idle", IdleDetector())
    settings.LEAN_INLINE_MAX_CALL_MS = 1e-6
    settings.LEAN_IDLE_INLINE_MAX_CALL_MS = 60_000
    for _ in range(IdleDetector.STREAK + 1):
        call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=key)
    assert where[-1] == "loop"

    async def together():
        from fedplane.asgi import application

        transport = httpx.ASGITransport(app=application)
        headers = {"Content-Type": "application/json", "X-API-Key": key}
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await asyncio.gather(*(client.post(PREDICT, content=b'{"inputs": [[1, 2, 3, 4]]}',
                                                       headers=headers) for _ in range(IdleDetector.PROBE_EVERY)))
    where.clear()
    answers = asyncio.run(together())
    assert {a.status_code for a in answers} == {200}
    assert "thread" in where
    assert where[-1] == "thread"  # once requests overlap, the slow calls leave the loop
