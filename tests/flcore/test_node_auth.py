"""TLS and Flower SuperNode authentication against real Flower 1.41 processes.

One TLS SuperLink with ``--enable-supernode-auth`` for the module: a SuperNode whose
key was registered connects with the registered node id and trains a round; SuperNodes
with an unregistered key, or none, are refused. The Django tests register clients
through the API against the same SuperLink (FLOWER_NODE_AUTH on), and `fedplane-client
join` signs in twice with one key and gets the same node id.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from flwr.serverapp.strategy import FedAvg

from fedplane.api.scopes import Scope
from flcore.models import FLClient
from flcore.runtime import (
    ProcessStartError,
    RoundRecord,
    SuperLinkProcess,
    SuperNodeProcess,
    TlsFiles,
    generate_dev_tls,
    generate_node_key,
    list_nodes,
    public_key_pem,
    register_node,
    run_execution,
)
from flcore.runtime.model import initial_arrays
from tests.api.helpers import data_of, error_of
from tests.flcore.test_runtime import CONFIG, REPO, write_slices
from tests.support.processes import ManagedProcess, start_server, wait_until

flower = pytest.mark.flower  # starts real Flower processes


class AuthLink:
    """A TLS SuperLink with SuperNode authentication, and what its clients need."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tls: TlsFiles = generate_dev_tls(folder / "tls")
        self.env = {"FLWR_HOME": str(folder / "flwr-home"), "PYTHONPATH": str(REPO)}
        self.link = SuperLinkProcess(
            tls=self.tls, node_auth=True, log_path=folder / "superlink.log", env=self.env
        )
        self.data = write_slices(folder, 2)[0]  # one non-IID slice of two

    @property
    def root_certificates(self) -> bytes:
        return self.tls.ca_cert.read_bytes()

    def register(self, key: bytes, name: str) -> int:
        return register_node(
            self.link.address, key, name, root_certificates=self.root_certificates
        )

    def nodes(self) -> dict[int, str]:
        """node id -> status, as the SuperLink lists them."""
        infos = list_nodes(self.link.address, insecure=False, root_certificates=self.root_certificates)
        return {int(n.node_id): n.status for n in infos}

    def supernode(self, name: str, key: Path | None, warm: bool = False) -> SuperNodeProcess:
        config = {"fedplane-client-id": name, "data-path": str(self.data)}
        return SuperNodeProcess(
            self.link.address, config, root_certificates=self.tls.ca_cert, auth_private_key=key,
            log_path=self.folder / f"{name}.log", env=self.env, warm=warm,
        )  # fmt: skip


@pytest.fixture(scope="module")
def auth_link(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthLink]:
    started = AuthLink(tmp_path_factory.mktemp("node-auth"))
    with started.link:
        started.link.start()
        yield started


