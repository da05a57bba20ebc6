"""The API key on the gRPC face: a grpc.aio interceptor, installed only when a key is set.

A call without the key in its ``api-key`` metadata (or an ``authorization: Bearer`` token) ends
with UNAUTHENTICATED before its handler runs; the health checks stay open (router.api.auth).
"""

from __future__ import annotations

import grpc

from router.api.auth import OPEN_METHODS, ApiKey


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, api_key: ApiKey) -> None:
        self._api_key = api_key

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or details.method in OPEN_METHODS:
            return handler
        api_key = authorization = None
        for key, value in details.invocation_metadata or ():
            if key == "api-key":
                api_key = value
            elif key == "authorization":
                authorization = value
        refusal = self._api_key.refusal(api_key, authorization)
        return handler if refusal is None else _refusing(handler, refusal)


def _refusing(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that ends the call as unauthenticated."""

    async def refuse(_request, context) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse, **serializers)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse, **serializers)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse, **serializers)
    return grpc.unary_unary_rpc_method_handler(refuse, **serializers)
