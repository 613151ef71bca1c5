"""The lean inference path answers as Django does: every test runs on both paths, through the ASGI
application (fedplane.asgi.application) as the server runs it, and the last ones compare the two
answers to the same requests, header by header."""
from __future__ import annotations

import json
import re

import httpx
import numpy as np
import pytest
from asgiref.sync import async_to_sync
from prometheus_client import REGISTRY

from fedplane.api.lean import LeanRouter
from fedplane.api.scopes import Scope
from tests.api.helpers import RATE_HEADERS, SECURITY_HEADERS

from .conftest import ALL_SCOPES

pytestmark = pytest.mark.django_db(transaction=True)  # requests are served on other threads

INFER = "/v2/models/churn/infer"
PREDICT = "/api/v1/models/churn/predict"
ROW = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [0.1, 0.2, 0.3, 0.4]}]}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(autouse=True)
def metrics_written(transactional_db):
    """The recorder's writer thread writes each test's rows before the database goes away."""
    from regions.services import recorder

    yield
    recorder.flush()


@pytest.fixture(params=["lean", "django"])
def path(request, settings, monkeypatch):
    """Which path serves the inference routes; the test fails if a request took the other one
    (on the lean path, every request with an X-API-Key is the lean path's; one without goes to Django)."""
    settings.LEAN_INFERENCE_PATH = request.param == "lean"
    served = []
    respond = LeanRouter._respond

    def counted(self, *args):
        served.append(args[0]["path"])
        return respond(self, *args)

    monkeypatch.setattr(LeanRouter, "_respond", counted)
    _KEYED.clear()
    yield request.param
    if request.param == "django":
        assert served == [], "the lean path answered with the setting off"
    else:
        assert served == _KEYED, "a request the lean path should answer went to Django"


@pytest.fixture
def key(make_key):
    return make_key(ALL_SCOPES)[0]


_KEYED: list[str] = []  # the paths called with an X-API-Key, in order (see `path`)


def call(path_: str, body=b"", *, key: str | None = None, headers: dict | None = None) -> httpx.Response:
    from fedplane.asgi import application

    if key:
        _KEYED.append(path_)
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {}), **(headers or {})}

    async def go():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(path_, content=body, headers=sent)
    return async_to_sync(go)()


def assert_api_headers(response: httpx.Response, *, rate: bool = True) -> None:
    for header, value in SECURITY_HEADERS.items():
        assert response.headers[header] == value
    assert _UUID.match(response.headers["X-Request-ID"])
    assert all(h in response.headers for h in RATE_HEADERS) == rate, dict(response.headers)


def responses_counted(status: int, view: str) -> float:
    return REGISTRY.get_sample_value("django_http_responses_total_by_status_view_method_total",
                                     {"status": str(status), "view": view, "method": "POST"}) or 0.0


def test_json_and_binary_infer_answer_metered_and_counted(path, registered, key, mlp):
    from regions.models import RequestMetric

    before = responses_counted(200, "oip-infer")
    response = call(INFER, {"id": "r1", **ROW}, key=key)
    assert response.status_code == 200, response.content
    assert response.json()["id"] == "r1" and response.json()["outputs"][0]["shape"] == [1, 1]
    assert_api_headers(response)
    assert response.headers["Allow"] == "POST, OPTIONS"

    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    head = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 4],
                                   "parameters": {"binary_data_size": x.nbytes}}],
                       "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()
    binary = call("/v2/models/churn/versions/1.0.0/infer", head + x.tobytes(), key=key,
                  headers={"Content-Type": "application/octet-stream",
                           "Inference-Header-Content-Length": str(len(head))})
    assert binary.status_code == 200, binary.content
    length = int(binary.headers["Inference-Header-Content-Length"])
    import torch
    with torch.no_grad():
        expected = mlp(torch.from_numpy(x)).numpy()
    assert binary.content[length:] == expected.astype("<f4").tobytes()
    assert responses_counted(200, "oip-infer") == before + 1  # same metric families and labels
    assert RequestMetric.objects.filter(model_name="churn", status_code=200).count() == 2  # metering


def test_seed_predict_answers_in_the_envelope_with_the_request_id(path, registered, key):
    response = call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=key, headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["meta"]["requestId"] == "trace-42"
    assert response.headers["X-Request-ID"] == "trace-42" and body["data"]["model_id"] == "churn"
    assert_api_headers(call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=key))  # a minted id, uuid4


@pytest.mark.parametrize("sent", [None, "fp_nope.wrong"])
def test_missing_or_invalid_key_is_401(path, registered, sent):
    oip = call(INFER, ROW, key=sent)
    assert oip.status_code == 401 and set(oip.json()) == {"error"}
    predict = call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=sent)
    assert predict.status_code == 401 and predict.json()["error"]["code"] == "UNAUTHORIZED"
    for response in (oip, predict):
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), (response.url, response.headers)
        assert_api_headers(response, rate=False)


