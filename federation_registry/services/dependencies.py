"""Shared dependencies: configure them, and resolve what each application gets at runtime."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from fedplane.api.errors import DomainError, ErrorCode
from fedplane.events.services import emit

from ..errors import ApplicationNotFound, DependencyNotFound
from ..models import Application, RuntimeConfig, SharedDependency
from .applications import application_get
from .resolution import Loaded, ShareEntry, resolve

__all__ = ["dependency_get", "dependency_create", "dependency_update", "dependency_delete",
           "dependencies_resolve", "entries_for"]


def dependency_get(dependency_id: Any) -> SharedDependency:
    try:
        return SharedDependency.objects.get(pk=dependency_id)
    except (SharedDependency.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise DependencyNotFound(f"Shared dependency {dependency_id} not found.",
                                 details={"dependencyId": str(dependency_id)})


def _rebuild(apps) -> None:
    from .runtime import snapshots_rebuild
    for app in apps:
        snapshots_rebuild(app)


@transaction.atomic
def dependency_create(*, package: str, version: str, applications: list | None = None, **fields: Any
                      ) -> SharedDependency:
    apps = [application_get(a) for a in applications or []]
    if not fields.get("required_version"):
        fields["required_version"] = f"^{version}"  # R14: MF 2.0 formatShare's default
    dep = SharedDependency.objects.create(package=package, version=version, **fields)
    dep.applications.set(apps)
    _rebuild(apps)
    return dep


@transaction.atomic
def dependency_update(*, dependency_id: Any, applications: list | None = None, **fields: Any) -> SharedDependency:
    dep = dependency_get(dependency_id)
    before = list(dep.applications.all())
    for name, value in fields.items():
        setattr(dep, name, value)
    dep.save()
    if applications is not None:
        dep.applications.set([application_get(a) for a in applications])
    _rebuild(set(before) | set(dep.applications.all()))
    return dep


@transaction.atomic
def dependency_delete(*, dependency_id: Any) -> None:
    dep = dependency_get(dependency_id)
    apps = list(dep.applications.all())
    dep.delete()
    _rebuild(apps)


def entries_for(app: Application, deps: list[SharedDependency], shared_config: dict | None) -> list[ShareEntry]:
    """The application's share config: its SharedDependency rows, with the runtime config's
    `shared` block overriding per package (it is what the shell is initialised with)."""
    overrides = shared_config or {}
    entries = []
    for dep in deps:
        extra = overrides.get(dep.package) if isinstance(overrides.get(dep.package), dict) else {}
        entries.append(ShareEntry(
            application=app.name, package=dep.package, version=dep.version,
            required_version=extra.get("requiredVersion", dep.required_version),
            singleton=bool(extra.get("singleton", dep.singleton)),
            strict_version=extra.get("strictVersion", dep.strict_version),
            eager=bool(extra.get("eager", dep.load_strategy == "eager")), fallback=dep.fallback,
            scope=dep.share_scope))
    return entries


_CONFIG_FIELDS = {"requiredVersion": "required_version", "singleton": "singleton", "strictVersion": "strict_version",
                  "eager": "eager", "shareScope": "scope", "version": "version"}


def _with_request_config(app: Application, entries: list[ShareEntry], config: dict) -> list[ShareEntry]:
    """The request's `shared` config for one application laid over its stored share config.
    `import: false` makes it a consumer that provides nothing (webpack's import: false: no own copy,
    nothing registered); a package it has no row for is added when the request says enough."""
    by_package = {e.package: e for e in entries}
    for package, fields in config.items():
        changes = {_CONFIG_FIELDS[k]: v for k, v in fields.items() if k in _CONFIG_FIELDS}
        if "import" in fields:
            changes["fallback"] = changes["provides"] = bool(fields["import"])
        entry = by_package.get(package)
        if entry is None:
            if fields.get("import", True) and not fields.get("version"):
                raise DomainError(f"{app.name} has no shared dependency {package}: give its version, or import: false.",
                                  code=ErrorCode.VALIDATION_ERROR, status=422,
                                  details={"shared": {str(app.pk): {package: ["version required unless import is "
                                                                              "false"]}}})
            entry = ShareEntry(application=app.name, package=package, version=None, required_version=None)
        entry = replace(entry, **changes)
        if not entry.fallback:
            entry = replace(entry, version=None)  # import: false: no copy of its own to fall back on
        by_package[package] = entry
    return list(by_package.values())


def _applications(application_ids: list) -> list[Application]:
    limit = settings.FEDERATION_RESOLVE_MAX_APPLICATIONS
    if not application_ids:
        apps = list(Application.objects.order_by("name")[:limit + 1])
        if len(apps) > limit:
            raise DomainError(f"The registry holds more than {limit} applications: name the ones to resolve.",
                              code=ErrorCode.VALIDATION_ERROR, status=422,
                              details={"applications": [f"required when more than {limit} are registered"]})
        return apps
    ids = list(dict.fromkeys(str(a) for a in application_ids))
    found = {str(app.pk): app for app in Application.objects.filter(pk__in=ids)}
    missing = next((a for a in ids if a not in found), None)
    if missing is not None:
        raise ApplicationNotFound(f"Application {missing} not found.", details={"applicationId": missing})
    return [found[a] for a in ids]


@transaction.atomic
def dependencies_resolve(*, application_ids: list, strategy: str, overrides: dict[str, str],
                         runtime: str, share_strategy: str, loaded: dict[str, str],
                         loaded_versions: list[dict] | None = None, shared: dict | None = None) -> dict:
    """Resolve for the applications in the given order (the shell first; a repeated id counts once,
    at its first place); every application, by name, when none are named. `loaded` and
    `loaded_versions` (several per package, with who provided each and whether it is still
    loading) describe the page; `shared` overrides share configs for this resolution. Emits
    dependency.conflict per conflict, else dependency.resolved. Linear in applications x
    packages: one query for the applications, one pass to group the decisions."""
    apps = _applications(application_ids)
    by_app: dict = {}
    for dep in SharedDependency.objects.filter(applications__in=apps).distinct().prefetch_related("applications"):
        for app in dep.applications.all():
            by_app.setdefault(app.pk, []).append(dep)
    shared_configs = dict(RuntimeConfig.objects.filter(application__in=apps).values_list("application_id", "shared"))
    plan = [(app.name, entries_for(app, sorted(by_app.get(app.pk, []), key=lambda d: (d.package, d.version)),
                                   shared_configs.get(app.pk))) for app in apps]
    configs = {str(k): v for k, v in (shared or {}).items()}
    unknown = sorted(set(configs) - {str(app.pk) for app in apps})
    if unknown:
        raise DomainError("shared names applications this resolution does not include.",
                          code=ErrorCode.VALIDATION_ERROR, status=422,
                          details={"shared": {a: ["not among the applications resolved"] for a in unknown}})
    plan = [(name, _with_request_config(app, entries, configs[str(app.pk)]) if str(app.pk) in configs else entries)
            for app, (name, entries) in zip(apps, plan)]
    records = [Loaded(p, v) for p, v in loaded.items()] + [
        Loaded(r["package"], r["version"], r.get("from") or "(page)", r.get("status", "loaded"),
               r.get("shareScope", "default")) for r in loaded_versions or []]
    result = resolve(plan, strategy=strategy, runtime=runtime, share_strategy=share_strategy,
                     overrides=overrides, loaded=records)
    ids = {app.name: str(app.pk) for app in apps}
    decisions = [{**d.as_dict(), "applicationId": ids.get(d.application)} for d in result.decisions]
    shared: dict[str, dict[str, dict]] = {}
    for d in decisions:
        shared.setdefault(d["application"], {})[d["package"]] = d
    conflicts = result.conflicts
    for conflict in conflicts:
        emit("dependency.conflict", {**conflict, "strategy": strategy},
             severity="error" if conflict["severity"] == "error" else "warning")
    if not conflicts:
        emit("dependency.resolved", {"applications": list(ids.values()), "strategy": strategy,
                                     "packages": len({d["package"] for d in decisions})})
    return {"strategy": strategy, "runtime": runtime, "shareStrategy": share_strategy,
            "resolved": not any(c["severity"] == "error" for c in conflicts),
            "applications": [{"applicationId": ids[name], "name": name, "shared": shared.get(name, {})}
                             for name, _ in plan],
            "scope": {scope: {pkg: sorted(versions) for pkg, versions in packages.items()}
                      for scope, packages in result.scope.items()},
            "conflicts": conflicts,
            "warnings": sum(len(d["warnings"]) for d in decisions),
            "errors": sum(len(d["errors"]) for d in decisions)}
