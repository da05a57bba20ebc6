"""TLS on a real node (service.enable_tls, tls.*): qdrant-client with https=True over REST and
gRPC, client certificates when service.verify_https_client_certificate is set, and a new
certificate picked up after tls.cert_ttl without a restart. Certificates come from trustme."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time

import grpc
import httpx
import pytest
import trustme
from qdrant_client import models

from tests.support.cli import cli_env
from tests.support.node import Node

KEY = "tls-test-key-0123456789-0123456789"

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    # gRPC's default roots (what qdrant-client's https=True channel trusts) are read from here
    os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = str(path)
    authority.path = path
    return authority


def _issue(ca, directory, name: str = "node"):
    cert = ca.issue_cert("127.0.0.1", "localhost", common_name=name)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return cert, cert_path, key_path


def _tls_node(ca, workdir, **env) -> Node:
    workdir.mkdir(parents=True, exist_ok=True)
    _, cert_path, key_path = _issue(ca, workdir)
    node = Node(workdir, env={
        "QDRANT__SERVICE__ENABLE_TLS": "true", "QDRANT__TLS__CERT": str(cert_path),
        "QDRANT__TLS__KEY": str(key_path), "QDRANT__TLS__CA_CERT": str(ca.path), **env})
    node.verify = ssl.create_default_context(cafile=str(ca.path))
    return node


def _served_cert(port: int, ca, alpn: str) -> bytes:
    context = ssl.create_default_context(cafile=str(ca.path))
    context.set_alpn_protocols([alpn])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return tls.getpeercert(binary_form=True)


def _der(cert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())


def test_qdrant_client_over_https_and_grpc_tls_and_a_reloaded_certificate(ca, tmp_path):
    node = _tls_node(ca, tmp_path / "n", QDRANT__SERVICE__API_KEY=KEY,
                     QDRANT__TLS__CERT_TTL="1")
    try:
        node.start().wait_ready(60)
        assert node.url.startswith("https://")
        for prefer_grpc in (False, True):
            client = node.client(prefer_grpc=prefer_grpc, https=True, api_key=KEY,
                                 verify=node.verify, check_compatibility=False)
            name = f"tls{int(prefer_grpc)}"
            client.create_collection(name, vectors_config=models.VectorParams(
                size=2, distance=models.Distance.DOT))
            client.upsert(name, [models.PointStruct(id=1, vector=[1.0, 0.0])], wait=True)
            assert [p.id for p in client.query_points(name, query=[1.0, 0.0]).points] == [1]
        # the admin CLI over HTTPS: a private CA through SSL_CERT_FILE, the key as --api-key
        env = {**cli_env(), "SSL_CERT_FILE": str(ca.path)}
        listed = subprocess.run(
            [sys.executable, "-m", "tessera", "--url", node.url, "--api-key", KEY, "-o", "json",
             "collection", "list"], capture_output=True, text=True, env=env, timeout=120)
        assert listed.returncode == 0, listed.stderr
        assert {c["name"] for c in json.loads(listed.stdout)} >= {"tls0", "tls1"}
        with pytest.raises(httpx.HTTPError):  # plain text on the TLS port
            httpx.get(f"http://127.0.0.1:{node.http_port}/readyz", timeout=5)

        before = _served_cert(node.grpc_port, ca, "h2")
        renewed, _, _ = _issue(ca, tmp_path / "n", name="renewed")
        assert _der(renewed) != before
        deadline = time.time() + 20
        while time.time() < deadline:
            if (_served_cert(node.http_port, ca, "http/1.1") == _der(renewed)
                    and _served_cert(node.grpc_port, ca, "h2") == _der(renewed)):
                break
            time.sleep(0.5)
        else:
            pytest.fail("the renewed certificate was not served within 20 s (cert_ttl 1 s)")
        assert node.http.get("/readyz").status_code == 200  # and still serving, same process
    finally:
        node.stop()


def test_client_certificates_are_required_when_configured(ca, tmp_path):
    node = _tls_node(ca, tmp_path / "m", QDRANT__SERVICE__VERIFY_HTTPS_CLIENT_CERTIFICATE="true")
    client_cert = ca.issue_cert("client")
    cert_file, key_file = tmp_path / "client.pem", tmp_path / "client.key"
    client_cert.cert_chain_pems[0].write_to_path(str(cert_file))
    client_cert.private_key_pem.write_to_path(str(key_file))
    with_cert = ssl.create_default_context(cafile=str(ca.path))
    with_cert.load_cert_chain(str(cert_file), str(key_file))
    node.verify = with_cert
    try:
        node.start().wait_ready(60)
        assert httpx.get(f"{node.url}/collections", verify=with_cert, timeout=10).status_code == 200
        without = ssl.create_default_context(cafile=str(ca.path))
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{node.url}/collections", verify=without, timeout=10)

        from qdrant_client import grpc as pb

        root = ca.cert_pem.bytes()
        good = grpc.ssl_channel_credentials(root, key_file.read_bytes(), cert_file.read_bytes())
        with grpc.secure_channel(f"127.0.0.1:{node.grpc_port}", good) as channel:
            listed = pb.CollectionsStub(channel).List(pb.ListCollectionsRequest(), timeout=10)
            assert listed.collections == []
        with grpc.secure_channel(f"127.0.0.1:{node.grpc_port}",
                                 grpc.ssl_channel_credentials(root)) as channel:
            with pytest.raises(grpc.RpcError) as info:
                pb.CollectionsStub(channel).List(pb.ListCollectionsRequest(), timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        node.stop()
