"""Mutual TLS between nodes (DISTRIBUTION §3), with certificates made in the test:
two nodes with certificates from the cluster's CA connect; a client without a
certificate, one with a certificate from another CA, and a plaintext node are all
refused, and the TLS node goes on serving."""
from __future__ import annotations

import grpc
import pytest
from cluster_support import COOKIE
from rogue_client import RogueClient
from tls_support import CA


def test_two_nodes_with_certificates_connect_and_talk(cluster, tmp_path) -> None:
    ca = CA(tmp_path / "pki")
    a = cluster.start("a", *ca.tls_flags("a"))
    b = cluster.start("b", *ca.tls_flags("b"), join=[a])
    b.wait_err(r"nodeup a ")
    a.wait_err(r"nodeup b ")
    cluster.start("c", *ca.tls_flags("c"), join=[b])      # and the mesh forms over TLS too
    a.wait_err(r"nodeup c ")


def _refused(address: str, credentials: grpc.ChannelCredentials) -> None:
    rogue = RogueClient(address, COOKIE.encode(), credentials=credentials)
    try:
        with pytest.raises(grpc.RpcError) as failed:
            rogue.handshake()
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        rogue.close()


def test_clients_without_a_good_certificate_are_refused(cluster, tmp_path) -> None:
    ca = CA(tmp_path / "pki")
    a = cluster.start("a", *ca.tls_flags("a"))
    root = ca.path.read_bytes()
    _refused(a.address, grpc.ssl_channel_credentials(root_certificates=root))     # no client certificate
    stranger = CA(tmp_path / "other", "another CA")
    cert, key = stranger.node("x")
    _refused(a.address, grpc.ssl_channel_credentials(root_certificates=root, private_key=key.read_bytes(),
                                                     certificate_chain=cert.read_bytes()))
    b = cluster.start("b", *ca.tls_flags("b"), join=[a])
    b.wait_err(r"nodeup a ")


def test_a_plaintext_node_and_a_tls_node_refuse_each_other(cluster, tmp_path) -> None:
    ca = CA(tmp_path / "pki")
    a = cluster.start("a", *ca.tls_flags("a"))
    plain = cluster.start("p", join=[a])
    plain.wait_err(r"join 127\.0\.0\.1:\d+ failed: cannot reach .*UNAVAILABLE")
    secure = cluster.start("s", *ca.tls_flags("s"), join=[plain])
    secure.wait_err(r"join 127\.0\.0\.1:\d+ failed: cannot reach .*UNAVAILABLE")
    assert not plain.err.matching("nodeup") and not secure.err.matching("nodeup a|nodeup p")