def test_public_keys_are_normalised_and_checked(tmp_path: Path) -> None:
    pem = generate_node_key(tmp_path / "node.key")
    openssh = (tmp_path / "node.key.pub").read_text()
    assert openssh.startswith("ecdsa-sha2-nistp384 ")
    # Flower matches a node by the exact PEM bytes: every spelling registers as one key.
    assert public_key_pem(openssh) == pem == public_key_pem(pem.decode().replace("\n", "\r\n"))
    ed25519_key = ed25519.Ed25519PrivateKey.generate().public_key()
    ed25519_line = ed25519_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    for bad in ("hello", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", ed25519_line):
        with pytest.raises(ValueError):
            public_key_pem(bad)


@flower
@pytest.mark.timeout(180)
def test_registered_node_gets_its_id_and_trains(auth_link: AuthLink, tmp_path: Path) -> None:
    key_path = tmp_path / "client-0.key"
    key = generate_node_key(key_path)
    node_id = auth_link.register(key, "client-0")
    assert auth_link.register(key, "client-0") == node_id  # idempotent: same key, same node
    assert auth_link.nodes()[node_id] == "registered"

    with auth_link.supernode("client-0", key_path, warm=True) as node:
        node.start()
        assert node.node_id == node_id
        records: list[RoundRecord] = []
        result = run_execution(
            superlink=auth_link.link.address,
            strategy=FedAvg(min_available_nodes=1, min_train_nodes=1, min_evaluate_nodes=1),
            initial_arrays=initial_arrays(CONFIG),
            num_rounds=1,
            run_config=CONFIG,
            on_round=lambda record, _accepted: records.append(record),
            connect_timeout=30.0,
            round_timeout=60.0,
            insecure=False,
            root_certificates=auth_link.root_certificates,
        )
    assert result.status == "completed" and result.last_round == 1
    assert [(u.node_id, str(u.client_id)) for u in records[0].train] == [(node_id, "client-0")]
    assert all(u.error is None and u.num_examples > 0 for u in records[0].train)


@flower
@pytest.mark.timeout(120)
@pytest.mark.parametrize("with_key", [True, False], ids=["unregistered-key", "no-key"])
def test_unregistered_node_is_refused(auth_link: AuthLink, tmp_path: Path, with_key: bool) -> None:
    key_path = tmp_path / "stranger.key"
    key = generate_node_key(key_path)
    before = auth_link.nodes()
    node = auth_link.supernode(f"stranger-{with_key}", key_path if with_key else None)
    # The SuperLink refuses to activate it and the SuperNode exits: start() stops
    # waiting for a node id as soon as the process is gone.
    with pytest.raises(ProcessStartError, match="exited"):
        node.start(timeout=60)
    assert not node.is_alive() and node.node_id is None
    after = auth_link.nodes()
    assert after == before  # never listed, let alone online
    infos = list_nodes(auth_link.link.address, insecure=False, root_certificates=auth_link.root_certificates)
    assert key not in {n.public_key for n in infos}


# --- Django: registering clients through the API ----------------------------------------

@pytest.fixture
def fl_api(api, make_key, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    key, _ = make_key([Scope.FL_CLIENTS_MANAGE, Scope.FL_METRICS_VIEW])
    return api.auth(key)


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [
    "not a key",
    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkR9a9v0i8gKBq7qkQx2lZqzQY6zF3aGm0t2C7o0L4D",
], ids=["text", "broken-pem", "ed25519"])
def test_malformed_public_key_is_a_validation_error(fl_api, bad: str) -> None:
    error = error_of(fl_api.post("/api/v1/fl/clients", {"name": "c", "publicKey": bad}), 422, "VALIDATION_ERROR")
    assert "publicKey" in error["details"]
    assert not FLClient.objects.exists()


@flower
@pytest.mark.django_db
@pytest.mark.timeout(60)
def test_registering_a_client_registers_its_node(fl_api, settings, auth_link: AuthLink, tmp_path) -> None:
    settings.FLOWER_NODE_AUTH = True
    settings.FLOWER_SUPERLINK_ADDRESS = auth_link.link.address
    settings.FLOWER_ROOT_CERTIFICATES = str(auth_link.tls.ca_cert)
    key = generate_node_key(tmp_path / "api.key")
    openssh = (tmp_path / "api.key.pub").read_text()

    created = data_of(fl_api.post("/api/v1/fl/clients", {"name": "edge-1", "publicKey": openssh}), 201)["data"]
    assert created["flower"]["nodeAuth"] is True and created["flower"]["insecure"] is False
    node_id = int(created["nodeId"])
    assert auth_link.nodes()[node_id] == "registered"
    assert FLClient.objects.get(pk=created["id"]).public_key == key.decode()

    # The same machine joining again under the same name: the same client, with the same node.
    again = data_of(fl_api.post("/api/v1/fl/clients", {"name": "edge-1", "publicKey": key.decode()}), 201)["data"]
    assert again["id"] == created["id"] and int(again["nodeId"]) == node_id
    # Under another name it is another client, and the node moves to it.
    renamed = data_of(fl_api.post("/api/v1/fl/clients", {"name": "edge-1b", "publicKey": openssh}), 201)["data"]
    assert renamed["id"] != created["id"] and int(renamed["nodeId"]) == node_id
    assert FLClient.objects.get(pk=created["id"]).node_id == ""


@flower
@pytest.mark.django_db
@pytest.mark.timeout(120)
def test_a_revoked_client_s_node_is_unregistered_and_its_key_refused(fl_api, settings, auth_link: AuthLink,
                                                                      tmp_path) -> None:
    settings.FLOWER_NODE_AUTH = True
    settings.FLOWER_SUPERLINK_ADDRESS = auth_link.link.address
    settings.FLOWER_ROOT_CERTIFICATES = str(auth_link.tls.ca_cert)
    key_path = tmp_path / "revoked.key"
    key = generate_node_key(key_path)
    created = data_of(fl_api.post("/api/v1/fl/clients", {"name": "stolen-laptop", "publicKey": key.decode()}),
                      201)["data"]
    node_id = int(created["nodeId"])
    with auth_link.supernode("stolen-laptop", key_path) as node:
        node.start()
        assert node.node_id == node_id and auth_link.nodes()[node_id] == "online"
        revoked = data_of(fl_api.post(f"/api/v1/fl/clients/{created['id']}/revoke"))["data"]
        assert revoked["status"] == "revoked" and revoked["nodeId"] in ("", None)
        assert auth_link.nodes()[node_id] == "unregistered"  # offline at once, whatever its SuperNode does
    again = auth_link.supernode("stolen-laptop-again", key_path)
    with pytest.raises(ProcessStartError, match="exited"):
        again.start(timeout=60)
    error = error_of(fl_api.post("/api/v1/fl/clients", {"name": "stolen-laptop", "publicKey": key.decode()}),
                     422, "VALIDATION_ERROR")
    assert "unregistered" in str(error["details"]["publicKey"])


@flower
@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_fedplane_client_join_signs_in_with_a_stable_node_id(
    auth_link: AuthLink, live_env, live_logs, make_key
) -> None:
    env = {**live_env, "FLOWER_SUPERLINK_ADDRESS": auth_link.link.address, "FLOWER_MANAGE_SUPERLINK": "0",
           "FLOWER_NODE_AUTH": "1", "FLOWER_ROOT_CERTIFICATES": str(auth_link.tls.ca_cert)}
    server, base = start_server(env, live_logs, "auth-web")
    key, _ = make_key([Scope.FL_CLIENTS_MANAGE, Scope.FL_METRICS_VIEW])
    http = httpx.Client(base_url=f"{base}/api/v1", headers={"X-API-Key": key}, timeout=30)
    key_path = auth_link.data.with_name(auth_link.data.name + ".fedplane-node.key")

    def join(name: str) -> tuple[str, int]:
        """Run `fedplane-client join` until its SuperNode reports in; (client id, node id)."""
        proc = ManagedProcess(
            [sys.executable, "-m", "flcore.client.cli", "join", "--api", base, "--api-key", key,
             "--data", str(auth_link.data), "--name", name, "--heartbeat", "1",
             "--root-certificates", str(auth_link.tls.ca_cert), "--log-dir", str(live_logs)],
            env, live_logs / f"{name}.log")

        def active() -> dict | None:
            assert proc.alive(), proc.log_tail()
            found = http.get("/fl/clients", params={"search": name}).json()["data"]
            return next((c for c in found if c["name"] == name and c["status"] == "active"), None)

        try:
            client = wait_until(active, timeout=60, interval=0.5, message=f"{name} active")
            online = {n for n, status in auth_link.nodes().items() if status == "online"}
            assert int(client["nodeId"]) in online
            return client["id"], int(client["nodeId"])
        finally:
            proc.stop()

    try:
        first_client, first_node = join("joiner-1")
        assert key_path.exists() and key_path.stat().st_mode & 0o077 == 0  # the private key stays private
        second_client, second_node = join("joiner-2")  # the same machine again, same key
    finally:
        http.close()
        server.stop()
    assert second_client != first_client and second_node == first_node
