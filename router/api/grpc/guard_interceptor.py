"""Access control for the calls grpcio's inner server answers (health, reflection, streaming):
a grpc.aio interceptor over the same guard as the front (router.api.guard), installed only
when the node is secured. A refused call ends before its handler runs."""

from __future__ import annotations

import grpc

from router.api.access import Refusal
from router.api.guard import Guard


class GuardInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None:
            return handler
        api_key = authorization = None
        for key, value in details.invocation_metadata or ():
            if key == "api-key":
                api_key = value
            elif key == "authorization":
                authorization = value
        try:
            access, need = self._guard.admit_grpc(details.method, api_key, authorization)
            self._guard.check(access, need, None, details.method)
        except Refusal as refusal:
            return _refusing(handler, refusal)
        return handler


def _refusing(handler: grpc.RpcMethodHandler, refusal: Refusal) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that ends the call with the refusal."""
    code = next(c for c in grpc.StatusCode if c.value[0] == refusal.grpc_code)

    async def refuse(_request, context) -> None:
        await context.abort(code, refusal.message)

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
