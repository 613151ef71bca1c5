"""Small warm requests on the lean path are answered on the event loop itself (fedplane/api/lean.py):
the same answers as on a request thread and through Django, the same limits and metering, and a
request thread whenever the answer could wait on something (database, a batch, a slow model)."""
from __future__ import annotations

import asyncio
import threading

import pytest
from django.core.exceptions import SynchronousOnlyOperation

from fedplane.api import authentication
from fedplane.api.lean import LeanRouter

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
    seen = []
    respond = LeanRouter._respond

    def noted(self, scope, body, route, kwargs, inline):
        seen.append("loop" if inline else "thread")
        if inline:
            asyncio.get_running_loop()  # really on the thread running the event loop (else RuntimeError)
        return respond(self, scope, body, route, kwargs, inline)

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


@pytest.mark.parametrize("change", [None, "off", "slow", "batching", "version", "timeout", "routing-cache-off",
                                    "redis"])
def test_requests_that_could_wait_go_to_a_request_thread(where, registered, key, settings, monkeypatch, change):
    for _ in range(3):  # warm: key, routes, the model's cost
        call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=key)
    body = {"inputs": [[1, 2, 3, 4]]}
    if change == "off":
        settings.LEAN_INLINE_MAX_CALL_MS = 0
    elif change == "slow":
        settings.LEAN_INLINE_MAX_CALL_MS = 1e-6  # every call of the model takes longer
    elif change == "batching":
        from django.db import transaction

        from regions.services.registry import model_update

        with transaction.atomic():
            model_update(name="churn", batching={"batch_max_size": 8, "batch_max_latency_ms": 1})
    elif change == "version":
        body["parameters"] = {"version": "1.0.0"}
    elif change == "timeout":
        body["parameters"] = {"timeout_ms": 5000}
    elif change == "routing-cache-off":
        settings.REGIONS_ROUTING_CACHE_SECONDS = 0
    elif change == "redis":  # counting would be a round trip: not on the loop
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
