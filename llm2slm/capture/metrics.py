"""Prometheus metrics of one gateway app, on a registry of its own (two apps in one process do not collide)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from llm2slm.capture.writer import RecordWriter

# request latency buckets, seconds: sub-millisecond for the gateway's own cost, up to a minute for long answers
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _WriterCollector(Collector):
    """Reads the writer's counters when scraped, so the hot path only bumps plain integers."""

    def __init__(self, writer: RecordWriter):
        self.writer = writer

    def collect(self) -> Iterator[Metric]:
        counts = self.writer.counts
        for name, value, text in (
            ("llm2slm_capture_records_written", counts.written, "call records the store confirmed durable"),
            ("llm2slm_capture_records_dropped", counts.dropped, "call records refused: queue full or closed"),
            ("llm2slm_capture_records_failed", counts.failed, "call records whose store write failed"),
            ("llm2slm_capture_records_unbuilt", counts.build_failed, "calls whose record could not be built"),
        ):
            yield CounterMetricFamily(name, text, value=value)
        yield GaugeMetricFamily("llm2slm_capture_queue_depth", "call records waiting for the writer",
                                value=self.writer.queued())


class _RouterCollector(Collector):
    """The router's counters, read when scraped: calls by task and route, fallbacks by reason, shadow comparisons,
    the version each live route serves."""

    def __init__(self, router: Any):
        self.router = router

    def collect(self) -> Iterator[Metric]:
        counts = self.router.counts
        for name, text, labels, counter in (
            ("llm2slm_route_calls", "calls by task and route (specialist, llm, fallback)", ["task", "route"],
             counts.calls),
            ("llm2slm_route_fallbacks", "calls the LLM answered because the specialist failed, by reason",
             ["task", "reason"], counts.fallbacks),
            ("llm2slm_route_shadow", "shadow comparisons by outcome (agree, disagree, error, dropped)",
             ["task", "outcome"], counts.shadow),
        ):
            family = CounterMetricFamily(name, text, labels=labels)
            for key, value in sorted(counter.items()):
                family.add_metric(list(key), value)
            yield family
        version = GaugeMetricFamily("llm2slm_route_version", "model version each live route serves (1 per route)",
                                    labels=["task", "model", "version", "mode"])
        for task, route in sorted(self.router.table.routes.items()):
            version.add_metric([task, route.name, route.version, route.mode], 1)
        yield version
        yield CounterMetricFamily("llm2slm_route_refresh_errors", "route refreshes that failed (last good kept)",
                                  value=self.router.table.errors)


class GatewayMetrics:
    def __init__(self, writer: RecordWriter, router: Any = None):
        self.registry = CollectorRegistry()
        self.requests = Counter("llm2slm_gateway_requests", "chat-completion requests answered, by HTTP status",
                                ["code"], registry=self.registry)
        self.latency = Histogram("llm2slm_gateway_request_seconds",
                                 "time from request to response start (whole answer when not streamed), seconds",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.upstream_latency = Histogram("llm2slm_gateway_upstream_seconds",
                                          "time the upstream LLM took to answer (headers), seconds",
                                          buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_WriterCollector(writer))
        if router is not None:
            self.registry.register(_RouterCollector(router))
        self._by_code: dict[int, Counter] = {}

    def observe(self, status: int, seconds: float) -> None:
        child = self._by_code.get(status)
        if child is None:
            child = self._by_code[status] = self.requests.labels(code=str(status))
        child.inc()
        self.latency.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
