"""What the Raft port's cluster secret costs: metadata operations per second of a 3-member Raft
group (pysyncobj over loopback, in this process), without a secret and with one (every frame
Fernet-encrypted and authenticated).

Each round proposes --ops alias changes, one after another (each waits for its commit, as the
REST face does), from --clients threads, on members in turn; ops/s is ops over wall time.
Rounds alternate plain / secret so drift on a shared machine hits both alike.

    python bench/raft_secret.py [--ops 300] [--clients 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consensus.raft import RaftConsensus  # noqa: E402
from tests.support.node import free_port  # noqa: E402


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the Raft group did not come up")
        time.sleep(0.05)


def _group(root: Path, secret: str | None) -> list[RaftConsensus]:
    ports: list[int] = []
    for _ in range(3):
        ports.append(free_port(frozenset(ports)))

    def member(i: int, bootstrap: str | None) -> RaftConsensus:
        return RaftConsensus(root / f"peer-{i}", f"http://127.0.0.1:{ports[i]}", bootstrap,
                             grpc_port=0, http_port=0, secret=secret)

    first = member(0, None)
    _wait(first.is_synced, 30)
    members = [first] + [member(i, f"http://127.0.0.1:{ports[0]}") for i in (1, 2)]
    _wait(lambda: all(m.is_synced() for m in members), 60)
    create = {"type": "create_collection", "name": "c", "uuid": "u-c",
              "config": {"params": {}}, "placement": [[]]}
    assert first.propose(create).ok
    _wait(lambda: all("c" in m.state.collections for m in members), 10)
    return members


def _round(members: list[RaftConsensus], ops: int, clients: int) -> float:
    per_client = ops // clients
    failures: list[str] = []

    def client(k: int) -> None:
        for i in range(per_client):
            action = {"kind": "create", "collection_name": "c", "alias_name": f"a-{k}-{i}"}
            result = members[(k + i) % 3].propose({"type": "change_aliases",
                                                   "actions": [action]})
            if not result.ok:
                failures.append(str(result))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} proposals failed: {failures[:3]}")
    return per_client * clients / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"plain": [], "secret": []}
    for _ in range(args.rounds):
        for kind, secret in (("plain", None), ("secret", "bench-cluster-secret")):
            with tempfile.TemporaryDirectory() as root:
                members = _group(Path(root), secret)
                try:
                    rates[kind].append(_round(members, args.ops, args.clients))
                finally:
                    for member in members:
                        member.log.destroy_synchronous()
    for kind, values in rates.items():
        print(f"{kind:7s} median {statistics.median(values):7.1f} ops/s   rounds: "
              + ", ".join(f"{v:.1f}" for v in values))
    change = statistics.median(rates["secret"]) / statistics.median(rates["plain"]) - 1
    print(f"secret vs plain: {change:+.1%}")


if __name__ == "__main__":
    main()
