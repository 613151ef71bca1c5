"""Shell telemetry: load times and errors reported by shells, attributed to the variant
(stable or canary) each shell was served, and the canary's step checked against its
thresholds: a breach rolls back on its own, a healthy step widens when autoPromote is on."""
from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction

from ..choices import DeploymentStatus, MetricKind
from ..errors import InvalidConfiguration, InvalidTransition
from ..models import Deployment, ModuleMetric, RemoteModule
from .applications import application_by_ref, application_refresh_health
from .deployments import deployment_promote, deployment_rollback
from .metrics import percentile
from .prometheus import count_module_loads
from .runtime import in_canary

__all__ = ["telemetry_record", "step_verdict"]


def step_verdict(d: Deployment) -> tuple[str, dict]:
    """("wait" | "breach" | "healthy", evidence) for the canary share of the current step."""
    rows = list(ModuleMetric.objects.filter(deployment=d, variant="canary", created_at__gte=d.step_started_at)
                .values_list("success", "load_time"))
    thresholds = d.thresholds
    samples = len(rows)
    errors = sum(1 for ok, _ in rows if not ok)
    times = sorted(t for ok, t in rows if ok and t is not None)
    evidence = {"samples": samples, "errors": errors, "errorRate": round(errors / samples, 4) if samples else 0.0,
                "p95LoadTime": round(percentile(times, 0.95), 2) if times else None, "thresholds": thresholds}
    if samples < int(thresholds.get("minSamples") or 1):
        return "wait", evidence
    if evidence["errorRate"] > float(thresholds.get("errorRate") if thresholds.get("errorRate") is not None else 1):
        return "breach", {**evidence, "broken": "errorRate"}
    limit = thresholds.get("loadTimeMs")
    if limit is not None and evidence["p95LoadTime"] is not None and evidence["p95LoadTime"] > float(limit):
        return "breach", {**evidence, "broken": "loadTimeMs"}
    return "healthy", evidence


def telemetry_record(*, application_id: Any, environment: str, client_id: str, samples: list[dict]) -> dict:
    with transaction.atomic():
        app = application_by_ref(application_id)
        modules = {str(m.pk): m for m in RemoteModule.objects.filter(application=app)}
        by_name = {m.name: m for m in modules.values()}
        deployment = Deployment.objects.filter(application=app, environment=environment,
                                               status=DeploymentStatus.IN_PROGRESS).first()
        variant = "stable"
        if deployment is not None and client_id and in_canary(str(deployment.pk), client_id,
                                                               deployment.traffic_percent):
            variant = "canary"
        rows = []
        for sample in samples:
            ref = str(sample.get("moduleId") or sample.get("module") or "")
            module = modules.get(ref) or by_name.get(ref)
            if module is None:
                raise InvalidConfiguration(f"Module {ref!r} is not a module of {app.name}.", details={"module": ref})
            in_deployment = deployment is not None and str(module.pk) in deployment.targets
            error = sample.get("error") or ""
            rows.append(ModuleMetric(
                module=module, kind=MetricKind.TELEMETRY, load_time=sample.get("loadTime"), size=sample.get("size"),
                success=not error, error_code="MF002" if error else "", error_message=str(error)[:500],
                client_id=client_id[:200], deployment=deployment if in_deployment else None,
                variant=variant if in_deployment else ""))
        ModuleMetric.objects.bulk_create(rows)
        transaction.on_commit(partial(count_module_loads, rows))
        application_refresh_health(app)
    result: dict = {"accepted": len(rows), "variant": variant, "deployment": None}
    if deployment is not None:
        verdict, evidence = step_verdict(deployment)
        try:
            deployment = _act(deployment, verdict, evidence)
        except InvalidTransition:  # a concurrent report already rolled back or finished it
            deployment = Deployment.objects.get(pk=deployment.pk)
        result["deployment"] = {"id": str(deployment.pk), "status": deployment.status,
                                "trafficPercent": deployment.traffic_percent, "verdict": verdict, "evidence": evidence}
    return result


def _act(deployment: Deployment, verdict: str, evidence: dict) -> Deployment:
    if verdict == "breach":
        return deployment_rollback(
                deployment_id=deployment.pk, automatic=True, evidence=evidence, expected_step=deployment.step_index,
                reason=f"automatic rollback: {evidence['broken']} over threshold at {deployment.traffic_percent}%")
    if verdict == "healthy" and deployment.thresholds.get("autoPromote"):
        return deployment_promote(deployment_id=deployment.pk, expected_step=deployment.step_index,
                                  reason=f"automatic promotion after {evidence['samples']} healthy samples")
    return deployment
