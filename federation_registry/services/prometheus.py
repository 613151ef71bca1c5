"""Module Federation in Prometheus: shell configuration requests (and their 304s), module
loads and their errors, and the state of canary deployments.

Labels come from closed sets (environments, status codes, metric kinds, variants, error
codes), so counting never adds series per application or per shell. The canary gauges
name an application, but only for a deployment in progress (one per application and
environment at most), read from the database at scrape time.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, F, Q
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from fedplane.ops.metrics import DatabaseCollector

from ..choices import DeploymentStatus, DeploymentStrategy, Environment, MetricKind
from ..models import Deployment, ModuleMetric

__all__ = ["count_shell_request", "count_module_loads", "DeploymentsCollector"]

SHELL_REQUESTS = Counter("fedplane_mf_shell_config_requests",
                         "Requests for a shell's runtime configuration, by status (304: the shell's copy was current)",
                         ["environment", "status"])
MODULE_LOADS = Counter("fedplane_mf_module_loads",
                       "Module loads: fetched by the registry (kind=load) or reported by shells (kind=telemetry)",
                       ["kind", "variant", "result"])
MODULE_LOAD_ERRORS = Counter("fedplane_mf_module_load_errors", "Module loads that failed, by error code",
                             ["kind", "variant", "code"])
_STEPPED = (DeploymentStrategy.CANARY, DeploymentStrategy.ROLLING)


def count_shell_request(environment: str, status: int) -> None:
    SHELL_REQUESTS.labels(environment if environment in Environment.values else "other", str(status)).inc()


def count_module_loads(rows: Iterable[ModuleMetric]) -> None:
    """Count stored load outcomes (call once their transaction committed)."""
    for row in rows:
        kind = row.kind if row.kind in MetricKind.values else "other"
        variant = row.variant or "none"  # stable | canary for a module a deployment in progress targets
        MODULE_LOADS.labels(kind, variant, "ok" if row.success else "error").inc()
        if not row.success:
            MODULE_LOAD_ERRORS.labels(kind, variant, row.error_code or "unknown").inc()


class DeploymentsCollector(DatabaseCollector):
    """Deployments by strategy and status, and each canary (or rolling) deployment in progress:
    its traffic share, and the samples and error rate of its current step (what an automatic
    rollback judges). Registered once per process (federation_registry/apps.py)."""

    @staticmethod
    def families() -> dict[str, GaugeMetricFamily]:
        canary = ["application", "environment", "strategy"]
        return {
            "deployments": GaugeMetricFamily("fedplane_mf_deployments", "Deployments by strategy and status",
                                             labels=["strategy", "status"]),
            "percent": GaugeMetricFamily("fedplane_mf_canary_traffic_percent",
                                         "Share of shells a deployment in progress serves the new versions to",
                                         labels=canary),
            "samples": GaugeMetricFamily("fedplane_mf_canary_step_samples",
                                         "Loads reported by canary shells in the deployment's current step",
                                         labels=canary),
            "errors": GaugeMetricFamily("fedplane_mf_canary_step_error_rate",
                                        "Share of those loads that failed", labels=canary),
        }

    def read(self) -> dict[str, GaugeMetricFamily]:
        f = self.families()
        counts = {(r["strategy"], r["status"]): r["n"] for r in
                  Deployment.objects.order_by().values("strategy", "status").annotate(n=Count("id"))}
        for strategy in DeploymentStrategy.values:
            for status in DeploymentStatus.values:
                f["deployments"].add_metric([strategy, status], counts.get((strategy, status), 0))
        # The current step's canary loads of every deployment in progress, in the one query.
        step = Q(metrics__variant="canary") & (Q(step_started_at=None) | Q(metrics__created_at__gte=F("step_started_at")))
        for d in (Deployment.objects.filter(status=DeploymentStatus.IN_PROGRESS, strategy__in=_STEPPED)
                  .select_related("application")
                  .annotate(samples=Count("metrics", filter=step),
                            errors=Count("metrics", filter=step & Q(metrics__success=False)))):
            labels = [d.application.name, d.environment, d.strategy]
            f["percent"].add_metric(labels, d.traffic_percent)
            f["samples"].add_metric(labels, d.samples)
            f["errors"].add_metric(labels, d.errors / d.samples if d.samples else 0.0)
        return f
