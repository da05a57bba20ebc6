"""The Raft leader's share of the cluster's upkeep: carry out the rebalancing plan
(``router.cluster.rebalancer``) one step at a time, through the same consensus operations as
the operator's shard API, so each step is a transfer the target peer's duties run.

One step at a time in the whole cluster: a step is taken only while no transfer runs, which
keeps within every per-node transfer limit and lets each move finish (its source dropped)
before the next plan is made. Peers gone longer than ``repair_after_sec`` count as lost: their
replicas are replaced elsewhere (and trimmed from the metadata once the replacement is Active).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from router.cluster.rebalancer import Step, plan

log = logging.getLogger(__name__)

#: seconds between two looks at the plan
PERIOD = 1.0


@dataclass(frozen=True)
class RebalancePolicy:
    #: cluster.rebalance.enabled: the leader moves replicas by itself
    enabled: bool = True
    #: cluster.replica_repair_after_sec: a peer down this long has its replicas replaced
    repair_after_sec: float = 300.0


DEFAULT_REBALANCE = RebalancePolicy()


class RebalanceDuty:
    def __init__(self, toc: Any, policy: RebalancePolicy) -> None:
        self.toc = toc
        self.policy = policy
        self._down_since: dict[int, float] = {}
        self._next = 0.0

    def lost_peers(self, state, live: list[int], now: float) -> set[int]:
        """Peers of the metadata that have been unreachable longer than the repair delay
        (as this node has seen them: its own clock, reset when it takes over)."""
        known = {int(p) for p in state.peers}
        for peer in known - set(live):
            self._down_since.setdefault(peer, now)
        for peer in set(self._down_since) - (known - set(live)):
            del self._down_since[peer]
        return {p for p, since in self._down_since.items()
                if now - since >= self.policy.repair_after_sec}

    def current_plan(self, now: float | None = None) -> list[Step]:
        consensus = self.toc.consensus
        state = consensus.state
        live = consensus.live_peers()
        draining = {int(p) for p, info in state.peers.items() if info.get("draining")}
        lost = self.lost_peers(state, live, time.monotonic() if now is None else now)
        return plan(state.collections, live, draining, lost)

    def tick(self) -> None:
        """Called by the duties loop: act when this peer leads and the time has come."""
        now = time.monotonic()
        consensus = self.toc.consensus
        if not self.policy.enabled or now < self._next or not consensus.is_leader():
            if not consensus.is_leader():
                self._down_since.clear()  # a new leader starts its own count
            return
        self._next = now + PERIOD
        if any(e.get("transfers") for e in consensus.state.collections.values()):
            return
        steps = self.current_plan(now)
        if steps:
            self._take(steps[0])

    def _take(self, step: Step) -> None:
        entry = self.toc.consensus.state.collections.get(step.collection)
        if entry is None:
            return
        base = {"name": step.collection, "uuid": entry["uuid"], "shard_id": step.shard_id}
        if step.kind == "drop":
            op = {"type": "drop_replica", **base, "peer_id": step.source}
        else:
            op = {"type": "start_transfer", **base, "from": step.source, "to": step.target,
                  "kind": step.kind, "method": "stream_records"}
        try:
            result = self.toc.consensus.propose(op, timeout=5.0)
        except Exception as exc:
            log.info("rebalancing: %s of %s/%s: %s", step.kind, step.collection,
                     step.shard_id, exc)
            return
        log.info("rebalancing: %s %s/%s %s -> %s (%s): %s", step.kind, step.collection,
                 step.shard_id, step.source, step.target, step.reason,
                 "ok" if result.ok else result.message)
