"""Idempotency-Key on POSTs: a retry gets the first answer (and no second write), a reused key
with another body is 409, keys are per caller and expire, and the answers live in the
database, so any web process replays them."""
from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from fedplane.api.models import IdempotencyRecord
from fedplane.api.scopes import Scope
from regions.models import RegisteredModel

from .helpers import data_of, error_of

WRITE = [Scope.REGIONS_MODELS_READ, Scope.REGIONS_MODELS_WRITE]


def _post(api, body, key: str | None = None, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post("/api/v1/models", body, **headers, **extra)


@pytest.mark.django_db
def test_a_retry_with_the_same_key_and_body_gets_the_first_answer_and_writes_nothing(api, make_key):
    api.auth(make_key(WRITE)[0])
    first = _post(api, {"model_id": "churn", "description": "v1"}, "create-churn-1")
    data_of(first, 201)
    assert "Idempotent-Replayed" not in first.headers
    # The same JSON, spelled differently: still the same request.
    retry = _post(api, '{"description":"v1",  "model_id":"churn"}', "create-churn-1")
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert json.loads(retry.content) == json.loads(first.content), "the first answer, byte for byte in content"
    assert RegisteredModel.objects.filter(name="churn").count() == 1

    error_of(_post(api, {"model_id": "churn", "description": "v1"}), 409)  # without the key: a second create


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_409_and_runs_nothing(api, make_key):
    api.auth(make_key(WRITE)[0])
    data_of(_post(api, {"model_id": "first"}, "k-1"), 201)
    error = error_of(_post(api, {"model_id": "second"}, "k-1"), 409, "IDEMPOTENCY_KEY_REUSED")
    assert error["details"] == {"header": "Idempotency-Key", "method": "POST", "path": "/api/v1/models"}
    assert not RegisteredModel.objects.filter(name="second").exists()


@pytest.mark.django_db
def test_keys_belong_to_their_caller(api, make_key):
    data_of(_post(api.auth(make_key(WRITE)[0]), {"model_id": "mine"}, "shared-key"), 201)
    theirs = _post(api.auth(make_key(WRITE)[0]), {"model_id": "theirs"}, "shared-key")
    data_of(theirs, 201)
    assert "Idempotent-Replayed" not in theirs.headers


@pytest.mark.django_db
def test_refusals_are_replayed_but_not_now_answers_are_not_kept(api, make_key):
    api.auth(make_key(WRITE)[0])
    error_of(_post(api, {"model_id": "bad id!"}, "k-invalid"), 422, "VALIDATION_ERROR")
    replayed = _post(api, {"model_id": "bad id!"}, "k-invalid")
    error_of(replayed, 422, "VALIDATION_ERROR")
    assert replayed.headers["Idempotent-Replayed"] == "true"

    # A missing scope (403) says "not you, not now": the key is freed, not bound to the refusal.
    api.auth(make_key([Scope.REGIONS_MODELS_READ])[0])
    error_of(_post(api, {"model_id": "later"}, "k-forbidden"), 403)
    assert not IdempotencyRecord.objects.filter(key="k-forbidden").exists()


@pytest.mark.django_db
def test_keys_expire_after_their_ttl(api, make_key, settings):
    api.auth(make_key(WRITE)[0])
    data_of(_post(api, {"model_id": "once"}, "k-ttl"), 201)
    IdempotencyRecord.objects.filter(key="k-ttl").update(created_at=timezone.now() - timedelta(hours=25))
    error_of(_post(api, {"model_id": "once"}, "k-ttl"), 409, "CONFLICT")  # ran again: the model exists


@pytest.mark.django_db
def test_a_key_whose_answer_was_never_stored_is_in_progress_until_its_claim_lapses(api, make_key, settings):
    api.auth(make_key(WRITE)[0])
    data_of(_post(api, {"model_id": "lost-answer"}, "k-lost"), 201)
    # What a process that died after the write, before storing its answer, leaves behind.
    IdempotencyRecord.objects.filter(key="k-lost").update(status_code=None, body=b"")
    busy = _post(api, {"model_id": "lost-answer"}, "k-lost")
    error_of(busy, 409, "IDEMPOTENCY_KEY_IN_PROGRESS")
    assert busy.headers["Retry-After"] == "1"

    settings.IDEMPOTENCY_LOCK_SECONDS = 0  # the claim lapsed: the retry runs again (and meets its write)
    error_of(_post(api, {"model_id": "lost-answer"}, "k-lost"), 409, "CONFLICT")
    assert IdempotencyRecord.objects.get(key="k-lost").status_code == 409


@pytest.mark.django_db
def test_answers_holding_a_secret_are_never_stored(api, make_key):
    api.auth(make_key(WRITE)[0])
    body = {"name": "ci", "scopes": [Scope.REGIONS_MODELS_READ]}
    first = api.post("/api/v1/auth/api-keys", body, HTTP_IDEMPOTENCY_KEY="k-secret")
    second = api.post("/api/v1/auth/api-keys", body, HTTP_IDEMPOTENCY_KEY="k-secret")
    assert data_of(first, 201)["data"]["key"] != data_of(second, 201)["data"]["key"]
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_a_malformed_key_is_400(api, make_key):
    api.auth(make_key(WRITE)[0])
    error_of(_post(api, {"model_id": "x"}, "k" * 256), 400, "BAD_REQUEST")
    error_of(_post(api, {"model_id": "x"}, "tab\tkey"), 400, "BAD_REQUEST")
    assert not RegisteredModel.objects.exists()


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_any_web_process_replays_and_concurrent_retries_write_once(live_server_url, second_server_url, make_key):
    plaintext, _ = make_key(WRITE)
    headers = {"X-API-Key": plaintext}
    name = f"m-{uuid.uuid4().hex[:8]}"

    def post(base: str, key: str) -> httpx.Response:
        return httpx.post(f"{base}/api/v1/models", json={"model_id": name}, timeout=30,
                          headers={**headers, "Idempotency-Key": key})

    # Eight retries at once over two processes: one runs; the others are told it runs, or replay it.
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: post([live_server_url, second_server_url][n % 2], "burst"), range(8)))
    statuses = [(r.status_code, r.headers.get("Idempotent-Replayed"), r.json().get("error", {}).get("code"))
                for r in answers]
    ran = [s for s in statuses if s == (201, None, None)]
    assert len(ran) == 1, statuses
    assert all(s in {(201, None, None), (201, "true", None), (409, None, "IDEMPOTENCY_KEY_IN_PROGRESS")}
               for s in statuses), statuses
    first = next(r for r in answers if r.status_code == 201 and "Idempotent-Replayed" not in r.headers)

    # Later, from the other process: the stored answer.
    for base in (live_server_url, second_server_url):
        replay = post(base, "burst")
        assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == first.json()
    assert RegisteredModel.objects.filter(name=name).count() == 1
