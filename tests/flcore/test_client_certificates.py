"""Client certificates (issue 14, item 1): the client CA, issuing against a CSR pinned to the
registered key, X-Client-Certificate from trusted proxies only, what a certificate opens, each
refusal's 401 code, and revocation. The live TLS shapes are in test_client_mtls_live.py."""
from __future__ import annotations

import datetime
import json
import stat

import pytest
from cryptography import x509
from django.utils import timezone

from fedplane.api.scopes import Scope
from flcore.models import ClientAssignment, ClientCertificate, FLClient, TrainingExecution
from flcore.services.client_ca import client_ca, fingerprint_of
from flcore.services.clients import client_revoke
from tests.support.certificates import NodeKey, csr_for, forge, header_of, other_ca, pem_of

pytestmark = pytest.mark.django_db
SCOPES = [Scope.FL_CLIENTS_MANAGE, Scope.FL_METRICS_VIEW]
PROXY = "127.0.0.1"


@pytest.fixture(autouse=True)
def trusted_proxy(settings):
    settings.FEDPLANE_TRUSTED_PROXIES = [f"{PROXY}/32"]


@pytest.fixture
def key(make_key):
    return make_key(SCOPES)[0]


def _register(api, key, node: NodeKey, name="edge") -> str:
    response = api.auth(key).post("/api/v1/fl/clients", {"name": name, "publicKey": node.public_pem})
    assert response.status_code == 201, response.content
    return response.json()["data"]["id"]


def _issue(api, key, client_id, csr) -> tuple[int, dict]:
    response = api.auth(key).post(f"/api/v1/fl/clients/{client_id}/certificate", {"csr": csr})
    return response.status_code, response.json()


def _as_cert(client, pem: str, method: str, path: str, data=None, remote=PROXY):
    """A request whose only credential is the certificate, forwarded by a proxy at `remote`."""
    extra = {"HTTP_X_CLIENT_CERTIFICATE": header_of(pem), "REMOTE_ADDR": remote}
    if data is None:
        return getattr(client, method)(path, **extra)
    return getattr(client, method)(path, data=data, content_type="application/json", **extra)


