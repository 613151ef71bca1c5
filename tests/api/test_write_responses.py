"""A write's response is built from what it wrote, with no read after the commit that can fail.

PostgreSQL stopped for 10 s once turned a committed create into a 500: its response read the
database again after the commit, so the client, told it failed, retried into a conflict.
Here the database goes away at the commit of each representative create (every statement
after it fails as a closed connection does) and the create must still answer what it stored.
"""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection

from fedplane.api.scopes import ALL_SCOPES

from .helpers import data_of

_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.I)


@contextmanager
def database_gone_after_commit():
    """Every statement after the first committed write fails, as after a PostgreSQL stop."""
    state = {"wrote": False, "failed": []}

    def execute(run, sql, params, many, context):
        if state["wrote"] and not connection.in_atomic_block:
            state["failed"].append(sql[:120])
            raise OperationalError("server closed the connection unexpectedly")
        if _WRITE.match(sql):
            state["wrote"] = True
        return run(sql, params, many, context)

    with connection.execute_wrapper(execute):
        yield state


def _region_and_model(api) -> None:
    data_of(api.post("/api/v1/regions", {"name": "eu"}), 201)
    data_of(api.post("/api/v1/models", {"model_id": "churn"}), 201)


def _stored_version(api) -> None:
    """Regions eu and us, model churn, version 1 with its artifact stored in eu."""
    import base64

    from tests.regions.conftest import mlp_module, torchscript_bytes

    for name in ("eu", "us"):
        data_of(api.post("/api/v1/regions", {"name": name}), 201)
    data_of(api.post("/api/v1/models", {"model_id": "churn"}), 201)
    artifact = base64.b64encode(torchscript_bytes(mlp_module())).decode()
    data_of(api.post("/api/v1/models/churn/versions", {
        "version": "1", "format": "torchscript", "region": "eu", "artifact_base64": artifact,
        "input_schema": {"shape": [-1, 4], "dtype": "float32"}}), 201)


def _application(api) -> str:
    body = {"name": "shell", "host": "http://localhost:3000", "version": "1.0.0", "framework": "react"}
    return data_of(api.post("/api/v1/federation/applications", body), 201)["data"]["id"]


CREATES = {
    # name: (set-up returning the path's parameters, path, body, status, fields to check)
    "model": (lambda api: {}, "/api/v1/models", {"model_id": "fraud", "description": "d"}, 201,
              {"model_id": "fraud", "versions": []}),
    "model version": (lambda api: _region_and_model(api) or {}, "/api/v1/models/churn/versions",
                      {"version": "1", "format": "onnx", "region": "eu"}, 201,
                      {"model_id": "churn", "version": "1", "home_region": "eu", "regions": {}}),
    "application": (lambda api: {}, "/api/v1/federation/applications",
                    {"name": "shop", "host": "http://localhost:3001", "version": "1.0.0", "framework": "react"},
                    201, {"name": "shop", "remotes": []}),
    "module": (lambda api: {"app": _application(api)}, "/api/v1/federation/modules",
               {"applicationId": "{app}", "name": "cart", "url": "http://127.0.0.1:9/remoteEntry.js"}, 201,
               {"name": "cart", "remotes": []}),
    "replication": (lambda api: _stored_version(api) or {}, "/api/v1/replication/models",
                    {"model_id": "churn", "source_region": "eu", "target_regions": ["us"]}, 202,
                    {"model_id": "churn", "source_region": "eu"}),
    "deployment": (lambda api: _stored_version(api) or {}, "/api/v1/deployments",
                   {"model_id": "churn", "version": "1", "regions": ["eu"]}, 202,
                   {"model_id": "churn", "version": "1"}),
    "training execution": (lambda api: {}, "/api/v1/fl/executions",
                           {"algorithm": "fedavg", "runtime": "simulation",
                            "config": {"rounds": 1, "minClients": 2, "numSupernodes": 2, "dataset": "digits"}},
                           202, {"status": "queued", "runtime": "simulation"}),
}


@pytest.mark.django_db(transaction=True)  # real commits: no test transaction around the request
@pytest.mark.parametrize("name", list(CREATES))
def test_a_create_answers_what_it_stored_when_the_database_goes_away_at_its_commit(api, make_key, name):
    setup, path, body, status, expected = CREATES[name]
    api.auth(make_key(sorted(ALL_SCOPES))[0])
    params = setup(api)
    body = {k: v.format(**params) if isinstance(v, str) else v for k, v in body.items()}

    with database_gone_after_commit() as db:
        response = api.post(path, body)
    data = data_of(response, status)["data"]
    assert {k: data[k] for k in expected} == expected
    # No read met the closed connection (the audit row, written after the response, does).
    assert not [sql for sql in db["failed"] if sql.lstrip().upper().startswith("SELECT")], db["failed"]
