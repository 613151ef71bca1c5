"""Remote modules: registration (direct and from a served mf-manifest.json), history,
cycles (MF008), and real loads over HTTP from a local server (MF002, MF007)."""
from __future__ import annotations

import json
import time

import pytest
from django.test import override_settings

from fedplane.events.models import Event
from tests.api.helpers import data_of, error_of

from .conftest import REMOTE_ENTRY

pytestmark = pytest.mark.django_db
BASE = "/api/v1/federation/modules"


def manifest(name="catalog", version="2.3.0", public_path="auto", **extra) -> bytes:
    doc = {"id": name, "name": name,
           "metaData": {"name": name, "publicPath": public_path, "type": "app",
                        "buildInfo": {"buildVersion": version, "buildName": name},
                        "remoteEntry": {"name": "remoteEntry.js", "path": "", "type": "global"},
                        "globalName": name},
           "shared": [{"id": f"{name}:react", "name": "react", "version": "18.2.0", "singleton": True,
                       "requiredVersion": "^18.2.0"}],
           "remotes": [],
           "exposes": [{"id": f"{name}:Button", "name": "Button", "path": "./Button"},
                       {"id": f"{name}:Header", "name": "Header", "path": "./Header"}], **extra}
    return json.dumps(doc).encode()


def test_register_update_keeps_history(mf, make_app, make_module):
    app = make_app()
    module = make_module(app["id"], "catalog", "http://cdn.local/catalog/1.0.0/remoteEntry.js", version="1.0.0",
                         exposedModules=["./Button"])
    assert module["status"] == "active" and module["applicationId"] == app["id"]
    data_of(mf.put(f"{BASE}/{module['id']}", {"url": "http://cdn.local/catalog/1.1.0/remoteEntry.js",
                                              "version": "1.1.0"}))
    data_of(mf.put(f"{BASE}/{module['id']}", {"exposedModules": ["./Button", "./Card"]}))  # not a URL/version change
    history = data_of(mf.get(f"{BASE}/{module['id']}/history"))["data"]
    assert [(h["version"], h["change"]) for h in history] == [("1.0.0", "registered"), ("1.1.0", "updated")]
    listed = data_of(mf.get(BASE, data={"applicationId": app["id"], "search": "cata"}))["data"]
    assert [m["id"] for m in listed] == [module["id"]]
    assert Event.objects.filter(type="module.registered", data__moduleId=module["id"]).exists()
    assert Event.objects.filter(type="module.updated", data__moduleId=module["id"]).count() == 2


@pytest.mark.parametrize("body,field", [
    ({"name": "x", "url": "not a url"}, "url"),
    ({"url": "http://a/remoteEntry.js"}, "name"),
    ({"name": "x", "url": "http://a/e.js", "version": "latest"}, "version"),
    ({"name": "x", "url": "http://a/e.js", "exposedModules": "./Button"}, "exposedModules"),
])
def test_register_validation(mf, make_app, body, field):
    app = make_app()
    error = error_of(mf.post(BASE, {"applicationId": app["id"], **body}), 422, "VALIDATION_ERROR")
    assert field in error["details"]


def test_register_for_unknown_application_is_mf001(mf):
    error_of(mf.post(BASE, {"applicationId": "00000000-0000-0000-0000-000000000009", "name": "x",
                            "url": "http://a/e.js"}), 404, "MF001")


def test_cycle_of_three_is_refused_with_mf008_naming_it(mf, make_app, make_module):
    app = make_app()
    a = make_module(app["id"], "alpha")
    b = make_module(app["id"], "bravo", remotes=["alpha"])  # bravo loads alpha
    c = make_module(app["id"], "charlie", remotes=[b["id"]])  # charlie loads bravo
    error = error_of(mf.put(f"{BASE}/{a['id']}", {"remotes": ["charlie"]}), 409, "MF008")
    assert error["details"]["cycle"] == ["alpha", "charlie", "bravo", "alpha"]
    assert "alpha -> charlie -> bravo -> alpha" in error["message"]
    assert data_of(mf.get(f"{BASE}/{a['id']}"))["data"]["remotes"] == []  # nothing was changed
    graph = data_of(mf.get(f"{BASE}/graph", data={"applicationId": app["id"]}))["data"]
    assert {(e["from"], e["to"]) for e in graph["edges"]} == {(b["id"], a["id"]), (c["id"], b["id"])}
    error_of(mf.put(f"{BASE}/{a['id']}", {"remotes": ["alpha"]}), 409, "MF008")  # self-loop