def _code(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.fixture
def issued(api, key, tmp_path):
    """A registered client with a certificate: (client id, certificate PEM, node key)."""
    node = NodeKey(tmp_path, "a")
    client_id = _register(api, key, node)
    status, body = _issue(api, key, client_id, csr_for(node.private))
    assert status == 201, body
    return client_id, body["data"]["certificate"], node


def test_the_embedded_ca_is_made_once_with_a_private_key_file(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    ca = client_ca()
    folder = tmp_path / "client-ca"
    assert stat.S_IMODE((folder / "ca.key").stat().st_mode) == 0o600
    assert ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert client_ca().fingerprint == ca.fingerprint  # not made again


def test_a_csr_with_the_registered_key_gets_a_short_certificate_bound_to_the_client(issued, settings):
    client_id, pem, node = issued
    certificate = x509.load_pem_x509_certificate(pem.encode())
    uris = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert uris.get_values_for_type(x509.UniformResourceIdentifier) == [f"urn:fedplane:client:{client_id}"]
    assert certificate.public_key() == node.private.public_key()
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert datetime.timedelta(days=7) <= lifetime <= datetime.timedelta(days=7, minutes=1)
    certificate.verify_directly_issued_by(client_ca().certificate)
    record = ClientCertificate.objects.get(client_id=client_id)
    assert record.not_after == certificate.not_valid_after_utc and record.revoked_at is None


def test_bad_csrs_are_refused_and_nothing_is_stored(api, key, tmp_path):
    node, other = NodeKey(tmp_path, "a"), NodeKey(tmp_path, "b")
    client_id = _register(api, key, node)
    keyless = api.auth(key).post("/api/v1/fl/clients", {"name": "keyless"}).json()["data"]["id"]
    cases = [
        (client_id, "not a csr", 422, "CSR_INVALID"),
        (client_id, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", 422,
         "CSR_INVALID"),
        (client_id, "", 422, "VALIDATION_ERROR"),
        (client_id, csr_for(other.private), 422, "CSR_KEY_MISMATCH"),
        (keyless, csr_for(node.private), 409, "CLIENT_KEY_NOT_REGISTERED"),
        ("00000000-0000-0000-0000-000000000000", csr_for(node.private), 404, "NOT_FOUND"),
    ]
    for target, csr, status, code in cases:
        answered, body = _issue(api, key, target, csr)
        assert (answered, body["error"]["code"]) == (status, code), (csr[:30], body)
    client_revoke(client_id=client_id)
    assert _issue(api, key, client_id, csr_for(node.private))[0] == 403
    assert not ClientCertificate.objects.exists()


def test_the_certificate_opens_its_clients_own_calls_only(api, key, client, issued, tmp_path):
    client_id, pem, _ = issued
    other_id = _register(api, key, NodeKey(tmp_path, "b"), name="other")
    execution = TrainingExecution.objects.create(model_type="classification", algorithm="fedavg", total_rounds=1)
    elsewhere = TrainingExecution.objects.create(model_type="classification", algorithm="fedavg", total_rounds=1)
    ClientAssignment.objects.create(execution=execution, client_id=client_id)
    base = "/api/v1/fl"

    assert _as_cert(client, pem, "get", f"{base}/clients/{client_id}").status_code == 200
    heartbeat = _as_cert(client, pem, "put", f"{base}/clients/{client_id}/status", {"status": "active"})
    assert heartbeat.status_code == 200 and heartbeat.json()["data"]["status"] == "active"
    assert _as_cert(client, pem, "get", f"{base}/clients/{client_id}/metrics").status_code == 200
    assignments = _as_cert(client, pem, "get", f"{base}/clients/{client_id}/assignments")
    assert [a["executionId"] for a in assignments.json()["data"]] == [str(execution.pk)]
    assert _as_cert(client, pem, "get", f"{base}/executions/{execution.pk}").status_code == 200
    renewed = _as_cert(client, pem, "post", f"{base}/clients/{client_id}/certificate",
                       {"csr": csr_for(issued[2].private)})
    assert renewed.status_code == 201

    refused = [("get", f"{base}/clients/{other_id}", None), ("put", f"{base}/clients/{other_id}/status",
                                                              {"status": "active"}),
               ("get", f"{base}/executions/{elsewhere.pk}", None), ("get", f"{base}/executions", None),
               ("get", f"{base}/clients", None), ("post", f"{base}/clients/{client_id}/revoke", {}),
               ("post", f"{base}/clients", {"name": "x"}), ("get", f"{base}/clients/{client_id}/export", None),
               ("get", "/api/v1/regions", None), ("get", "/api/schema/", None)]
    for method, path, data in refused:
        assert _code(_as_cert(client, pem, method, path, data)) == (403, "FORBIDDEN"), path
    assert FLClient.objects.get(pk=other_id).status == "idle"


def test_the_header_counts_from_trusted_proxies_only(api, key, client, issued):
    client_id, pem, _ = issued
    path = f"/api/v1/fl/clients/{client_id}/status"
    before = FLClient.objects.get(pk=client_id).last_seen
    answer = _as_cert(client, pem, "put", path, {"status": "active"}, remote="203.0.113.9")
    assert _code(answer) == (401, "PROXY_NOT_TRUSTED")
    assert answer["WWW-Authenticate"]
    # Not even beside a valid API key: a forged header is refused, never ignored.
    with_key = client.get(f"/api/v1/fl/clients/{client_id}", HTTP_X_API_KEY=key, REMOTE_ADDR="203.0.113.9",
                          HTTP_X_CLIENT_CERTIFICATE=header_of(pem))
    assert _code(with_key) == (401, "PROXY_NOT_TRUSTED")
    assert FLClient.objects.get(pk=client_id).last_seen == before


def test_each_refused_certificate_is_401_with_its_code(api, key, client, issued, tmp_path):
    client_id, pem, node = issued
    other = NodeKey(tmp_path, "b")
    other_id = _register(api, key, other, name="other")
    ca, now = client_ca(), timezone.now()
    expired = forge(ca.certificate, ca.key, public_key=node.private.public_key(), client_id=client_id,
                    start=now - datetime.timedelta(days=8), end=now - datetime.timedelta(days=1))
    foreign_ca, foreign_key = other_ca()
    foreign = forge(foreign_ca, foreign_key, public_key=node.private.public_key(), client_id=client_id,
                    start=now - datetime.timedelta(minutes=1), end=now + datetime.timedelta(days=1))
    # Signed by the platform's CA and on record, but naming client B with client A's key.
    crossed = forge(ca.certificate, ca.key, public_key=node.private.public_key(), client_id=other_id,
                    start=now - datetime.timedelta(minutes=1), end=now + datetime.timedelta(days=1))
    ClientCertificate.objects.create(client_id=other_id, serial=format(crossed.serial_number, "x"),
                                     fingerprint=fingerprint_of(crossed),
                                     not_before=now, not_after=now + datetime.timedelta(days=1))
    cases = [(pem_of(expired), "CERTIFICATE_EXPIRED"), (pem_of(foreign), "CERTIFICATE_UNTRUSTED"),
             (pem_of(crossed), "CERTIFICATE_KEY_MISMATCH"), ("garbage", "CERTIFICATE_INVALID")]
    stored = list(FLClient.objects.order_by("pk").values_list("pk", "status", "last_seen"))
    for presented, code in cases:
        for target in (client_id, other_id):
            answer = _as_cert(client, presented, "put", f"/api/v1/fl/clients/{target}/status", {"status": "active"})
            assert _code(answer) == (401, code), (code, answer.content)
    assert list(FLClient.objects.order_by("pk").values_list("pk", "status", "last_seen")) == stored
    # Client A's valid certificate on client B's record: authenticated as A, so forbidden.
    assert _code(_as_cert(client, pem, "get", f"/api/v1/fl/clients/{other_id}")) == (403, "FORBIDDEN")


def test_revoking_the_client_refuses_its_certificate_at_once(api, key, client, issued):
    client_id, pem, _ = issued
    path = f"/api/v1/fl/clients/{client_id}"
    assert _as_cert(client, pem, "get", path).status_code == 200
    revoked = api.auth(key).post(f"{path}/revoke")
    assert revoked.status_code == 200, revoked.content
    assert _code(_as_cert(client, pem, "get", path)) == (401, "CERTIFICATE_REVOKED")
    assert ClientCertificate.objects.get(client_id=client_id).revoked_at is not None


def test_export_lists_and_purge_erases_the_certificates(api, make_key, client, issued):
    client_id, pem, _ = issued
    manager = make_key([Scope.FL_CLIENTS_MANAGE])[0]
    exported = api.auth(manager).get(f"/api/v1/fl/clients/{client_id}/export").json()["data"]
    assert [c["serial"] for c in exported["certificates"]] == [ClientCertificate.objects.get().serial]
    assert exported["counts"]["certificates"] == 1
    purged = api.auth(manager).delete(f"/api/v1/fl/clients/{client_id}?purge=true").json()["data"]
    assert purged["erased"]["certificates"] == 1 and not ClientCertificate.objects.exists()
    assert _code(_as_cert(client, pem, "get", f"/api/v1/fl/clients/{client_id}")) == (401, "CERTIFICATE_UNTRUSTED")


def test_production_without_a_ca_issues_and_accepts_no_certificate(api, key, client, issued, settings):
    client_id, pem, node = issued
    settings.PRODUCTION, settings.FLCORE_CLIENT_CA_CERT = True, ""
    status, body = _issue(api, key, client_id, csr_for(node.private))
    assert (status, body["error"]["code"]) == (503, "CLIENT_CA_UNAVAILABLE")
    assert _code(_as_cert(client, pem, "get", f"/api/v1/fl/clients/{client_id}")) == (401, "CERTIFICATE_UNTRUSTED")


def test_the_schema_documents_the_header_scheme_and_the_certificate_endpoints(client, key):
    schema = json.loads(client.get("/api/schema/", {"format": "json"}, HTTP_X_API_KEY=key).content)
    scheme = schema["components"]["securitySchemes"]["clientCertificateAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Client-Certificate")
    issue = schema["paths"]["/api/v1/fl/clients/{id}/certificate"]["post"]
    assert {"201", "401", "403", "404", "409", "422", "503"} <= set(issue["responses"])
    assert {"clientCertificateAuth": []} in issue["security"]
    assert "get" in schema["paths"]["/api/v1/fl/clients/{id}/assignments"]
