"""Shared dependencies: configure, list, update, delete; resolution fed from the registry."""
from __future__ import annotations

import pytest

from tests.api.helpers import data_of, error_of

pytestmark = pytest.mark.django_db
BASE = "/api/v1/federation/dependencies"


def test_configure_list_update_delete(mf, make_app):
    a, b = make_app("host"), make_app("remote")
    dep = data_of(mf.post(BASE, {"package": "@scope/ui-kit", "version": "2.1.0", "applications": [a["id"]]}), 201)["data"]
    # webpack's defaults: requiredVersion ^version; strictVersion = import !== false && !singleton
    assert dep["requiredVersion"] == "^2.1.0" and dep["strictVersion"] is True and dep["loadStrategy"] == "lazy"
    single = data_of(mf.post(BASE, {"package": "react", "version": "18.2.0", "singleton": True,
                                    "loadStrategy": "eager", "applications": [a["id"], b["id"]]}), 201)["data"]
    assert single["strictVersion"] is False
    listed = data_of(mf.get(BASE, data={"applicationId": b["id"]}))["data"]
    assert [d["package"] for d in listed] == ["react"]
    updated = data_of(mf.put(f"{BASE}/{dep['id']}", {"requiredVersion": "~2.1.0", "applications": [b["id"]]}))["data"]
    assert updated["requiredVersion"] == "~2.1.0" and updated["applications"] == [b["id"]]
    assert updated["strictVersion"] is True and updated["version"] == "2.1.0"  # untouched by a partial PUT
    assert mf.delete(f"{BASE}/{dep['id']}").status_code == 204
    error_of(mf.get(f"{BASE}/{dep['id']}"), 404, "NOT_FOUND")
    for bad in ({"package": "react", "version": "x.y"}, {"package": "react", "version": "1.0.0", "requiredVersion": "^^1"},
                {"package": "react", "version": "1.0.0", "loadStrategy": "soon"},
                {"package": "react", "version": "1.0.0", "applications": ["nope"]}):
        error_of(mf.post(BASE, bad), 422, "VALIDATION_ERROR")
    error_of(mf.post(BASE, {"package": "react", "version": "1.0.0",
                            "applications": ["00000000-0000-0000-0000-000000000001"]}), 404, "MF001")


def test_resolve_counts_a_dependency_shared_by_several_applications_once_each(mf, make_app):
    a, b = make_app("host"), make_app("remote")
    data_of(mf.post(BASE, {"package": "lodash", "version": "4.17.21", "applications": [a["id"], b["id"]]}), 201)
    report = data_of(mf.post(f"{BASE}/resolve", {"applications": [a["id"], b["id"]]}))["data"]
    assert [list(app["shared"]) for app in report["applications"]] == [["lodash"], ["lodash"]]
    assert report["scope"] == {"default": {"lodash": ["4.17.21"]}} and report["resolved"] is True
    assert report["warnings"] == 0 and report["errors"] == 0


def test_runtime_shared_overrides_feed_resolution(mf, make_app):
    a, b = make_app("host"), make_app("remote")
    data_of(mf.post(BASE, {"package": "react", "version": "17.0.2", "singleton": True, "applications": [a["id"]]}), 201)
    data_of(mf.post(BASE, {"package": "react", "version": "18.2.0", "singleton": True, "applications": [b["id"]]}), 201)
    data_of(mf.put(f"/api/v1/federation/runtime/{a['id']}", {"shared": {"react": {"strictVersion": True}}}))
    report = data_of(mf.post(f"{BASE}/resolve", {"applications": [a["id"], b["id"]], "runtime": "webpack"}))["data"]
    host = report["applications"][0]["shared"]["react"]
    assert host["strictVersion"] is True and host["errors"][0]["code"] == "MF006"
    lowest = data_of(mf.post(f"{BASE}/resolve", {"applications": [a["id"], b["id"]], "strategy": "lowest"}))["data"]
    assert lowest["applications"][1]["shared"]["react"]["version"] == "17.0.2"
    # requiredVersion: false in the runtime config: no version check, no error (a stored row keeps ^version)
    data_of(mf.put(f"/api/v1/federation/runtime/{a['id']}", {"shared": {"react": {"requiredVersion": False,
                                                                                    "strictVersion": True}}}))
    report = data_of(mf.post(f"{BASE}/resolve", {"applications": [a["id"], b["id"]], "runtime": "webpack"}))["data"]
    host = report["applications"][0]["shared"]["react"]
    assert host["requiredVersion"] is False and host["errors"] == [] and host["version"] == "18.2.0"


