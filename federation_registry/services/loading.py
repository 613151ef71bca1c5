"""`POST /modules/{id}/load`: really fetch a remote's entry (or manifest), measure it, record it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import transaction

from fedplane.api.errors import DomainError
from fedplane.events.services import emit

from ..choices import MetricKind, ModuleStatus
from ..errors import ModuleLoadFailed
from ..models import ModuleMetric, RemoteModule
from .applications import application_refresh_health
from .fetch import Fetched, fetch
from .manifest import parse_manifest
from .modules import module_get
from .prometheus import count_module_loads

__all__ = ["LoadResult", "module_load", "missing_exposes"]


@dataclass(frozen=True)
class LoadResult:
    module: RemoteModule
    url: str
    load_time: float
    size: int
    used_fallback: bool
    event_id: int


def missing_exposes(fetched: Fetched, expected: list[str]) -> list[str]:
    """Exposed modules absent from what was fetched. A manifest lists them in `exposes`; a
    webpack container entry keys its module map by the exposed request ("./Button"), so
    each must appear there as a quoted string."""
    if fetched.url.split("?", 1)[0].endswith(".json") or "json" in fetched.content_type:
        present = set(parse_manifest(fetched.body, fetched.url).exposed_modules)
        return [name for name in expected if name not in present]
    text = fetched.body.decode("utf-8", errors="replace")
    return [name for name in expected
            if not re.search(r"""["']%s["']""" % re.escape(name), text)]


def _attempt(url: str, expected: list[str]) -> Fetched:
    fetched = fetch(url)
    missing = missing_exposes(fetched, expected)
    if missing:
        raise ModuleLoadFailed(f"{url} does not expose {', '.join(missing)}.",
                               details={"url": url, "missingExposes": missing})
    return fetched


def module_load(*, module_id: Any, target_application: str = "", lazy: bool = True,
                fallback: str = "") -> LoadResult:
    """Fetch outside any transaction (a stalled server must not hold the write lock),
    then record the outcome; on failure the metric and `module.error` are committed
    before the error is raised to the caller."""
    module = module_get(module_id)
    expected = list(module.exposed_modules or [])
    used_fallback, error = False, None
    try:
        fetched = _attempt(module.url, expected)
    except DomainError as exc:
        error = exc
        fetched = None
        if fallback:
            try:
                fetched, used_fallback = _attempt(fallback, expected), True
            except DomainError:
                pass  # the primary's error is the one reported
    if fetched is None:
        _record_failure(module, error, target_application)
        raise error
    return _record_success(module, fetched, target_application, lazy, used_fallback)


@transaction.atomic
def _record_success(module: RemoteModule, fetched: Fetched, target: str, lazy: bool,
                    used_fallback: bool) -> LoadResult:
    size = len(fetched.body)
    row = ModuleMetric.objects.create(module=module, kind=MetricKind.LOAD, load_time=fetched.elapsed_ms, size=size,
                                      success=True)
    transaction.on_commit(partial(count_module_loads, [row]))
    RemoteModule.objects.filter(pk=module.pk).update(load_time=fetched.elapsed_ms, size=size,
                                                     status=ModuleStatus.ACTIVE)
    module.refresh_from_db()
    application_refresh_health(module.application)
    event = emit("module.loaded", {
        "moduleId": str(module.id), "applicationId": str(module.application_id), "loadTime": round(fetched.elapsed_ms, 2),
        "size": size, "url": fetched.url, "targetApplication": target, "lazy": lazy, "usedFallback": used_fallback})
    return LoadResult(module, fetched.url, fetched.elapsed_ms, size, used_fallback, event.id)


@transaction.atomic
def _record_failure(module: RemoteModule, error: DomainError, target: str) -> None:
    row = ModuleMetric.objects.create(module=module, kind=MetricKind.LOAD, success=False, error_code=error.code,
                                      error_message=error.message[:500])
    transaction.on_commit(partial(count_module_loads, [row]))
    RemoteModule.objects.filter(pk=module.pk).update(status=ModuleStatus.ERROR)
    application_refresh_health(module.application)
    emit("module.error", {"moduleId": str(module.id), "applicationId": str(module.application_id),
                          "code": error.code, "message": error.message, "url": module.url,
                          "targetApplication": target})
