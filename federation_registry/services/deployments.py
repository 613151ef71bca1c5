"""Deployments: blue-green, canary and rolling, as one explicit state machine.

Blue-green switches what an environment serves at once. Canary and rolling serve the
new remote URLs to a growing share of shells (stable per shell, see runtime.in_canary),
widening step by step while the canary's telemetry stays within its thresholds and
rolling back on its own when a step breaks one. Every transition is recorded on the
deployment and emitted as an event.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from fedplane.events.services import emit

from ..choices import ApplicationStatus, DeploymentStatus, DeploymentStrategy
from ..errors import DeploymentFailed, DeploymentNotFound, InvalidConfiguration, InvalidTransition
from ..models import Application, Deployment, ModuleRelease, RemoteModule
from .applications import application_get
from .runtime import snapshots_rebuild

__all__ = ["deployment_get", "application_deploy", "deployment_promote", "deployment_rollback",
           "TRANSITIONS", "DEFAULT_STEPS", "DEFAULT_THRESHOLDS"]

TRANSITIONS: dict[str, set[str]] = {
    DeploymentStatus.IN_PROGRESS: {DeploymentStatus.IN_PROGRESS, DeploymentStatus.COMPLETED,
                                   DeploymentStatus.ROLLED_BACK, DeploymentStatus.FAILED},
    DeploymentStatus.COMPLETED: {DeploymentStatus.ROLLED_BACK},
    DeploymentStatus.ROLLED_BACK: set(),
    DeploymentStatus.FAILED: set(),
}
EVENTS = {DeploymentStatus.IN_PROGRESS: "application.deploying", DeploymentStatus.COMPLETED: "application.deployed",
          DeploymentStatus.ROLLED_BACK: "application.rolled_back",
          DeploymentStatus.FAILED: "application.deployment_failed"}
DEFAULT_STEPS = {DeploymentStrategy.CANARY: [10, 25, 50, 100], DeploymentStrategy.ROLLING: [25, 50, 75, 100],
                 DeploymentStrategy.BLUE_GREEN: [100]}
DEFAULT_THRESHOLDS = {"errorRate": 0.05, "loadTimeMs": None, "minSamples": 20, "autoPromote": True}


def deployment_get(deployment_id: Any, *, for_update: bool = False) -> Deployment:
    qs = Deployment.objects.select_for_update() if for_update else Deployment.objects
    try:
        return qs.select_related("application").get(pk=deployment_id)
    except (Deployment.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise DeploymentNotFound(f"Deployment {deployment_id} not found.", details={"deploymentId": str(deployment_id)})


def _payload(d: Deployment, **extra: Any) -> dict:
    return {"deploymentId": str(d.pk), "applicationId": str(d.application_id), "environment": d.environment,
            "strategy": d.strategy, "status": d.status, "trafficPercent": d.traffic_percent, **extra}


def _transition(d: Deployment, to: str, reason: str, **extra: Any) -> None:
    """The one place a deployment changes status: checks the table, records, emits."""
    if to not in TRANSITIONS[d.status]:
        raise InvalidTransition(f"A deployment that is {d.status} cannot become {to}.",
                                details={"deploymentId": str(d.pk), "status": d.status, "requested": to})
    now = timezone.now()
    d.transitions = [*d.transitions, {"from": d.status, "to": to, "trafficPercent": d.traffic_percent,
                                      "at": now.isoformat().replace("+00:00", "Z"), "reason": reason}]
    d.status = to
    d.reason = reason[:500]
    d.save()
    event = EVENTS[to] if to != DeploymentStatus.IN_PROGRESS or len(d.transitions) == 1 \
        else "application.deployment_step"
    emit(event, _payload(d, reason=reason, **extra),
         severity="warning" if to in (DeploymentStatus.ROLLED_BACK, DeploymentStatus.FAILED) else "info")


def _served(module: RemoteModule, environment: str) -> tuple[str, str]:
    release = ModuleRelease.objects.filter(module=module, environment=environment).first()
    return (release.url, release.version) if release else (module.url, module.version)


def _targets(app: Application, environment: str, wanted: list[dict] | None) -> dict:
    modules = {str(m.pk): m for m in app.modules.all()}
    by_name = {m.name: m for m in modules.values()}
    chosen = wanted if wanted else [{"moduleId": key} for key in modules]
    if not chosen:
        raise InvalidConfiguration(f"Application {app.name} has no modules to deploy.")
    targets = {}
    for item in chosen:
        module = modules.get(str(item.get("moduleId"))) or by_name.get(item.get("moduleId") or item.get("name"))
        if module is None:
            raise InvalidConfiguration(f"Module {item.get('moduleId') or item.get('name')} is not a module of "
                                       f"{app.name}.", details={"module": item.get("moduleId") or item.get("name")})
        previous_url, previous_version = _served(module, environment)
        targets[str(module.pk)] = {"name": module.name, "url": item.get("url") or module.url,
                                   "version": item.get("version") or module.version,
                                   "previousUrl": previous_url, "previousVersion": previous_version}
    return targets


def _apply(d: Deployment, key: str) -> None:
    """Point the environment's releases at the targets' `url` (or `previousUrl` on rollback)."""
    for module_id, target in d.targets.items():
        version_key = "version" if key == "url" else "previousVersion"
        ModuleRelease.objects.update_or_create(module_id=module_id, environment=d.environment,
                                               defaults={"url": target[key], "version": target[version_key]})


def _settle(d: Deployment) -> None:
    Application.objects.filter(pk=d.application_id).update(
        status=ApplicationStatus.DEPLOYING if d.status == DeploymentStatus.IN_PROGRESS else ApplicationStatus.ACTIVE)
    snapshots_rebuild(d.application)


def _complete(d: Deployment, reason: str) -> None:
    d.traffic_percent, d.step_index = 100, len(d.steps) - 1
    _apply(d, "url")
    _transition(d, DeploymentStatus.COMPLETED, reason)


@transaction.atomic
def application_deploy(*, application_id: Any, environment: str, strategy: str, config: dict) -> Deployment:
    app = application_get(application_id, for_update=True)
    if Deployment.objects.filter(application=app, environment=environment,
                                 status=DeploymentStatus.IN_PROGRESS).exists():
        raise DeploymentFailed(f"A deployment of {app.name} to {environment} is in progress; promote, finish or "
                               "roll it back first.", details={"applicationId": str(app.pk), "environment": environment})
    steps = list(config.get("steps") or DEFAULT_STEPS[strategy])
    if strategy == DeploymentStrategy.BLUE_GREEN:
        steps = [100]
    thresholds = {**DEFAULT_THRESHOLDS, **{k: v for k, v in (config.get("thresholds") or {}).items()
                                           if k in DEFAULT_THRESHOLDS}}
    d = Deployment(application=app, environment=environment, strategy=strategy, status=DeploymentStatus.IN_PROGRESS,
                   targets=_targets(app, environment, config.get("modules")), steps=steps, step_index=0,
                   traffic_percent=steps[0], thresholds=thresholds, config=config, step_started_at=timezone.now())
    d.transitions = [{"from": None, "to": d.status, "trafficPercent": d.traffic_percent,
                      "at": d.step_started_at.isoformat().replace("+00:00", "Z"), "reason": "deploy"}]
    d.save()
    emit(EVENTS[DeploymentStatus.IN_PROGRESS], _payload(d, targets=d.targets))
    if d.traffic_percent >= 100:
        _complete(d, "blue-green switch" if strategy == DeploymentStrategy.BLUE_GREEN else "single step")
    _settle(d)
    return d


@transaction.atomic
def deployment_promote(*, deployment_id: Any, reason: str = "manual promotion",
                       expected_step: int | None = None) -> Deployment:
    """Widen to the next step; the last step (100%) completes the deployment. With
    `expected_step` (automatic promotion), a deployment that has moved on since its
    telemetry was judged is left as it is, so two reports cannot skip a step."""
    d = deployment_get(deployment_id, for_update=True)
    if expected_step is not None and (d.step_index != expected_step or d.status != DeploymentStatus.IN_PROGRESS):
        return d
    if d.status != DeploymentStatus.IN_PROGRESS:
        raise InvalidTransition(f"Only an in-progress deployment can be promoted; this one is {d.status}.",
                                details={"deploymentId": str(d.pk), "status": d.status})
    d.step_index = min(d.step_index + 1, len(d.steps) - 1)
    d.traffic_percent = d.steps[d.step_index]
    d.step_started_at = timezone.now()
    if d.traffic_percent >= 100:
        _complete(d, reason)
    else:
        _transition(d, DeploymentStatus.IN_PROGRESS, reason, step=d.step_index)
    _settle(d)
    return d


@transaction.atomic
def deployment_rollback(*, deployment_id: Any, reason: str = "manual rollback", automatic: bool = False,
                        evidence: dict | None = None, expected_step: int | None = None) -> Deployment:
    d = deployment_get(deployment_id, for_update=True)
    if expected_step is not None and (d.step_index != expected_step or d.status != DeploymentStatus.IN_PROGRESS):
        return d  # judged on a step that is over (see deployment_promote)
    if d.status == DeploymentStatus.COMPLETED:
        newer = Deployment.objects.filter(application_id=d.application_id, environment=d.environment,
                                          created_at__gt=d.created_at).exclude(pk=d.pk)
        if newer.exists():
            raise InvalidTransition("Only the latest deployment of an environment can be rolled back.",
                                    details={"deploymentId": str(d.pk)})
        _apply(d, "previousUrl")
    _transition(d, DeploymentStatus.ROLLED_BACK, reason, automatic=automatic, evidence=evidence or {})
    _settle(d)
    return d
