"""The account a request acts in: where names the caller gives are looked up, what lists
show, and whose ARNs new resources get.

An account is a tenant: its functions, queues, topics, streams and log groups are its own.
The front door (``awsapi.front.serve``), the Lambda API's middleware and the dashboard's set
the request's account (the signed caller's, or the signed-in user's) with ``acting_in`` for
the request's duration; selectors scope name lookups and lists to ``current_account()``.
Code outside a request (workers, pollers, the scheduler) acts in no account: it finds a
resource wherever it is, and builds ARNs from the resource's own ``account_id``.

Names are unique across the install for now (an account cannot create a function whose name
another account uses), so the data plane, which knows functions by name, needs no account.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_account: ContextVar[str | None] = ContextVar("stratus_account", default=None)


def current_account() -> str | None:
    """The account the current request acts in; None outside a request."""
    return _account.get()


@contextmanager
def acting_in(account_id: str | None) -> Iterator[None]:
    token = _account.set(account_id)
    try:
        yield
    finally:
        _account.reset(token)
