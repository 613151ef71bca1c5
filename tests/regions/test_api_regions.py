"""Regions under abuse: duplicates, bodies that are not objects, stores outside the allowed roots,
endpoints the server must never call, config versions out of range, price rendering. Each refusal
is a 4xx in the error envelope and leaves what is stored as it was."""
from __future__ import annotations

import os

import pytest

from regions.models import ModelVersion, Region
from tests.api.helpers import data_of, error_of

from .conftest import mlp_module, torchscript_bytes

pytestmark = pytest.mark.django_db
BASE = "/api/v1/regions"


def put_bytes(client, caller, path: str, content: bytes):
    return client.put(path, data=content, content_type="application/octet-stream", **caller.headers)


def snapshot(name: str) -> dict:
    return Region.objects.filter(name=name).values().get()


def test_a_duplicate_region_is_409_and_the_first_stays(caller):
    data_of(caller.post(BASE, {"name": "dup", "priority": 5}), 201)
    before = snapshot("dup")
    error = error_of(caller.post(BASE, {"name": "dup", "priority": 7}), 409, "CONFLICT")
    assert error["details"] == {"region": "dup"}
    assert Region.objects.filter(name="dup").count() == 1 and snapshot("dup") == before


@pytest.mark.parametrize("body", ["[]", "null", '"x"', "1", "false"])
def test_a_patch_whose_body_is_not_an_object_is_422(caller, three_regions, body):
    before = snapshot("us-east-1")
    error = error_of(caller.call("patch", f"{BASE}/us-east-1", body), 422, "VALIDATION_ERROR")
    assert "non_field_errors" in error["details"]
    assert snapshot("us-east-1") == before


@pytest.mark.parametrize("store_url", ["", "file:///etc", "/etc", "memory://anywhere", "nosuch://x",
                                       "file:///work/../etc"])
def test_a_store_outside_the_allowed_roots_is_refused_on_create_and_update(caller, three_regions, store_url):
    error = error_of(caller.post(BASE, {"name": "outside", "store_url": store_url}), 422, "VALIDATION_ERROR")
    assert "store_url" in error["details"]
    assert not Region.objects.filter(name="outside").exists()
    before = snapshot("us-east-1")
    error = error_of(caller.call("patch", f"{BASE}/us-east-1", {"store_url": store_url}), 422, "VALIDATION_ERROR")
    assert "store_url" in error["details"]
    assert snapshot("us-east-1") == before


def test_a_region_without_a_store_gets_one_inside_the_default_root(caller, settings):
    settings.REGIONS_STORE_ALLOWED_ROOTS = [settings.VAR_DIR.resolve().as_uri()]  # the default
    created = data_of(caller.post(BASE, {"name": "plain"}), 201)["data"]
    assert created["store_url"] == (settings.REGIONS_STORE_ROOT / "plain").resolve().as_uri()


def test_every_write_is_checked_against_the_roots(client, caller, three_regions, tmp_path, settings):
    """A region stored before the roots were narrowed (or set by hand in the database) gets a 409 on
    the next write, and nothing lands in its store."""
    outside = tmp_path / "outside"
    Region.objects.filter(name="us-east-1").update(store_url=outside.as_uri())
    settings.REGIONS_STORE_ALLOWED_ROOTS = [(tmp_path / "allowed").as_uri()]
    caller.post("/api/v1/models", {"model_id": "churn"})
    data_of(caller.post("/api/v1/models/churn/versions", {"version": "1", "format": "torchscript",
                                                           "region": "us-east-1",
                                                           "input_schema": {"shape": [-1, 4]}}), 201)
    response = put_bytes(client, caller, "/api/v1/models/churn/versions/1/artifact", torchscript_bytes(mlp_module()))
    error = error_of(response, 409, "STORE_NOT_ALLOWED")
    assert error["details"]["storeUrl"] == outside.as_uri()
    assert not outside.exists()
    assert not ModelVersion.objects.get(model__name="churn", version="1").has_artifact


def test_a_link_out_of_a_store_is_not_followed(client, caller, three_regions, tmp_path, settings):
    store, elsewhere = tmp_path / "allowed" / "us", tmp_path / "elsewhere"
    store.mkdir(parents=True)
    elsewhere.mkdir()
    os.symlink(elsewhere, store / "models")
    settings.REGIONS_STORE_ALLOWED_ROOTS = [(tmp_path / "allowed").as_uri()]
    data_of(caller.call("patch", f"{BASE}/us-east-1", {"store_url": store.as_uri()}))
    caller.post("/api/v1/models", {"model_id": "churn"})
    body = {"version": "1", "format": "torchscript", "region": "us-east-1", "input_schema": {"shape": [-1, 4]}}
    data_of(caller.post("/api/v1/models/churn/versions", body), 201)
    error_of(put_bytes(client, caller, "/api/v1/models/churn/versions/1/artifact", torchscript_bytes(mlp_module())),
             409, "STORE_NOT_ALLOWED")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("key", ["../../../etc/passwd", "/etc/passwd", "a/\x00b"])
def test_an_artifact_key_outside_the_store_is_422(caller, three_regions, key):
    caller.post("/api/v1/models", {"model_id": "churn"})
    body = {"version": "1", "format": "torchscript", "region": "us-east-1", "input_schema": {"shape": [-1, 4]},
            "artifact_key": key}
    error_of(caller.post("/api/v1/models/churn/versions", body), 422, "VALIDATION_ERROR")
    assert not ModelVersion.objects.filter(model__name="churn").exists()


