"""Module Federation in the Prometheus scrape: shell configuration requests by status (the 304
share), module loads and their errors by kind and variant, and the state of a canary."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from federation_registry.models import Deployment
from federation_registry.services.runtime import in_canary
from tests.api.helpers import data_of, error_of
from tests.support.scrape import label_values, total

from .conftest import REMOTE_ENTRY

pytestmark = pytest.mark.django_db
FED = "/api/v1/federation"


def scrape() -> str:
    return Client().get("/metrics").content.decode()


def test_shell_config_requests_are_counted_by_status(make_app):
    app = make_app("storefront")
    url = f"{FED}/runtime/{app['id']}/shell/production"
    before = scrape()
    etag = Client().get(url)["ETag"]
    for _ in range(3):
        assert Client().get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    error_of(Client().get(f"{FED}/runtime/{app['id']}/shell/moon"), 404)
    error_of(Client().get(f"{FED}/runtime/no-such-app/shell/staging"), 404, "MF001")
    after = scrape()
    name = "fedplane_mf_shell_config_requests_total"

    def added(**labels) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert added(environment="production", status="200") == 1
    assert added(environment="production", status="304") == 3
    assert added(environment="other", status="404") == 1  # a made-up environment is no label value
    assert added(environment="staging", status="404") == 1
    assert label_values(after, name, "environment") <= {"development", "staging", "production", "other"}


def test_module_loads_and_their_errors_are_counted_by_kind_and_variant(
        mf, make_app, make_module, local_server, django_capture_on_commit_callbacks):
    app = make_app("loader")
    good = make_module(app["id"], "catalog", local_server.serve("/catalog/remoteEntry.js", REMOTE_ENTRY),
                       exposedModules=["./Button"])
    gone = make_module(app["id"], "cart", f"{local_server.base}/cart/remoteEntry.js")
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        data_of(mf.post(f"{FED}/modules/{good['id']}/load", {}))
        error_of(mf.post(f"{FED}/modules/{gone['id']}/load", {}), 502, "MF002")
        samples = [{"moduleId": good["id"], "loadTime": 90}, {"module": "cart", "error": "ChunkLoadError"}]
        data_of(mf.post(f"{FED}/telemetry", {"applicationId": app["id"], "environment": "production",
                                              "clientId": "shell-1", "samples": samples}), 202)
    after = scrape()

    def added(name: str, **labels) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    loads, errors = "fedplane_mf_module_loads_total", "fedplane_mf_module_load_errors_total"
    assert added(loads, kind="load", variant="none", result="ok") == 1
    assert added(loads, kind="load", variant="none", result="error") == 1
    assert added(errors, kind="load", variant="none", code="MF002") == 1
    assert added(loads, kind="telemetry", variant="none", result="ok") == 1
    assert added(errors, kind="telemetry", variant="none", code="MF002") == 1


def test_a_canary_in_progress_shows_its_share_and_its_step(mf, make_app, make_module,
                                                          django_capture_on_commit_callbacks):
    app = make_app("shop-canary")
    module = make_module(app["id"], "catalog", "http://cdn.local/catalog/1.0.0/remoteEntry.js", version="1.0.0")
    deployment = data_of(mf.post(f"{FED}/applications/{app['id']}/deploy", {
        "environment": "production", "strategy": "canary",
        "config": {"modules": [{"moduleId": module["id"], "url": "http://cdn.local/catalog/2.0.0/remoteEntry.js",
                                "version": "2.0.0"}], "steps": [10, 50, 100], "thresholds": {"autoPromote": False}}}),
        202)["data"]
    inside = [c for c in (f"s{i}" for i in range(300)) if in_canary(deployment["id"], c, 10)][:4]
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        for i, client_id in enumerate(inside):
            data_of(mf.post(f"{FED}/telemetry", {
                "applicationId": app["id"], "environment": "production", "clientId": client_id,
                "samples": [{"moduleId": module["id"], "loadTime": 100, "error": "ChunkLoadError" if i == 0 else None}]}),
                202)
    text = scrape()
    canary = {"application": "shop-canary", "environment": "production", "strategy": "canary"}
    assert total(text, "fedplane_mf_canary_traffic_percent", **canary) == 10
    assert total(text, "fedplane_mf_canary_step_samples", **canary) == 4
    assert total(text, "fedplane_mf_canary_step_error_rate", **canary) == 0.25
    assert total(text, "fedplane_mf_deployments", strategy="canary", status="in_progress") >= 1
    assert (total(text, "fedplane_mf_module_load_errors_total", variant="canary")
            - total(before, "fedplane_mf_module_load_errors_total", variant="canary")) == 1
    # a new step counts only the loads reported since it started
    Deployment.objects.filter(pk=deployment["id"]).update(step_started_at=timezone.now() + timedelta(seconds=1))
    text = scrape()
    assert total(text, "fedplane_mf_canary_step_samples", **canary) == 0
    assert total(text, "fedplane_mf_canary_step_error_rate", **canary) == 0

    data_of(mf.post(f"{FED}/deployments/{deployment['id']}/rollback", {}))
    text = scrape()
    assert total(text, "fedplane_mf_canary_traffic_percent", **canary) == 0
    assert "shop-canary" not in text  # no series is left once the deployment ended
