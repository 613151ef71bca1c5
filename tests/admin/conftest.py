"""Fixtures of the admin console tests: a logged-in operator and a small world of every kind of record."""
from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from fedplane.api.models import AuditEntry
from federation_registry.models import Deployment as FedDeployment
from flcore.models import FLClient
from regions.models import ModelVersion, Region
from tests.support.stores import TEST_STORE_ROOTS


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def stores_in_temp_dirs(settings):
    settings.REGIONS_STORE_ALLOWED_ROOTS = TEST_STORE_ROOTS


@pytest.fixture
def operator(make_user):
    return make_user(superuser=True, username="operator")


@pytest.fixture
def console(client, operator):
    """The Django test client logged in as a superuser, with helpers for changelist actions."""
    client.force_login(operator)

    class Console:
        def changelist(self, model) -> str:
            return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")

        def change(self, obj) -> str:
            from django.contrib.admin.utils import quote

            return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[quote(obj.pk)])

        def get(self, url, **params):
            return client.get(url, params)

        def post(self, url, data):
            return client.post(url, data)

        def action(self, model, action: str, objects, *, follow: bool = True, **data):
            """POST a changelist action on `objects` (with `data` as its form, if it has one)."""
            body = {"action": action, "_selected_action": [str(o.pk) for o in objects], **data}
            return client.post(self.changelist(model), body, follow=follow)

        @staticmethod
        def messages(response) -> list[str]:
            return [str(m) for m in response.context["messages"]] if response.context else []

    return Console()


@pytest.fixture
def regions(tmp_path):
    from regions.services.regions import region_create

    return [region_create(name=name, store_url=(tmp_path / name).as_uri(), priority=10 * i)
            for i, name in enumerate(("us-east-1", "eu-west-1"), start=1)]


@pytest.fixture
def version(regions, operator) -> ModelVersion:
    from regions.services.registry import model_create, version_create
    from tests.regions.conftest import mlp_module, torchscript_bytes

    model_create(name="churn", user=operator)
    return version_create(model_name="churn", version="1.0.0", fmt="torchscript", region_name="us-east-1",
                          input_schema={"shape": [-1, 4], "dtype": "float32"},
                          content=torchscript_bytes(mlp_module()))


@pytest.fixture
def fl_clients(operator) -> list[FLClient]:
    from flcore.services.clients import client_register

    return [client_register(owner=operator, name=f"site-{i}", capability={"compute": "cpu"},
                            location={"region": "eu"}) for i in range(3)]


@pytest.fixture
def fed_deployment() -> FedDeployment:
    from federation_registry.models import RemoteModule
    from federation_registry.services.applications import application_create
    from federation_registry.services.deployments import application_deploy

    app = application_create(name="shell", host="https://shell.example", version="1.0.0", framework="react")
    RemoteModule.objects.create(application=app, name="cart", url="https://cdn.example/cart/remoteEntry.js",
                                version="1.0.0")
    return application_deploy(application_id=app.pk, environment="production", strategy="canary", config={})


@pytest.fixture
def world(version, fl_clients, fed_deployment, operator, make_key):
    """At least one row of every registered model (cheaply, most straight through the ORM)."""
    from django_celery_results.models import GroupResult, TaskResult

    from federation_registry.models import ModuleMetric, ModuleRelease, ModuleVersion, SharedDependency
    from flcore.models import (AggregatedModel, ClientCertificate, ClientUpdate, PerformanceMetric, TrainingDataset,
                               TrainingRound)
    from flcore.services.executions import execution_create
    from fedplane.integration.models import (ModelRequirement, ModuleClientDeployment, TriggeredExecution,
                                             UnifiedDeployment)
    from regions.models import AsyncPrediction, BillingRecord, ProbeResult, RequestMetric, Serving, UsageRecord
    from regions.services.deployments import deployment_start
    from regions.services.failover import failover_start
    from regions.services.replication import replication_start

    execution = execution_create(user=operator, model_type="classification", algorithm="fedavg",
                                 config={"rounds": 3, "minClients": 3}, client_ids=[str(c.pk) for c in fl_clients])
    round_ = TrainingRound.objects.create(execution=execution, round_number=1, status="completed",
                                          metrics={"evaluate": {"eval-loss": 0.5, "eval-accuracy": 0.875}})
    ClientUpdate.objects.create(round=round_, client=fl_clients[0], node_id="1", phase="train", num_examples=10)
    aggregated = AggregatedModel.objects.create(execution=execution, round=round_, round_number=1, algorithm="fedavg",
                                                artifact_path="x.safetensors", sha256="0" * 64, size_bytes=1)
    PerformanceMetric.objects.create(execution=execution, kind="training", name="loss", value=0.5, round_number=1)
    ClientCertificate.objects.create(client=fl_clients[0], serial="1a", fingerprint="0" * 64, not_before=timezone.now(),
                                     not_after=timezone.now())
    TrainingDataset.objects.create(name="clinics.npz", file_format="npz", path="datasets/x.npz", sha256="0" * 64,
                                   size_bytes=1, num_samples=10, num_features=2, num_classes=2)
    replication_start(model_id="churn", source_region="us-east-1", target_regions=["eu-west-1"], user=operator)
    deployment_start(model_id="churn", version="1.0.0", strategy="rolling", regions=["us-east-1"], user=operator)
    failover_start(from_region="eu-west-1", to_region="us-east-1", drain_timeout_seconds=300)
    us = Region.objects.get(name="us-east-1")
    ProbeResult.objects.create(region=us, ok=True, latency_ms=3)
    Serving.objects.get_or_create(model=version.model, region=us, defaults={"version": version})
    AsyncPrediction.objects.create(model_name="churn", inputs=[[1, 2, 3, 4]])
    RequestMetric.objects.create(region="us-east-1", model_name="churn", latency_ms=4)
    UsageRecord.objects.create(region=us, resource_type="compute", quantity=1, unit="seconds")
    BillingRecord.objects.create(resource_type="compute", billed_cost=1, charge_period_start=timezone.now(),
                                 charge_period_end=timezone.now())
    module = fed_deployment.application.modules.get()
    ModuleVersion.objects.create(module=module, url=module.url, version="1.0.0", change="registered")
    ModuleMetric.objects.create(module=module, kind="load", success=True, load_time=12)
    ModuleRelease.objects.get_or_create(module=module, environment="staging",
                                        defaults={"url": module.url, "version": "1.0.0"})
    dependency = SharedDependency.objects.create(package="react", version="18.2.0", required_version="^18.0.0")
    unified = UnifiedDeployment.objects.create(environment="staging", status="failed", application=module.application,
                                               execution=execution)
    TriggeredExecution.objects.create(application=module.application, execution=execution, deployment=unified)
    ModuleClientDeployment.objects.create(module=module, client=fl_clients[0], environment="staging",
                                          deployment=unified)
    ModelRequirement.objects.create(dependency=dependency, aggregated_model=aggregated, deployment=unified)
    TaskResult.objects.create(task_id="task-1", task_name="flcore.run_execution", status="SUCCESS", worker="w1@host")
    GroupResult.objects.create(group_id="group-1")
    make_key(["fl:metrics:view"], user=operator)
    AuditEntry.objects.create(method="POST", path="/api/v1/x", status_code=201, outcome="success", request_id="r1")
    return {"execution": execution, "unified": unified}