@pytest.mark.parametrize("endpoint", ["http://169.254.169.254", "http://[fe80::1]:8000", "http://2852039166",
                                      "http://[::ffff:169.254.169.254]", "http://a..b",
                                      "http://" + "a" * 64 + ".example.com"])
def test_an_endpoint_the_server_must_not_call_is_refused(caller, three_regions, endpoint):
    error = error_of(caller.post(BASE, {"name": "meta", "endpoint": endpoint}), 422, "VALIDATION_ERROR")
    assert "endpoint" in error["details"]
    assert not Region.objects.filter(name="meta").exists()
    before = snapshot("eu-west-1")
    error_of(caller.call("patch", f"{BASE}/eu-west-1", {"endpoint": endpoint}), 422, "VALIDATION_ERROR")
    assert snapshot("eu-west-1") == before


def test_endpoints_follow_the_allow_list(caller, three_regions, settings):
    settings.REGIONS_ENDPOINT_ALLOWED_HOSTS = [".regions.example.com", "127.0.0.1"]
    error = error_of(caller.post(BASE, {"name": "other", "endpoint": "http://evil.example.net"}), 422,
                     "VALIDATION_ERROR")
    assert "REGIONS_ENDPOINT_ALLOWED_HOSTS" in error["details"]["endpoint"]
    data_of(caller.post(BASE, {"name": "eu", "endpoint": "https://eu.regions.example.com"}), 201)
    data_of(caller.post(BASE, {"name": "local", "endpoint": "http://127.0.0.1:8001"}), 201)


def test_the_prober_never_calls_a_refused_endpoint(three_regions, settings):
    """Endpoints stored before the rules (or the allow-list narrowed since): each probe fails without
    a request, so the region is found down rather than the server calling there."""
    from regions.services.health import probe_region
    from tests.federation_registry.conftest import LocalServer

    server = LocalServer()
    try:
        server.serve("/v2/health/ready", b'{"ready": true}', "application/json")
        Region.objects.filter(name="us-east-1").update(endpoint=server.base)
        Region.objects.filter(name="eu-west-1").update(endpoint="http://169.254.169.254")
        settings.REGIONS_ENDPOINT_ALLOWED_HOSTS = ["regions.example.com"]
        refused = probe_region(Region.objects.get(name="us-east-1"))
        assert not refused.ok and "REGIONS_ENDPOINT_ALLOWED_HOSTS" in refused.error
        settings.REGIONS_ENDPOINT_ALLOWED_HOSTS = []
        link_local = probe_region(Region.objects.get(name="eu-west-1"))
        assert not link_local.ok and "link-local" in link_local.error and link_local.latency_ms is None
        assert probe_region(Region.objects.get(name="us-east-1")).ok  # the same server, once allowed
    finally:
        server.close()


@pytest.mark.parametrize("version", [-1, 10**30, "abc", None])
def test_config_ack_takes_only_versions_in_range(caller, three_regions, version):
    caller.put(f"{BASE}/us-east-1/config", {"config": {"replicas": 2}})
    before = snapshot("us-east-1")
    error = error_of(caller.post(f"{BASE}/us-east-1/config/ack", {"config_version": version}), 422,
                     "VALIDATION_ERROR")
    assert "config_version" in error["details"]
    assert snapshot("us-east-1") == before
    synced = data_of(caller.post(f"{BASE}/us-east-1/config/ack", {"config_version": 1}))["data"]
    assert synced == {"region": "us-east-1", "synced_version": 1, "in_sync": True}


def test_priority_out_of_the_columns_range_is_422(caller):
    error_of(caller.post(BASE, {"name": "big", "priority": 10**30}), 422, "VALIDATION_ERROR")
    assert not Region.objects.filter(name="big").exists()


def test_prices_render_in_fixed_point(caller):
    created = data_of(caller.post(BASE, {"name": "free", "price_card": {"compute_second": "0.0001"}}), 201)["data"]
    read = data_of(caller.get(f"{BASE}/free"))["data"]
    for card in (created["price_card"], read["price_card"]):
        assert card["compute_second"] == "0.00010000" and card["network_gb"] == "0.00000000", card


def test_a_replica_is_never_written_outside_the_roots(caller, registered, eager, tmp_path, settings):
    outside = tmp_path / "outside"
    Region.objects.filter(name="eu-west-1").update(store_url=outside.as_uri())  # stored before the rules
    settings.REGIONS_STORE_ALLOWED_ROOTS = [(tmp_path / "us-east-1").as_uri(), (tmp_path / "ap-southeast-1").as_uri()]
    with eager(execute=True):
        started = data_of(caller.post("/api/v1/replication/models", {
            "model_id": "churn", "source_region": "us-east-1", "target_regions": ["eu-west-1"]}), 202)["data"]
    status = data_of(caller.get(f"/api/v1/replication/{started['replication_id']}/status"))["data"]
    assert status["status"] == "failed" and status["results"][0]["attempts"] == 1  # not retried: it cannot help
    assert "REGIONS_STORE_ALLOWED_ROOTS" in status["results"][0]["error"]
    assert not outside.exists()