def test_register_from_served_manifest(mf, make_app, local_server):
    app = make_app()
    url = local_server.serve("/catalog/mf-manifest.json", manifest(), "application/json")
    module = data_of(mf.post(BASE, {"applicationId": app["id"], "manifestUrl": url}), 201)["data"]
    assert module["name"] == "catalog" and module["version"] == "2.3.0"
    assert module["url"] == f"{local_server.base}/catalog/remoteEntry.js"
    assert module["exposedModules"] == ["./Button", "./Header"]
    assert module["dependencies"] == {"react": "^18.2.0"} and module["manifestUrl"] == url
    deps = data_of(mf.get("/api/v1/federation/dependencies", data={"applicationId": app["id"]}))["data"]
    assert [(d["package"], d["version"], d["singleton"]) for d in deps] == [("react", "18.2.0", True)]


@pytest.mark.parametrize("body", [
    b"{not json", b"[]", b'{"name": "x"}', b'{"name": "x", "metaData": {"remoteEntry": {}}}',
    manifest(exposes=[{"name": 3}]), manifest(shared="react"),
])
def test_malformed_manifest_is_422(mf, make_app, local_server, body):
    app = make_app()
    url = local_server.serve("/bad/mf-manifest.json", body, "application/json")
    error = error_of(mf.post(BASE, {"applicationId": app["id"], "manifestUrl": url}), 422, "MF004")
    assert error["details"]["url"] == url


@override_settings(FEDERATION_FETCH_TIMEOUT=1.0)
def test_manifest_that_stalls_gives_mf007_within_the_timeout(mf, make_app, local_server):
    app = make_app()
    started = time.monotonic()
    error = error_of(mf.post(BASE, {"applicationId": app["id"], "manifestUrl": f"{local_server.base}/stall/m.json"}),
                     504, "MF007")
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.5, elapsed
    assert error["details"]["timeoutSeconds"] == 1.0


def test_load_fetches_the_served_remote_entry_and_records_a_metric(mf, make_app, make_module, local_server):
    app = make_app()
    url = local_server.serve("/remote/remoteEntry.js", REMOTE_ENTRY)
    module = make_module(app["id"], "remote_app", url, exposedModules=["./Button", "./Header"])
    result = data_of(mf.post(f"{BASE}/{module['id']}/load", {"targetApplication": app["name"]}))["data"]
    assert result["size"] == len(REMOTE_ENTRY) and result["loadTime"] > 0 and result["status"] == "active"
    event = Event.objects.get(id=result["eventId"])
    assert event.type == "module.loaded" and event.system == "federation"
    assert event.data["moduleId"] == module["id"] and event.data["size"] == len(REMOTE_ENTRY)
    metrics = data_of(mf.get(f"{BASE}/{module['id']}/metrics", data={"period": "1h"}))["data"]
    assert metrics["period"] == "1h" and metrics["requests"]["count"] == 1 and metrics["errors"]["count"] == 0
    assert metrics["loadTime"]["p50"] == pytest.approx(result["loadTime"], abs=0.01)
    assert metrics["size"]["latest"] == len(REMOTE_ENTRY)
    only = data_of(mf.get(f"{BASE}/{module['id']}/metrics", data={"metrics": "errors,requests"}))["data"]
    assert "loadTime" not in only and "errors" in only
    error_of(mf.get(f"{BASE}/{module['id']}/metrics", data={"period": "2h"}), 422)
    error_of(mf.get(f"{BASE}/{module['id']}/metrics", data={"metrics": "cpu"}), 422)


def test_load_missing_exposes_or_http_error_is_mf002_and_emits_module_error(mf, make_app, make_module, local_server):
    app = make_app()
    url = local_server.serve("/remote/remoteEntry.js", REMOTE_ENTRY)
    module = make_module(app["id"], "remote_app", url, exposedModules=["./Button", "./Checkout"])
    error = error_of(mf.post(f"{BASE}/{module['id']}/load", {}), 502, "MF002")
    assert error["details"]["missingExposes"] == ["./Checkout"]
    assert Event.objects.filter(type="module.error", data__moduleId=module["id"], data__code="MF002").exists()
    gone = make_module(app["id"], "gone", f"{local_server.base}/missing.js")
    assert error_of(mf.post(f"{BASE}/{gone['id']}/load", {}), 502, "MF002")["details"]["httpStatus"] == 404
    # the fallback URL is tried when the primary fails
    fixed = data_of(mf.post(f"{BASE}/{gone['id']}/load", {"fallback": url}))["data"]
    assert fixed["usedFallback"] is True
    assert data_of(mf.get(f"/api/v1/federation/applications/{app['id']}"))["data"]["health"] == "critical"


