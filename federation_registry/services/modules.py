"""Remote modules: register (directly or from an mf-manifest.json), update with history."""
from __future__ import annotations

from typing import Any, Iterable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import prefetch_related_objects

from fedplane.api.errors import Conflict
from fedplane.events.services import emit

from ..errors import InvalidConfiguration, ModuleNotFound
from ..models import ModuleVersion, RemoteModule, SharedDependency
from .applications import application_get
from .graph import ensure_acyclic
from .manifest import ManifestInfo, read_manifest

__all__ = ["module_get", "module_register", "module_update", "module_data"]


def module_get(module_id: Any, *, for_update: bool = False) -> RemoteModule:
    qs = RemoteModule.objects.select_for_update() if for_update else RemoteModule.objects
    try:
        return qs.select_related("application").get(pk=module_id)
    except (RemoteModule.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise ModuleNotFound(f"Module {module_id} not found.", details={"moduleId": str(module_id)})


def _consumed(refs: Iterable[str], application_id) -> list[RemoteModule]:
    """Remotes named by id, or by container name within the same application."""
    found = []
    for ref in refs:
        module = RemoteModule.objects.filter(application_id=application_id, name=ref).first()
        if module is None:
            try:
                module = RemoteModule.objects.get(pk=ref)
            except (RemoteModule.DoesNotExist, ValueError, DjangoValidationError):
                raise InvalidConfiguration(f"Remote {ref!r} (in `remotes`) is not registered.",
                                           details={"remote": ref})
        found.append(module)
    return found


def module_data(manifest: ManifestInfo, data: dict) -> dict:
    """Fields from a manifest, overridden by anything the caller gave explicitly."""
    return {"name": data.get("name") or manifest.name, "url": data.get("url") or manifest.entry_url,
            "version": data.get("version") or manifest.version,
            "exposedModules": data.get("exposedModules") or manifest.exposed_modules,
            "dependencies": data.get("dependencies") or {s["name"]: s["requiredVersion"] for s in manifest.shared},
            "remotes": data.get("remotes") if data.get("remotes") is not None else manifest.remotes}


def _share_from_manifest(app, manifest: ManifestInfo) -> None:
    for item in manifest.shared:
        dep, _ = SharedDependency.objects.get_or_create(
            package=item["name"], version=item["version"], singleton=item["singleton"],
            required_version=item["requiredVersion"],
            defaults={"strict_version": False})
        dep.applications.add(app)


def module_register(*, application_id: Any, data: dict) -> RemoteModule:
    """`data` is the validated request: name, url, exposedModules, dependencies, remotes,
    version, or manifestUrl (fetched first; explicit fields win over the manifest's).
    The manifest is fetched before the transaction opens: a slow server must not hold
    the database's write lock."""
    application_get(application_id)
    manifest = read_manifest(data["manifestUrl"]) if data.get("manifestUrl") else None
    if manifest is not None:
        data = {**data, **module_data(manifest, data)}
    return _register(application_id, data, manifest)


@transaction.atomic
def _register(application_id: Any, data: dict, manifest: ManifestInfo | None) -> RemoteModule:
    app = application_get(application_id)
    if not data.get("name") or not data.get("url"):
        raise InvalidConfiguration("`name` and `url` are required unless `manifestUrl` gives them.")
    if RemoteModule.objects.filter(application=app, name=data["name"]).exists():
        raise Conflict(f"Application {app.name} already has a module {data['name']!r}.",
                       details={"name": data["name"]})
    module = RemoteModule.objects.create(
        application=app, name=data["name"], url=data["url"], manifest_url=data.get("manifestUrl") or "",
        version=data.get("version") or "0.0.0", exposed_modules=data.get("exposedModules") or [],
        dependencies=data.get("dependencies") or {})
    consumed = _consumed(data.get("remotes") or [], app.id)
    if consumed:
        ensure_acyclic(module.id, [m.id for m in consumed])
        module.consumes.set(consumed)
    if manifest is not None:
        _share_from_manifest(app, manifest)
    ModuleVersion.objects.create(module=module, url=module.url, version=module.version, change="registered")
    emit("module.registered", {"moduleId": str(module.id), "applicationId": str(app.id), "name": module.name,
                               "url": module.url, "version": module.version})
    from .runtime import snapshots_rebuild
    snapshots_rebuild(app)
    prefetch_related_objects([module], "consumes")  # what the response shows, read before the commit
    return module


_FIELDS = {"name": "name", "url": "url", "version": "version", "exposedModules": "exposed_modules",
           "dependencies": "dependencies", "status": "status", "manifestUrl": "manifest_url"}


def module_update(*, module_id: Any, data: dict) -> RemoteModule:
    module_get(module_id)
    if data.get("manifestUrl"):
        data = {**data, **module_data(read_manifest(data["manifestUrl"]), data)}
    return _update(module_id, data)


@transaction.atomic
def _update(module_id: Any, data: dict) -> RemoteModule:
    module = module_get(module_id, for_update=True)
    name = data.get("name")
    if name and name != module.name and RemoteModule.objects.filter(application=module.application_id,
                                                                     name=name).exists():
        raise Conflict(f"The application already has a module {name!r}.", details={"name": name})
    if "remotes" in data and data["remotes"] is not None:
        consumed = _consumed(data["remotes"], module.application_id)
        ensure_acyclic(module.id, [m.id for m in consumed])
        module.consumes.set(consumed)
    before = (module.url, module.version)
    for key, field in _FIELDS.items():
        if key in data and data[key] is not None:
            setattr(module, field, data[key])
    module.save()
    changed = before != (module.url, module.version)
    if changed:
        ModuleVersion.objects.create(module=module, url=module.url, version=module.version, change="updated")
    emit("module.updated", {"moduleId": str(module.id), "applicationId": str(module.application_id),
                            "url": module.url, "version": module.version,
                            "previous": {"url": before[0], "version": before[1]} if changed else None})
    from .runtime import snapshots_rebuild
    snapshots_rebuild(module.application)
    prefetch_related_objects([module], "consumes")  # what the response shows, read before the commit
    return module
