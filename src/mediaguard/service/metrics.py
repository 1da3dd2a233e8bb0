"""Prometheus metrics of one service process.

Design note: each :class:`Metrics` owns its own ``CollectorRegistry`` instead of
prometheus_client's global one, so building an app has no process-wide side effect and
two apps (tests, embedding) never collide on metric names. Request metrics are labelled
by the route *template* (``/v1/jobs/{job_id}``), never the raw path, so label
cardinality stays bounded whatever clients send. Queue depths are read from the
database at scrape time, so they are true for the whole deployment, including jobs
handled by separate ``mediaguard worker`` processes; counters (requests, verdicts,
webhook attempts) count what this process did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mediaguard.store import Store
from mediaguard.store.errors import StoreError
from mediaguard.verdict import ScanFailure, ScanResult

log = logging.getLogger("mediaguard.service.metrics")

#: Content type of the exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _QueueCollector(Collector):
    """Reads job and delivery counts per state when Prometheus scrapes."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            jobs = self.store.jobs.job_counts()
            deliveries = self.store.webhooks.delivery_counts()
        except StoreError as err:
            log.warning("metrics: cannot read queue depth: %s", err)
            return
        family = GaugeMetricFamily(
            "mediaguard_jobs", "Jobs in the database, by state.", labels=["state"]
        )
        for state, count in jobs.items():
            family.add_metric([state], count)
        yield family
        family = GaugeMetricFamily(
            "mediaguard_webhook_deliveries",
            "Webhook deliveries in the database, by state.",
            labels=["state"],
        )
        for state, count in deliveries.items():
            family.add_metric([state], count)
        yield family


class Metrics:
    """The counters and histograms the service updates, and their exposition.

    Args:
        store: the store, for queue depths; None leaves them out.
    """

    def __init__(self, store: Store | None = None) -> None:
        """Register every metric in a fresh registry."""
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mediaguard_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mediaguard_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.verdicts = Counter(
            "mediaguard_verdicts",
            "Verdicts produced, by decision and by where (sync scan or job).",
            ["decision", "via"],
            registry=self.registry,
        )
        self.scan_failures = Counter(
            "mediaguard_scan_failures",
            "Inputs that could not be scanned, by error type and by where.",
            ["error", "via"],
            registry=self.registry,
        )
        self.webhook_attempts = Counter(
            "mediaguard_webhook_attempts",
            "Webhook delivery attempts made by this process, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        if store is not None:
            self.registry.register(_QueueCollector(store))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_result(self, result: ScanResult, via: str) -> None:
        """Count one verdict or scan failure."""
        if isinstance(result, ScanFailure):
            self.scan_failures.labels(result.error, via).inc()
        else:
            self.verdicts.labels(result.decision.value, via).inc()

    def observe_delivery(self, outcome: str, status: int | None) -> None:
        """Count one webhook attempt."""
        self.webhook_attempts.labels(outcome).inc()

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
