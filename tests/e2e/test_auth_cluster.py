"""A secured 3-node cluster: API key, JWT RBAC and p2p TLS together, peers replicating over TLS;
the Raft port keyed by the cluster secret, so that a node with another secret cannot join and a
raw socket sending garbage, a pickle (code, without the secret) or replayed encrypted frames
changes nothing and is dropped."""

from __future__ import annotations

import os
import pickle
import socket
import struct
import time
import zlib

import httpx
import jwt
import pytest
import trustme
from pysyncobj.encryptor import getEncryptor

from tessera.config import Settings
from tessera.server import raft_secret
from tests.support.cluster import cluster_node, wait_until

KEY = "cluster-key-0123456789-0123456789-0123456789"


def _token(access) -> str:
    return jwt.encode({"access": access, "exp": int(time.time()) + 3600}, KEY, algorithm="HS256")


ADMIN = {"Authorization": f"Bearer {_token('m')}"}


def _secured(workdir, ca, bootstrap=None, key: str = KEY):
    node = cluster_node(workdir, bootstrap=bootstrap)
    workdir.mkdir(parents=True, exist_ok=True)
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.cert_chain_pems[0].write_to_path(str(workdir / "cert.pem"))
    cert.private_key_pem.write_to_path(str(workdir / "key.pem"))
    node.extra_env.pop("QDRANT__CLUSTER__P2P__SECRET", None)  # derived from the API key here
    node.extra_env.update({
        "QDRANT__SERVICE__API_KEY": key, "QDRANT__SERVICE__JWT_RBAC": "true",
        "QDRANT__CLUSTER__P2P__ENABLE_TLS": "true",
        "QDRANT__TLS__CERT": str(workdir / "cert.pem"),
        "QDRANT__TLS__KEY": str(workdir / "key.pem"),
        "QDRANT__TLS__CA_CERT": str(workdir.parent / "ca.pem"),
    })
    return node


def _peers(node) -> dict:
    return httpx.get(f"{node.url}/cluster", headers=ADMIN, timeout=5).json()["result"]["peers"]


def _frame(payload: bytes) -> bytes:
    return struct.pack("i", len(payload)) + payload


def _dropped(sock: socket.socket, timeout: float = 10.0) -> bool:
    """True once the server closed the connection."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


class _Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_secured_cluster_replicates_and_keeps_strangers_out(tmp_path):
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    first = _secured(tmp_path / "peer-0", ca)
    nodes = [first] + [_secured(tmp_path / f"peer-{i}", ca, bootstrap=first) for i in (1, 2)]
    stranger = None
    try:
        first.start().wait_ready(60)
        for node in nodes[1:]:
            node.start()
        for node in nodes[1:]:
            node.wait_ready(90)
        wait_until(lambda: all(len(_peers(n)) == 3 for n in nodes), 60, "three peers")

        made = httpx.put(f"{first.url}/collections/r", headers=ADMIN, timeout=60, json={
            "vectors": {"size": 2, "distance": "Dot"}, "shard_number": 1,
            "replication_factor": 3})
        assert made.status_code == 200, made.text
        writer = {"api-key": _token([{"collection": "r", "access": "rw"}])}
        for node in nodes:
            wait_until(lambda n=node: httpx.get(f"{n.url}/collections/r", headers=writer,
                                                timeout=5).status_code == 200, 30, "collection")
        stored = httpx.put(f"{nodes[1].url}/collections/r/points?wait=true", headers=writer,
                           timeout=30, json={"points": [{"id": 3, "vector": [1.0, 1.0]}]})
        assert stored.status_code == 200, stored.text
        for node in nodes:  # each replica holds it: the peers' TLS calls went through
            info = httpx.get(f"{node.url}/collections/r/cluster", headers=ADMIN, timeout=10)
            (local,) = info.json()["result"]["local_shards"]
            assert (local["points_count"], local["state"]) == (1, "Active"), info.text

        # a node with another key (so another Raft secret) asks to join: it is never a member
        stranger = _secured(tmp_path / "stranger", ca, bootstrap=first, key="another-key-" * 4)
        stranger.start()
        time.sleep(8)
        assert all(len(_peers(n)) == 3 for n in nodes)

        # raw sockets on the Raft port
        address = ("127.0.0.1", first.p2p_port)
        canary = tmp_path / "pickle-was-loaded"
        secret = raft_secret(Settings(api_key=KEY))
        sealer = getEncryptor(secret)

        def sealed(message) -> bytes:
            return _frame(sealer.encrypt(zlib.compress(pickle.dumps(message))))

        old_key = os.urandom(32)  # a previous session's key, as a recorded session holds it
        attacks = {
            "garbage": _frame(os.urandom(200)),
            "a pickle, unencrypted": _frame(zlib.compress(pickle.dumps(_Exploit(str(canary))))),
            "replayed frames": sealed(os.urandom(32)) + sealed((old_key, "127.0.0.1:1"))
            + sealed((old_key, {"type": "append_entries", "term": 10**6})),
        }
        for what, data in attacks.items():
            with socket.create_connection(address, timeout=10) as sock:
                sock.sendall(data)
                assert _dropped(sock), what
        assert not canary.exists()
        assert all(len(_peers(n)) == 3 for n in nodes)
        still = httpx.put(f"{first.url}/collections/r/points?wait=true", headers=writer,
                          timeout=30, json={"points": [{"id": 4, "vector": [0.0, 1.0]}]})
        assert still.status_code == 200, still.text
        counted = httpx.post(f"{nodes[2].url}/collections/r/points/count", headers=writer,
                             timeout=10, json={"exact": True})
        assert counted.json()["result"]["count"] == 2
    finally:
        for node in nodes + ([stranger] if stranger else []):
            node.stop()


def test_the_raft_secret_is_set_or_derived_from_the_api_key():
    assert raft_secret(Settings(p2p_secret="s3cret", api_key=KEY)) == "s3cret"
    derived = raft_secret(Settings(api_key=KEY))
    assert derived and KEY not in derived and derived == raft_secret(Settings(api_key=KEY))
    assert derived != raft_secret(Settings(api_key=KEY + "x"))
    assert raft_secret(Settings()) is None


@pytest.fixture(autouse=True)
def _quiet_insecure_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