@override_settings(FEDERATION_FETCH_TIMEOUT=0.5)
def test_load_of_a_stalled_entry_is_mf007(mf, make_app, make_module, local_server):
    app = make_app()
    module = make_module(app["id"], "slow", f"{local_server.base}/stall/remoteEntry.js")
    started = time.monotonic()
    error_of(mf.post(f"{BASE}/{module['id']}/load", {}), 504, "MF007")
    assert time.monotonic() - started < 2.0
    assert Event.objects.filter(type="module.error", data__code="MF007").exists()
    assert data_of(mf.get(f"{BASE}/{module['id']}"))["data"]["status"] == "error"


def test_the_cloud_metadata_address_is_never_fetched_even_through_a_redirect(mf, make_app, make_module, local_server):
    app = make_app()
    metadata = make_module(app["id"], "meta", "http://169.254.169.254/latest/meta-data/remoteEntry.js")
    error = error_of(mf.post(f"{BASE}/{metadata['id']}/load", {}), 403, "MF002")
    assert error["details"]["reason"] == "destination_not_allowed"
    bounced = make_module(app["id"], "bounce", local_server.redirect("/r/remoteEntry.js",
                                                                     "http://169.254.169.254/remoteEntry.js"))
    error = error_of(mf.post(f"{BASE}/{bounced['id']}/load", {}), 403, "MF002")
    assert error["details"]["url"] == "http://169.254.169.254/remoteEntry.js"


BAD_HOSTS = ["https://" + "a" * 64 + ".example.com/remoteEntry.js", "https://a..b/x", "http://./x",
             "https://" + ".".join(["a" * 60] * 5) + "/x"]


@pytest.mark.parametrize("url", BAD_HOSTS)
def test_a_url_whose_host_cannot_be_resolved_is_422(mf, make_app, url):
    """An empty label or one over 63 characters made the resolver's IDNA encoding raise (a 500)."""
    from federation_registry.models import RemoteModule

    app = make_app()
    for body, field in (({"name": "bad", "url": url}, "url"), ({"manifestUrl": url}, "manifestUrl")):
        error = error_of(mf.post(BASE, {"applicationId": app["id"], **body}), 422, "VALIDATION_ERROR")
        assert field in error["details"], error
    assert not RemoteModule.objects.exists()


@pytest.mark.parametrize("url", BAD_HOSTS[:2])
def test_a_module_stored_with_such_a_url_fails_to_load_clearly(mf, make_app, make_module, url):
    from federation_registry.models import RemoteModule

    app = make_app()
    module = make_module(app["id"], "legacy", "http://cdn.local/remoteEntry.js")
    RemoteModule.objects.filter(pk=module["id"]).update(url=url)  # stored before URLs were checked
    error = error_of(mf.post(f"{BASE}/{module['id']}/load", {}), 422, "MF004")
    assert error["details"]["url"] == url and "label" in error["message"]
    assert Event.objects.filter(type="module.error", data__code="MF004", data__moduleId=module["id"]).exists()


def test_a_redirect_to_a_host_that_cannot_be_resolved_is_refused(mf, make_app, make_module, local_server):
    app = make_app()
    bounced = make_module(app["id"], "bounce", local_server.redirect("/r/remoteEntry.js", "http://a..b/x.js"))
    error = error_of(mf.post(f"{BASE}/{bounced['id']}/load", {}), 403, "MF002")
    assert error["details"]["reason"] == "destination_not_allowed"


def test_with_an_allow_list_only_listed_hosts_are_fetched(mf, make_app, make_module, local_server, settings):
    app = make_app()
    url = local_server.serve("/remote/remoteEntry.js", REMOTE_ENTRY)
    module = make_module(app["id"], "remote_app", url, exposedModules=["./Button"])
    settings.FEDERATION_FETCH_ALLOWED_HOSTS = ["cdn.example.com", ".example.org"]
    error = error_of(mf.post(f"{BASE}/{module['id']}/load", {}), 403, "MF002")
    assert "FEDERATION_FETCH_ALLOWED_HOSTS" in error["message"]
    settings.FEDERATION_FETCH_ALLOWED_HOSTS = [".example.org", "127.0.0.1"]
    assert mf.post(f"{BASE}/{module['id']}/load", {}).status_code == 200
