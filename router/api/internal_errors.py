"""The last resort of both faces: an exception nothing foresaw becomes Qdrant's internal-error
text, and its traceback is logged under a request id that the answer names too, so an operator
can find one from the other."""

from __future__ import annotations

import logging
import uuid

log = logging.getLogger(__name__)


def internal_error_message(exc: BaseException, where: str) -> str:
    request_id = uuid.uuid4().hex[:16]
    log.error("unhandled error (request id %s) on %s", request_id, where, exc_info=exc)
    detail = str(exc) or type(exc).__name__
    return f"Service internal error: {detail} (request id {request_id})"
