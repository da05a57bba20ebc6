"""What this service says it is: Qdrant's title, and the Qdrant version whose API it speaks.

The REST root, the gRPC health check, telemetry and peer metadata all report these, so a client
that checks the server version (qdrant-client warns on a mismatch) sees Qdrant 1.19.
"""

TITLE = "qdrant - vector search engine"
VERSION = "1.19.0"
