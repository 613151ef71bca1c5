"""Runtime configuration: per-application settings, the public per-environment shell
document (MF 2.0 `init`/`registerRemotes` shape plus webpack's dynamic-remotes form),
its precomputed snapshots, and hot reload."""
from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from fedplane.api.envelope import dumps
from fedplane.events.services import emit

from ..choices import DeploymentStatus, DeploymentStrategy, Environment, ModuleStatus
from ..errors import ApplicationNotFound, InvalidConfiguration
from ..models import Application, Deployment, ModuleRelease, RuntimeConfig, ShellSnapshot
from .applications import application_get
from .modules import module_get

__all__ = ["runtime_config_get", "runtime_config_update", "runtime_config_data", "shell_document",
           "snapshots_rebuild", "shell_config", "in_canary", "runtime_reload", "etag_of"]


def runtime_config_get(application_id: Any) -> RuntimeConfig:
    app = application_get(application_id)
    config, _ = RuntimeConfig.objects.get_or_create(application=app)
    return config


def _remotes(app: Application, environment: str | None, targets: dict | None = None) -> list[dict]:
    """Registered modules of the application (what the environment serves, or a deployment's
    targets for its canary share), then the runtime config's extra remotes."""
    releases = {} if environment is None else {
        r.module_id: (r.url, r.version) for r in ModuleRelease.objects.filter(module__application=app,
                                                                             environment=environment)}
    remotes = []
    for module in app.modules.exclude(status=ModuleStatus.INACTIVE).order_by("name"):
        url, version = releases.get(module.pk, (module.url, module.version))
        target = (targets or {}).get(str(module.pk))
        if target:
            url, version = target["url"], target["version"]
        remotes.append({"name": module.name, "alias": module.name, "entry": url, "version": version,
                        "entryGlobalName": module.name, "shareScope": "default", "moduleId": str(module.pk),
                        "exposes": list(module.exposed_modules or [])})
    config = getattr(app, "runtime_config", None)
    for name, entry in sorted(((config.remotes if config else None) or {}).items()):
        url = entry.split("@", 1)[1] if isinstance(entry, str) and "@" in entry.split("://", 1)[0] else entry
        remotes.append({"name": name, "alias": name, "entry": url, "entryGlobalName": name, "shareScope": "default"})
    return remotes


def _shared(app: Application) -> dict:
    overrides = (getattr(app, "runtime_config", None) and app.runtime_config.shared) or {}
    shared = {}
    for dep in app.shared_dependencies.order_by("package", "version"):
        extra = overrides.get(dep.package) if isinstance(overrides.get(dep.package), dict) else {}
        shared[dep.package] = {"version": dep.version, "scope": dep.share_scope, "shareConfig": {
            "singleton": bool(extra.get("singleton", dep.singleton)),
            "requiredVersion": extra.get("requiredVersion", dep.required_version),
            "strictVersion": bool(extra.get("strictVersion", dep.strict_version)),
            "eager": bool(extra.get("eager", dep.load_strategy == "eager"))}}
    return shared


def runtime_config_data(config: RuntimeConfig) -> dict:
    app = config.application
    remotes = _remotes(app, None)
    return {"applicationId": str(app.pk), "name": app.name, "publicPath": config.public_path,
            "chunkLoadTimeout": config.chunk_load_timeout,
            "remotes": {r["name"]: r["entry"] for r in remotes}, "extraRemotes": config.remotes,
            "shared": _shared(app), "sharedOverrides": config.shared,
            "updatedAt": config.updated_at.isoformat().replace("+00:00", "Z")}


@transaction.atomic
def runtime_config_update(*, application_id: Any, public_path: str | None = None,
                          chunk_load_timeout: int | None = None, remotes: dict | None = None,
                          shared: dict | None = None) -> RuntimeConfig:
    app = application_get(application_id, for_update=True)
    config, _ = RuntimeConfig.objects.get_or_create(application=app)
    names = set(app.modules.values_list("name", flat=True))
    clash = sorted(names & set(remotes or {}))
    if clash:
        raise InvalidConfiguration(f"Remotes {clash} are registered modules; update them through /modules.",
                                   details={"remotes": clash})
    for field, value in (("public_path", public_path), ("chunk_load_timeout", chunk_load_timeout),
                         ("remotes", remotes), ("shared", shared)):
        if value is not None:
            setattr(config, field, value)
    config.save()
    app.runtime_config = config
    snapshots_rebuild(app)
    emit("application.config_changed", {"applicationId": str(app.pk), "name": app.name})
    return config