def test_resolve_merges_repeated_ids_keeping_the_first_place(mf, make_app):
    a, b = make_app("host"), make_app("remote")
    data_of(mf.post(BASE, {"package": "lodash", "version": "4.17.21", "applications": [a["id"], b["id"]]}), 201)
    report = data_of(mf.post(f"{BASE}/resolve", {"applications": [b["id"], a["id"], b["id"]] * 300}))["data"]
    assert [app["applicationId"] for app in report["applications"]] == [b["id"], a["id"]]
    assert [list(app["shared"]) for app in report["applications"]] == [["lodash"], ["lodash"]]


def test_resolve_refuses_more_ids_than_its_maximum(mf, make_app, settings):
    settings.FEDERATION_RESOLVE_MAX_APPLICATIONS = 3
    a = make_app("host")
    error = error_of(mf.post(f"{BASE}/resolve", {"applications": [a["id"]] * 4}), 422, "VALIDATION_ERROR")
    assert "at most 3" in error["details"]["applications"][0]
    data_of(mf.post(f"{BASE}/resolve", {"applications": [a["id"]] * 3}))
    error_of(mf.post(f"{BASE}/resolve", {"applications": [a["id"], "00000000-0000-0000-0000-000000000001"]}),
             404, "MF001")


def test_an_empty_list_resolves_every_application_by_name_up_to_the_maximum(mf, make_app, settings):
    for name in ("zeta", "alpha", "mid"):
        make_app(name)
    report = data_of(mf.post(f"{BASE}/resolve", {"applications": []}))["data"]
    assert [app["name"] for app in report["applications"]] == ["alpha", "mid", "zeta"]
    settings.FEDERATION_RESOLVE_MAX_APPLICATIONS = 2
    error = error_of(mf.post(f"{BASE}/resolve", {}), 422, "VALIDATION_ERROR")
    assert "applications" in error["details"]


def test_resolve_request_expresses_what_the_runtimes_know(mf, make_app):
    shell, remote = make_app("shell"), make_app("remote")
    data_of(mf.post(BASE, {"package": "react", "version": "18.2.0", "singleton": True, "applications": [remote["id"]]}),
            201)
    body = {"applications": [shell["id"], remote["id"]], "runtime": "webpack",
            # the shell consumes react without a copy of its own and without a version check
            "shared": {shell["id"]: {"react": {"import": False, "requiredVersion": False, "singleton": True}}},
            # the page holds two versions already, one still loading, each named by its provider
            "loadedVersions": [{"package": "react", "version": "17.0.2", "from": "legacy"},
                               {"package": "react", "version": "18.3.1", "from": "admin", "status": "loading"}]}
    report = data_of(mf.post(f"{BASE}/resolve", body))["data"]
    got = report["applications"][0]["shared"]["react"]
    # webpack findSingletonVersionKey: the loaded 17.0.2 is never left; requiredVersion false: no warning
    assert (got["version"], got["from"], got["requiredVersion"], got["warnings"]) == ("17.0.2", "legacy", False, [])
    assert report["scope"] == {"default": {"react": ["17.0.2", "18.2.0", "18.3.1"]}}


def test_resolve_refuses_bad_input_and_stores_nothing(mf, make_app):
    shell = make_app("shell")
    before = data_of(mf.get(BASE))["data"]
    for bad, field in (({"shared": {shell["id"]: {"react": {"requiredVersion": "^^1", "import": False}}}}, "shared"),
                       ({"shared": {shell["id"]: {"react": {"requiredVersion": True, "import": False}}}}, "shared"),
                       ({"shared": {shell["id"]: {"react": {"imports": False}}}}, "shared"),
                       ({"loadedVersions": [{"package": "react", "version": "17.0.2", "status": "soon"}]},
                        "loadedVersions")):
        error = error_of(mf.post(f"{BASE}/resolve", {"applications": [shell["id"]], **bad}), 422, "VALIDATION_ERROR")
        assert field in error["details"]
    # a package the application has no row for needs a version unless it is import: false
    error = error_of(mf.post(f"{BASE}/resolve", {"applications": [shell["id"]],
                                                 "shared": {shell["id"]: {"react": {"singleton": True}}}}),
                     422, "VALIDATION_ERROR")
    assert "shared" in error["details"]
    other = "00000000-0000-0000-0000-000000000001"
    error_of(mf.post(f"{BASE}/resolve", {"applications": [shell["id"]], "shared": {other: {}}}), 422,
             "VALIDATION_ERROR")
    assert data_of(mf.get(BASE))["data"] == before
