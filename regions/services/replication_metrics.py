"""Cross-region replication in Prometheus, read from the database at scrape time.

Labelled by target region and status only (closed sets: the regions an operator created,
and the status choices), never by model or job.
"""
from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Min, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from fedplane.ops.metrics import DatabaseCollector

from ..choices import ReplicaStatus, ReplicationStatus
from ..models import Region, Replica, ReplicationJob, ReplicationTarget

__all__ = ["ReplicationCollector"]

_ACTIVE = (ReplicaStatus.PENDING, ReplicaStatus.IN_PROGRESS)


class ReplicationCollector(DatabaseCollector):
    WINDOW_SECONDS = 300

    @staticmethod
    def families() -> dict[str, GaugeMetricFamily]:
        return {
            "replicas": GaugeMetricFamily("fedplane_region_replicas", "Model version copies in each region, by status",
                                          labels=["region", "status"]),
            "active": GaugeMetricFamily("fedplane_region_replications_active",
                                        "Copies to the region queued or under way", labels=["region"]),
            "oldest": GaugeMetricFamily("fedplane_region_replication_oldest_seconds",
                                        "Age of the oldest copy to the region still queued or under way",
                                        labels=["region"]),
            "rate": GaugeMetricFamily("fedplane_region_replication_throughput_bytes",
                                      "Bytes per second copied into the region by copies that ended, 5 min",
                                      labels=["region"]),
            "jobs": GaugeMetricFamily("fedplane_region_replication_jobs", "Replication jobs by status",
                                      labels=["status"]),
        }

    def read(self) -> dict[str, GaugeMetricFamily]:
        f, now = self.families(), timezone.now()
        regions = list(Region.objects.order_by("name").values_list("name", flat=True))
        replicas = {(r["region__name"], r["status"]): r["n"] for r in
                    Replica.objects.order_by().values("region__name", "status").annotate(n=Count("id"))}
        active = {r["region__name"]: r for r in ReplicationTarget.objects.filter(status__in=_ACTIVE).order_by()
                  .values("region__name").annotate(n=Count("id"), since=Min("job__created_at"))}
        since = now - timedelta(seconds=self.WINDOW_SECONDS)
        copied = dict(ReplicationTarget.objects.filter(status=ReplicaStatus.COMPLETED, completed_at__gte=since)
                      .order_by().values_list("region__name").annotate(b=Sum("bytes_transferred")))
        for region in regions:
            for status in ReplicaStatus.values:
                f["replicas"].add_metric([region, status], replicas.get((region, status), 0))
            row = active.get(region)
            f["active"].add_metric([region], row["n"] if row else 0)
            f["oldest"].add_metric([region], max(0.0, (now - row["since"]).total_seconds()) if row else 0.0)
            f["rate"].add_metric([region], (copied.get(region) or 0) / self.WINDOW_SECONDS)
        jobs = dict(ReplicationJob.objects.order_by().values_list("status").annotate(n=Count("id")))
        for status in ReplicationStatus.values:
            f["jobs"].add_metric([status], jobs.get(status, 0))
        return f
