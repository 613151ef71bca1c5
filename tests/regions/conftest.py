"""Fixtures of the multi-region tests: three regions with their own stores, small models, a caller."""
from __future__ import annotations

import io
import os
import re
from decimal import Decimal

import fsspec
import pytest
import torch
from torch import nn

from fedplane.api.scopes import Scope
from tests.support.stores import TEST_STORE_ROOTS, allow_temp_stores_in_child_processes

from .s3_server import MIN_PART_BYTES, start_s3_server

# Server and worker processes started by any test register the test's corrupting store too
# (`flaky://`), through the setting production uses for custom stores; set before any
# session fixture copies the environment.
os.environ.setdefault("REGIONS_FSSPEC_PLUGINS", "flaky=tests.regions.faulty_fs:FlakyFileSystem")
allow_temp_stores_in_child_processes()

REGION_NAMES = ("us-east-1", "eu-west-1", "ap-southeast-1")
ALL_SCOPES = [Scope.REGIONS_MODELS_READ, Scope.REGIONS_MODELS_WRITE, Scope.REGIONS_PREDICT, Scope.REGIONS_OPERATE]
PRICES = {"us-east-1": ("0.0001", "0.023", "0.09"), "eu-west-1": ("0.00012", "0.025", "0.08"),
          "ap-southeast-1": ("0.00015", "0.027", "0.12")}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def stores_in_temp_dirs(settings):
    settings.REGIONS_STORE_ALLOWED_ROOTS = TEST_STORE_ROOTS


@pytest.fixture(autouse=True)
def fresh_model_cache():
    from regions.services.loading import clear_cache

    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="session", autouse=True)
def flaky_filesystem():
    fsspec.register_implementation("flaky", "tests.regions.faulty_fs.FlakyFileSystem", clobber=True)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One local S3-compatible server (moto, its own process on loopback) for the whole session."""
    server = start_s3_server(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def s3_prefix(s3_server, settings, request) -> str:
    """Settings that reach the local S3 server, and a store URL of this test's own under its bucket."""
    settings.REGIONS_S3_ENDPOINT_URL = s3_server.endpoint
    settings.REGIONS_S3_ACCESS_KEY_ID, settings.REGIONS_S3_SECRET_ACCESS_KEY = s3_server.key, s3_server.secret
    settings.REGIONS_S3_REGION = "us-east-1"
    settings.REGIONS_S3_PART_BYTES = MIN_PART_BYTES
    settings.REGIONS_STORE_ALLOWED_ROOTS = [*settings.REGIONS_STORE_ALLOWED_ROOTS, f"s3://{s3_server.bucket}",
                                            "s3://no-such-bucket"]
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40]
    return f"s3://{s3_server.bucket}/{name}-{os.urandom(4).hex()}"


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    """Celery tasks run in this process once the enqueuing transaction commits."""
    from fedplane.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


def price_card(name: str) -> dict:
    compute, storage, network = PRICES[name]
    return {"compute_second": Decimal(compute), "storage_gb_month": Decimal(storage), "network_gb": Decimal(network),
            "currency": "USD"}


@pytest.fixture
def three_regions(db, tmp_path):
    from regions.services.regions import region_create

    return [region_create(name=name, store_url=(tmp_path / name).as_uri(), priority=10 * (i + 1),
                          price_card=price_card(name)) for i, name in enumerate(REGION_NAMES)]


def mlp_module(seed: int = 0, inputs: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(inputs, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid()).eval()


def torchscript_bytes(module: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    return buffer.getvalue()


class Exploding(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] >= 0:
            raise RuntimeError("this version is broken")
        return x


@pytest.fixture
def mlp():
    return mlp_module()


@pytest.fixture
def registered(three_regions, mlp):
    """Model `churn` version 1.0.0 (TorchScript MLP) stored in us-east-1."""
    from regions.services.registry import model_create, version_create

    model_create(name="churn")
    return version_create(model_name="churn", version="1.0.0", fmt="torchscript", region_name="us-east-1",
                          input_schema={"shape": [-1, 4], "dtype": "float32"}, content=torchscript_bytes(mlp))


@pytest.fixture
def caller(make_key, api):
    plaintext, _ = make_key(ALL_SCOPES)
    return api.auth(plaintext)


@pytest.fixture(autouse=True)
def routing_reads_every_time(settings):
    """Tests change routing state between two requests; the per-process cache is tested on its own."""
    settings.REGIONS_ROUTING_CACHE_SECONDS = 0