def shell_document(app: Application, environment: str, *, deployment: Deployment | None = None,
                   variant: str = "stable") -> dict:
    config = getattr(app, "runtime_config", None) or RuntimeConfig(application=app)
    targets = deployment.targets if deployment is not None and variant == "canary" else None
    remotes = _remotes(app, environment, targets)
    return {
        "name": app.name, "version": app.version, "environment": environment,
        "publicPath": config.public_path, "chunkLoadTimeout": config.chunk_load_timeout,
        # MF 2.0: init({name, remotes, shared}) / registerRemotes(remotes, {force: true}). A remote
        # there has `entry` or `version`, not both, so versions are listed beside it.
        "remotes": [{k: v for k, v in r.items() if k not in ("moduleId", "exposes", "version")} for r in remotes],
        "versions": {r["name"]: r["version"] for r in remotes if "version" in r},
        "shared": _shared(app),
        # webpack 5 ModuleFederationPlugin `remotes` strings, and what a dynamic-remotes loader
        # needs: the script URL, the container's global, and the exposed modules.
        "webpack": {"remotes": {r["name"]: f"{r['entryGlobalName']}@{r['entry']}" for r in remotes},
                    "dynamicRemotes": [{"url": r["entry"], "scope": r["entryGlobalName"],
                                        "modules": r.get("exposes", [])} for r in remotes]},
        "deployment": None if deployment is None else {
            "id": str(deployment.pk), "strategy": deployment.strategy, "variant": variant,
            "trafficPercent": deployment.traffic_percent},
    }


def etag_of(body: bytes) -> str:
    return '"%s"' % hashlib.sha256(body).hexdigest()[:32]


def snapshots_rebuild(app: Application) -> None:
    """Render the shell document of every environment; called in the transaction of any
    write that changes what a shell of `app` should load."""
    app = Application.objects.select_related("runtime_config").get(pk=app.pk)  # fresh: callers hold stale copies
    active = {d.environment: d for d in Deployment.objects.filter(
        application=app, status=DeploymentStatus.IN_PROGRESS,
        strategy__in=[DeploymentStrategy.CANARY, DeploymentStrategy.ROLLING])}
    for environment in Environment.values:
        deployment = active.get(environment)
        stable = dumps(shell_document(app, environment, deployment=deployment))
        values = {"application_name": app.name, "stable_body": stable, "stable_etag": etag_of(stable),
                  "canary_body": None, "canary_etag": "", "canary_percent": 0, "canary_salt": ""}
        if deployment is not None:
            canary = dumps(shell_document(app, environment, deployment=deployment, variant="canary"))
            values.update(canary_body=canary, canary_etag=etag_of(canary),
                          canary_percent=deployment.traffic_percent, canary_salt=str(deployment.pk))
        ShellSnapshot.objects.update_or_create(application=app, environment=environment, defaults=values)


def in_canary(salt: str, client_id: str, percent: int) -> bool:
    """Stable per shell: the client's bucket (0-9999) depends only on the deployment and the
    client id, so widening the share from 10% to 50% keeps every shell already in it."""
    digest = hashlib.sha256(f"{salt}:{client_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < percent * 100


def shell_config(application_ref: str, environment: str, client_id: str) -> tuple[bytes, str]:
    """(body, ETag) of the public shell document: one indexed read, no rendering."""
    try:
        key = {"application_id": uuid.UUID(application_ref)}
    except ValueError:
        key = {"application_name": application_ref}
    row = (ShellSnapshot.objects.filter(environment=environment, **key)
           .values_list("stable_body", "stable_etag", "canary_body", "canary_etag", "canary_percent",
                        "canary_salt").first())
    if row is None:
        raise ApplicationNotFound(f"Application {application_ref} not found.",
                                  details={"applicationId": application_ref, "environment": environment})
    stable, stable_etag, canary, canary_etag, percent, salt = row
    if canary is not None and client_id and in_canary(salt, client_id, percent):
        return bytes(canary), canary_etag
    return bytes(stable), stable_etag


@transaction.atomic
def runtime_reload(*, application_id: Any, module_id: Any, clear_cache: bool) -> dict:
    """Tell the shells of `application_id` on /federation/events to reload a remote."""
    app = application_get(application_id)
    module = module_get(module_id)
    if module.application_id != app.pk:
        raise InvalidConfiguration(f"Module {module.name} does not belong to application {app.name}.",
                                   details={"moduleId": str(module.pk), "applicationId": str(app.pk)})
    now = timezone.now()
    # A new query string makes browsers and CDNs fetch the entry again instead of a cached copy.
    sep = "&" if "?" in module.url else "?"
    entry = f"{module.url}{sep}v={int(now.timestamp() * 1000)}" if clear_cache else module.url
    data = {"applicationId": str(app.pk), "moduleId": str(module.pk), "moduleName": module.name,
            "clearCache": clear_cache, "entry": entry, "version": module.version,
            "requestedAt": now.isoformat().replace("+00:00", "Z")}
    event = emit("module.reload", data)
    return {**data, "eventId": event.id}
