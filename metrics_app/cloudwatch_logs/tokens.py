"""Pagination tokens: where a listing stopped, opaque to the client.

Every listing here pages by keyset (the sort key of the last row returned), so rows written
between two pages neither repeat nor go missing. A token names the listing it belongs to, so
one from DescribeLogGroups handed to FilterLogEvents is refused rather than misread.

GetLogEvents' tokens keep AWS's visible form, ``f/<digits>`` and ``b/<digits>``, because
clients compare them: a call that finds nothing more hands back the token it was given.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from metrics_app.cloudwatch_logs.errors import token_invalid


def token_encode(listing: str, position: dict[str, Any]) -> str:
    document = json.dumps({"l": listing, **position}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")


def token_decode(listing: str, token: str) -> dict[str, Any]:
    """The position a token of ``listing`` stands for, or ``InvalidParameterException``."""
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise token_invalid() from None
    if not isinstance(document, dict) or document.pop("l", None) != listing:
        raise token_invalid()
    return document


@dataclass(frozen=True)
class StreamPosition:
    """A point between two events of one stream, reading forward (``f``) or backward (``b``)."""

    forward: bool
    timestamp_ms: int
    event_id: int

    def reversed(self) -> StreamPosition:
        """The same point, read the other way: after event (t, i) is up to and including it."""
        if self.forward:
            return StreamPosition(False, self.timestamp_ms, self.event_id + 1)
        # Event ids start at 1, so "from (t, 0) on" and "after (t, 0)" are the same events.
        return StreamPosition(True, self.timestamp_ms, max(self.event_id - 1, 0))

    def token(self) -> str:
        return f"{'f' if self.forward else 'b'}/{self.timestamp_ms:020d}{self.event_id:020d}"

    @classmethod
    def parse(cls, token: str) -> StreamPosition:
        match = _STREAM_TOKEN.fullmatch(token)
        if not match:
            raise token_invalid()
        timestamp_ms, event_id = int(match["timestamp"]), int(match["event"])
        if max(timestamp_ms, event_id) > _BIGINT_MAX:
            raise token_invalid()
        return cls(match["direction"] == "f", timestamp_ms, event_id)


_BIGINT_MAX = 2**63 - 2  # room for the +1 of reversed()
_STREAM_TOKEN = re.compile(r"(?P<direction>[fb])/(?P<timestamp>\d{20})(?P<event>\d{20})")
