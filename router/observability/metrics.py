"""GET /metrics: the node in Prometheus' text format 0.0.4, with the names and labels of
Qdrant's own exporter.

The figures are gathered when a scrape asks (collections and cluster from the table of
contents, answers from `responses`, the process from /proc) and written by prometheus_client
from metric families, so the text is always well formed. Nothing here is registered in
prometheus_client's global registry: a scrape builds a registry of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from router.observability import process, responses
from router.observability.cluster_view import collection_figures
from router.observability.snapshot_activity import SNAPSHOTS
from router.version import VERSION

#: the content type of the text format 0.0.4
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def anonymized(value: str) -> str:
    """A stable stand-in for a name that must not leave the node (``anonymize=true``)."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class _Families:
    """Metric families named with the configured prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def gauge(self, name: str, doc: str, value: float | None = None,
              labels: list[str] | None = None) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.prefix + name, doc, value=value, labels=labels)

    def counter(self, name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
        return CounterMetricFamily(self.prefix + name, doc, labels=labels)


class NodeCollector:
    """Everything a scrape reports, gathered at the moment of `collect`."""

    def __init__(self, toc, anonymize: bool = False, prefix: str = "",
                 per_collection: bool = False) -> None:
        self.toc = toc
        self.anonymize = anonymize
        #: request figures by collection (a ``collection`` label) instead of in total
        self.per_collection = per_collection
        self.f = _Families(prefix)

    def collect(self) -> Iterator[Metric]:
        f = self.f
        info = f.gauge("app_info", "information about qdrant server", labels=["name", "version"])
        info.add_metric(["qdrant", VERSION], 1)
        yield info
        yield f.gauge("app_status_recovery_mode", "features enabled in qdrant server", 0)
        yield from self._collections()
        yield from self._responses("rest", responses.REST, ["method", "endpoint", "status"])
        yield from self._responses("grpc", responses.GRPC, ["endpoint", "status"])
        yield from self._cluster()
        yield from self._snapshots()
        for name, value in process.figures().items():
            yield f.gauge(name, name.replace("_", " "), value)

    def _snapshots(self) -> Iterator[Metric]:
        running, created = SNAPSHOTS.figures()
        now = self.f.gauge("snapshot_creation_running", "number of snapshot creations running",
                           labels=["id"])
        done = self.f.counter("snapshot_created", "total number of snapshots created", ["id"])
        for name in sorted(set(running) | set(created)):
            label = anonymized(name) if self.anonymize and name else name
            now.add_metric([label], running.get(name, 0))
            done.add_metric([label], created.get(name, 0))
        yield now
        yield done

    # -- collections --------------------------------------------------------------------------
    def _collections(self) -> Iterator[Metric]:
        f = self.f
        figures = collection_figures(self.toc)
        yield f.gauge("collections_total", "number of collections", len(figures))
        yield f.gauge("collections_vector_total", "total number of vectors in all collections",
                      sum(sum(c["vectors"].values()) for c in figures))
        per = {
            "collection_points": "approximate amount of points per collection",
            "collection_running_optimizations": "number of currently running optimization tasks",
            "collection_active_replicas_min": "minimum number of active replicas across shards",
            "collection_active_replicas_max": "maximum number of active replicas across shards",
            "collection_dead_replicas": "total amount of shard replicas in non-active state",
            "collection_shard_transfer_incoming": "incoming shard transfers currently running",
            "collection_shard_transfer_outgoing": "outgoing shard transfers currently running",
            "collection_update_queue_length": "updates waiting to be applied",
        }
        families = {name: f.gauge(name, doc, labels=["id"]) for name, doc in per.items()}
        vectors = f.gauge("collection_vectors", "amount of vectors grouped by vector name",
                          labels=["id", "vector"])
        for c in figures:
            name = anonymized(c["name"]) if self.anonymize else c["name"]
            for metric, family in families.items():
                family.add_metric([name], c[metric.removeprefix("collection_")])
            for vector, count in sorted(c["vectors"].items()):
                vectors.add_metric([name, anonymized(vector) if self.anonymize else vector],
                                   count)
        yield from families.values()
        yield vectors

    # -- answers ------------------------------------------------------------------------------
    def _responses(self, face: str, recorded: responses.Responses,
                   label_names: list[str]) -> Iterator[Metric]:
        f = self.f
        if self.per_collection:
            label_names = [*label_names, "collection"]
        base = f"{face}_responses"
        total = f.counter(f"{base}_total", f"total number of {face} responses", label_names)
        fails = f.counter(f"{base}_fail_total", f"total number of failed {face} responses",
                          label_names)
        avg = f.gauge(f"{base}_avg_duration_seconds", f"average {face} response duration",
                      labels=label_names)
        low = f.gauge(f"{base}_min_duration_seconds", f"minimum {face} response duration",
                      labels=label_names)
        high = f.gauge(f"{base}_max_duration_seconds", f"maximum {face} response duration",
                       labels=label_names)
        histogram = HistogramMetricFamily(f.prefix + f"{base}_duration_seconds",
                                          f"histogram of {face} response durations",
                                          labels=label_names)
        for key, stats in recorded.grouped(self.per_collection):
            labels = [str(part) for part in key]
            if self.per_collection and self.anonymize:
                labels[-1] = anonymized(labels[-1])
            total.add_metric(labels, stats.count)
            fails.add_metric(labels, stats.fails)
            avg.add_metric(labels, stats.total / stats.count if stats.count else 0.0)
            low.add_metric(labels, stats.low if stats.count else 0.0)
            high.add_metric(labels, stats.high)
            cumulative, buckets = 0, []
            for bound, count in zip(responses.BUCKETS, stats.buckets, strict=False):
                cumulative += count
                buckets.append((repr(bound), cumulative))
            buckets.append(("+Inf", stats.count))
            histogram.add_metric(labels, buckets, stats.total)
        yield from (total, fails, avg, low, high, histogram)

    # -- cluster ------------------------------------------------------------------------------
    def _cluster(self) -> Iterator[Metric]:
        f = self.f
        enabled = bool(self.toc.cluster_enabled)
        yield f.gauge("cluster_enabled", "is cluster support enabled", int(enabled))
        if not enabled:
            return
        status = self.toc.cluster_status()
        raft = status["raft_info"]
        yield f.gauge("cluster_peers_total", "total number of cluster peers", len(status["peers"]))
        yield f.gauge("cluster_term", "current cluster term", raft["term"])
        yield f.gauge("cluster_commit", "index of last committed (finalized) operation cluster "
                      "peer is aware of", raft["commit"])
        yield f.gauge("cluster_pending_operations_total", "total number of pending operations "
                      "for cluster peer", raft["pending_operations"])
        yield f.gauge("cluster_voter", "is cluster peer a voter or learner",
                      int(bool(raft["is_voter"])))


def render(toc, anonymize: bool = False, prefix: str = "", per_collection: bool = False) -> bytes:
    """The text of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(toc, anonymize, prefix, per_collection))
    return generate_latest(registry)
