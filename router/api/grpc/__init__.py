"""Qdrant's gRPC API (port 6334): the same operations as the REST face, over protobuf.

``from_grpc`` converts request messages into the JSON-shaped bodies the REST face parses,
``to_grpc`` converts internal results into response messages, ``services`` wires each RPC to the
shared request parsing and the collections, and ``server.start_grpc_server`` serves them.
"""
