"""What a Prometheus scrape of fedplane reads: the web's /metrics, and a worker's own port.

fedplane's families are of two kinds:
- metric objects (counters, histograms) updated where things happen: requests in the web
  processes, rounds recorded in Celery pool processes, module loads. With
  PROMETHEUS_MULTIPROC_DIR every process writes them to files in that directory, and a
  registry over the directory sums them (prometheus_client's multi-process mode);
- scrape-time collectors (executions, canaries, regions, replication), read from the
  database when scraped. Only the web's /metrics asks them: a worker's port would give the
  same series a second time.

`runplatform` gives its web and worker processes one directory, so /metrics shows all.
Workers on other hosts (docker/docker-compose.yml) serve their own directory on
FEDPLANE_WORKER_METRICS_ADDRESS, which Prometheus scrapes beside the web.
"""
from __future__ import annotations

import logging
import os

import prometheus_client
from django.conf import settings
from prometheus_client.metrics import MetricWrapperBase

__all__ = ["DatabaseCollector", "scrape_registry", "serve_worker_metrics"]

log = logging.getLogger(__name__)


class DatabaseCollector:
    """A scrape-time collector: ``families()`` names its (empty) families, ``read()`` fills them
    from the database. Registering only describes (no query); before migrate, a scrape exposes
    nothing of it rather than fail."""

    def families(self) -> dict:
        raise NotImplementedError

    def read(self) -> dict:
        raise NotImplementedError

    def describe(self):
        yield from self.families().values()

    def collect(self):
        from django.db import DatabaseError

        try:
            families = self.read()
        except DatabaseError:  # no tables yet
            return
        yield from families.values()

# Per-process collectors: in multi-process mode the files hold what matters of each process.
_PER_PROCESS = (prometheus_client.ProcessCollector, prometheus_client.PlatformCollector,
                prometheus_client.GCCollector)


def _registered() -> list:
    return list(prometheus_client.REGISTRY._collector_to_names)  # no public listing exists


def scrape_registry(*, database: bool = True) -> prometheus_client.CollectorRegistry:
    """The registry a scrape renders: the metric objects (summed over the processes' files in
    multi-process mode) and, with `database`, the scrape-time collectors."""
    multiproc = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    if database and not multiproc:
        return prometheus_client.REGISTRY
    registry = prometheus_client.CollectorRegistry()
    if multiproc:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    for collector in _registered():
        objects = isinstance(collector, (MetricWrapperBase, *_PER_PROCESS))
        if (not multiproc and objects) or (database and not objects):
            registry.register(collector)
    return registry


def serve_worker_metrics(sender=None, **kwargs):
    """Celery's worker_ready (main process): serve the worker's metric objects over HTTP on
    FEDPLANE_WORKER_METRICS_ADDRESS ("host:port"; empty: off). Its tasks run in pool
    processes, so this needs PROMETHEUS_MULTIPROC_DIR (one directory per worker host).
    Returns the HTTP server (None when off)."""
    address = settings.FEDPLANE_WORKER_METRICS_ADDRESS
    if not address:
        return None
    host, _, port = address.rpartition(":")
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        log.warning("FEDPLANE_WORKER_METRICS_ADDRESS without PROMETHEUS_MULTIPROC_DIR: only the main process's "
                    "metrics are served, not those of the pool processes that run the tasks")
    server, _ = prometheus_client.start_http_server(int(port), addr=host or "0.0.0.0",
                                                    registry=scrape_registry(database=False))
    log.info("worker metrics on http://%s/metrics", address)
    return server