def test_a_key_without_the_predict_scope_is_403(path, registered, make_key):
    reader = make_key([Scope.REGIONS_MODELS_READ])[0]
    oip = call(INFER, ROW, key=reader)
    assert oip.status_code == 403 and oip.json() == {"error": "Missing scope 'regions:predict'."}
    predict = call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=reader)
    assert predict.status_code == 403 and predict.json()["error"]["code"] == "FORBIDDEN"
    assert_api_headers(predict)  # the caller's limits, not counted


def test_the_predict_bucket_refuses_with_429_and_retry_after(path, registered, key, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "predict": 2}
    seen = [call(INFER if n % 2 else PREDICT, {"inputs": [[1, 2, 3, 4]]} if n % 2 == 0 else ROW, key=key)
            for n in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in seen] == ["1", "0", "0"]
    refused = seen[-1]
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    oip = call(INFER, ROW, key=key)
    assert oip.status_code == 429 and "throttled" in oip.json()["error"] and oip.headers["Retry-After"]


def test_a_body_over_the_limit_is_413(path, registered, key, settings):
    settings.MAX_REQUEST_BODY_BYTES = 100
    big = {"inputs": [[1.0, 2.0, 3.0, 4.0]] * 20}
    predict = call(PREDICT, big, key=key)
    assert predict.status_code == 413 and predict.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert call(INFER, big, key=key).status_code == 413


def test_unknown_model_is_404_in_each_protocols_body(path, three_regions, key):
    oip = call("/v2/models/nope/infer", ROW, key=key)
    assert oip.status_code == 404 and set(oip.json()) == {"error"} and "nope" in oip.json()["error"]
    predict = call("/api/v1/models/nope/predict", {"inputs": [[1.0]]}, key=key)
    assert predict.status_code == 404 and predict.json()["error"]["code"] == "MODEL_NOT_FOUND"


def test_bad_tensors_are_400_and_bad_bodies_422(path, registered, key):
    oip = call(INFER, {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]},
               key=key)
    assert oip.status_code == 400 and "shape" in oip.json()["error"]
    predict = call(PREDICT, {"inputs": [[1.0, 2.0, 3.0]]}, key=key)
    assert predict.status_code == 400 and predict.json()["error"]["code"] == "INVALID_INPUT"
    missing = call(PREDICT, {"parameters": {}}, key=key)
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "VALIDATION_ERROR"
    broken = call(PREDICT, b"{not json", key=key)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "INVALID_JSON"


def _answers(settings, make_key) -> list[tuple[int, dict, object]]:
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]  # each answer carries CORS headers for it
    key = make_key(ALL_SCOPES)[0]
    reader = make_key([Scope.REGIONS_MODELS_READ])[0]
    cases = [(INFER, ROW, key), (PREDICT, {"inputs": [[1, 2, 3, 4]]}, key), (INFER, ROW, "fp_x.y"),
             (PREDICT, {"inputs": [[1, 2, 3, 4]]}, "fp_x.y"),
             (PREDICT, {"inputs": [[1, 2, 3, 4]]}, reader), ("/v2/models/nope/infer", ROW, key),
             (PREDICT, {"inputs": [[1, 2]]}, key)]
    out = []
    for path_, body, sent in cases:
        response = call(path_, body, key=sent, headers={"X-Request-ID": "same", "Origin": "https://app.example"})
        payload = response.json()
        if isinstance(payload.get("error"), dict):
            payload["error"].pop("timestamp")
        payload.pop("meta", None)
        if isinstance(payload.get("data"), dict):
            payload["data"].pop("latency_ms")
        assert int(response.headers["Content-Length"]) == len(response.content)
        # Limits count on; the length follows latency_ms's digits.
        headers = {k.lower(): v for k, v in response.headers.items()
                   if not k.lower().startswith("x-ratelimit") and k.lower() != "content-length"}
        assert headers["access-control-allow-origin"] == "https://app.example"
        out.append((response.status_code, headers, payload))
    return out


def test_both_paths_answer_the_same_headers_and_bodies(registered, settings, make_key, monkeypatch):
    served = []
    respond = LeanRouter._respond
    monkeypatch.setattr(LeanRouter, "_respond", lambda self, *a: served.append(1) or respond(self, *a))
    settings.LEAN_INFERENCE_PATH = False
    django = _answers(settings, make_key)
    settings.LEAN_INFERENCE_PATH = True
    lean = _answers(settings, make_key)
    assert len(served) == len(lean)
    for (d_status, d_headers, d_body), (l_status, l_headers, l_body) in zip(django, lean):
        assert (l_status, l_body) == (d_status, d_body)
        assert l_headers == d_headers


@pytest.mark.parametrize("headers", [{"Idempotency-Key": "k1"},
                                     {"Accept": "text/html"}, {"Content-Type": "text/plain"}])
def test_requests_the_lean_path_does_not_take_go_to_django(registered, key, settings, monkeypatch, headers):
    served = []
    monkeypatch.setattr(LeanRouter, "_respond", lambda self, *a: served.append(1))
    call(PREDICT, {"inputs": [[1, 2, 3, 4]]}, key=key, headers=headers)
    assert served == []
