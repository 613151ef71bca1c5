"""Applications: CRUD, the seed's filters and sorting, validation in the error envelope."""
from __future__ import annotations

import pytest

from tests.api.helpers import data_of, error_of

pytestmark = pytest.mark.django_db
BASE = "/api/v1/federation/applications"


def test_create_get_update_delete(mf, make_app):
    app = make_app("checkout", config={"port": 3001, "publicPath": "/static/", "shared": ["react"]})
    assert app["status"] == "active" and app["health"] == "healthy" and app["remotes"] == []
    got = data_of(mf.get(f"{BASE}/{app['id']}"))["data"]
    assert got["name"] == "checkout" and got["config"]["port"] == 3001
    updated = data_of(mf.put(f"{BASE}/{app['id']}", {"version": "1.1.0", "framework": "vue"}))["data"]
    assert (updated["version"], updated["framework"]) == ("1.1.0", "vue")
    assert mf.delete(f"{BASE}/{app['id']}").status_code == 204
    error_of(mf.get(f"{BASE}/{app['id']}"), 404, "MF001")


@pytest.mark.parametrize("body,field", [
    ({"host": "h", "version": "1.0.0", "framework": "react"}, "name"),
    ({"name": "a", "host": "h", "version": "one", "framework": "react"}, "version"),
    ({"name": "a", "host": "h", "version": "1.0.0", "framework": "svelte"}, "framework"),
    ({"name": "a b", "host": "h", "version": "1.0.0", "framework": "react"}, "name"),
    ({"name": "a", "host": "h", "version": "1.0.0", "framework": "react", "config": {"port": 70000}}, "config"),
    ({"name": "a", "host": "h", "version": "1.0.0", "framework": "react", "dependencies": {"react": "^^1"}},
     "dependencies"),
    ({"name": "a", "host": "h", "version": "1.0.0", "framework": "react", "colour": "red"}, "colour"),
])
def test_bad_input_is_422_in_the_envelope(mf, body, field):
    error = error_of(mf.post(BASE, body), 422, "VALIDATION_ERROR")
    assert field in error["details"]


def test_malformed_json_and_unknown_ids_are_4xx_not_500(mf):
    error_of(mf.post(BASE, "{not json"), 400, "INVALID_JSON")
    error_of(mf.get(f"{BASE}/not-a-uuid"), 404, "MF001")
    error_of(mf.put(f"{BASE}/00000000-0000-0000-0000-000000000001", {"version": "1.0.1"}), 404, "MF001")


def test_duplicate_name_is_409(mf, make_app):
    make_app("dup")
    error_of(mf.post(BASE, {"name": "dup", "host": "h", "version": "1.0.0", "framework": "react"}), 409, "CONFLICT")


def test_filters_search_and_sort(mf, make_app):
    make_app("alpha", framework="react", version="2.0.0")
    make_app("beta", framework="vue", version="1.0.0", status="inactive")
    make_app("gamma", framework="angular", version="3.0.0")
    names = lambda r: [a["name"] for a in data_of(r)["data"]]  # noqa: E731
    assert names(mf.get(BASE, data={"framework": "vue"})) == ["beta"]
    assert names(mf.get(BASE, data={"status": "active"})) == ["alpha", "gamma"]
    assert names(mf.get(BASE, data={"status": "all"})) == ["alpha", "beta", "gamma"]
    assert names(mf.get(BASE, data={"search": "amm"})) == ["gamma"]
    assert names(mf.get(BASE, data={"sort": "-version"})) == ["gamma", "alpha", "beta"]
    page = data_of(mf.get(BASE, data={"limit": 2, "sort": "name"}))
    assert page["pagination"] == {"page": 1, "limit": 2, "total": 3, "hasNext": True, "hasPrev": False}
    error_of(mf.get(BASE, data={"sort": "colour"}), 422, "VALIDATION_ERROR")
    error_of(mf.get(BASE, data={"framework": "svelte"}), 422)


def test_scopes_are_enforced(api, make_key):
    from fedplane.api.scopes import Scope
    key, _ = make_key([Scope.FEDERATION_APPLICATIONS_READ])
    api.auth(key)
    assert api.get(BASE).status_code == 200
    error_of(api.post(BASE, {"name": "x", "host": "h", "version": "1.0.0", "framework": "react"}), 403, "FORBIDDEN")


def test_sort_by_health_is_by_severity(mf, make_app):
    from federation_registry.models import Application
    for name, health in (("a-critical", "critical"), ("b-healthy", "healthy"), ("c-warning", "warning")):
        make_app(name)
        Application.objects.filter(name=name).update(health=health)
    names = [a["name"] for a in data_of(mf.get(BASE, data={"sort": "health"}))["data"]]
    assert names == ["b-healthy", "c-warning", "a-critical"]
    names = [a["name"] for a in data_of(mf.get(BASE, data={"sort": "-health"}))["data"]]
    assert names == ["a-critical", "c-warning", "b-healthy"]
