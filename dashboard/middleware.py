"""One structured (JSON) log line per HTTP request."""

from __future__ import annotations

import json
import logging
import time

logger = logging.getLogger("stratus.request")


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        logger.info(
            json.dumps(
                {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "request_id": response.get("x-amzn-RequestId"),
                    "access_key": getattr(request, "access_key_id", None),
                    "user": getattr(getattr(request, "user", None), "username", None) or None,
                    "error": response.get("x-amzn-ErrorType"),
                }
            )
        )
        return response
