"""Registering the same machine again (same owner, name and key) reuses its client: a rerun of the
demo's client-registration step lists each demo client once. Other registrations stay new clients."""
from __future__ import annotations

import pytest

from fedplane.api.scopes import Scope
from flcore.choices import ClientStatus
from flcore.demo.data import write_digits_partitions
from flcore.models import FLClient
from flcore.runtime.credentials import node_key
from flcore.services.clients import client_revoke

pytestmark = pytest.mark.django_db
SCOPES = [Scope.FL_CLIENTS_MANAGE, Scope.FL_METRICS_VIEW]


def _register(api, key: str, name: str, public_key: str = "", samples: int = 1) -> dict:
    body = {"name": name, "dataProfile": {"samples": samples}, **({"publicKey": public_key} if public_key else {})}
    response = api.auth(key).post("/api/v1/fl/clients", body)
    assert response.status_code == 201, response.content
    return response.json()["data"]


def _demo_clients(api, make_key, user, folder) -> list[dict]:
    """What `manage.py demo` does for its clients: fresh data files and a fresh API key per client
    at every run, while each client's key pair stays next to its data (`fedplane-client join`)."""
    paths, _ = write_digits_partitions(folder, 3)
    registered = []
    for index, path in enumerate(paths, 1):
        key, _ = make_key(SCOPES, user=user)
        public_key = node_key(path.with_name(path.name + ".fedplane-node.key")).decode()
        registered.append(_register(api, key, f"demo-client-{index}", public_key, samples=index))
    return registered


def test_a_rerun_of_the_demo_reuses_its_clients(api, make_key, make_user, tmp_path):
    demo = make_user(SCOPES, username="demo")
    first = _demo_clients(api, make_key, demo, tmp_path / "demo")
    FLClient.objects.filter(pk__in=[c["id"] for c in first]).update(status=ClientStatus.OFFLINE, node_id="42")
    second = _demo_clients(api, make_key, demo, tmp_path / "demo")

    assert [c["id"] for c in second] == [c["id"] for c in first]
    assert FLClient.objects.count() == 3
    assert [(c["name"], c["status"], c["nodeId"], c["dataProfile"]["samples"]) for c in second] == [
        ("demo-client-1", "idle", None, 1), ("demo-client-2", "idle", None, 2), ("demo-client-3", "idle", None, 3)]
    key, _ = make_key(SCOPES, user=demo)
    listed = api.auth(key).get("/api/v1/fl/clients", data={"search": "demo-client"}).json()["data"]
    assert sorted(c["name"] for c in listed) == ["demo-client-1", "demo-client-2", "demo-client-3"]


def test_only_the_same_owner_name_and_key_is_the_same_client(api, make_key, make_user, tmp_path):
    owner, stranger = make_user(SCOPES), make_user(SCOPES)
    owner_key, _ = make_key(SCOPES, user=owner)
    stranger_key, _ = make_key(SCOPES, user=stranger)
    public_key = node_key(tmp_path / "a.key").decode()
    client = _register(api, owner_key, "edge", public_key)

    assert _register(api, owner_key, "edge", public_key)["id"] == client["id"]
    others = [
        _register(api, owner_key, "edge"),  # no key: nothing tells it from another "edge"
        _register(api, owner_key, "edge-2", public_key),  # another name
        _register(api, owner_key, "edge", node_key(tmp_path / "b.key").decode()),  # another key
        _register(api, stranger_key, "edge", public_key),  # another account never takes it over
    ]
    assert client["id"] not in {c["id"] for c in others} and len({c["id"] for c in others}) == 4

    client_revoke(client_id=client["id"])  # a revoked client stays revoked: the machine is a new client
    again = _register(api, owner_key, "edge", public_key)
    assert again["id"] != client["id"] and FLClient.objects.get(pk=client["id"]).status == ClientStatus.REVOKED
