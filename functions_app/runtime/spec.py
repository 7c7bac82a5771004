"""Plain data that describes what to run and what happened, passed between the parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class FunctionSpec:
    """One function version as an execution environment needs it (no model instances)."""

    function_name: str
    version: str
    revision_id: str
    code_sha256: str  # hex
    code_storage_name: str
    runtime: str
    handler: str
    memory_size: int
    timeout: int
    ephemeral_storage: int
    environment: dict[str, str]
    log_group: str
    log_format: str
    region: str
    account_id: str
    role: str = ""  # the execution role's ARN

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Environments are reusable only for the same code and configuration."""
        return (self.function_name, self.version, self.revision_id, self.code_sha256)

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"


@dataclass
class InvokeRequest:
    request_id: str
    payload: bytes
    invoked_function_arn: str
    client_context: str | None = None  # JSON text, already decoded from base64
    trace_id: str | None = None


@dataclass
class InvokeOutcome:
    """What one invoke produced, from the environment's point of view."""

    payload: bytes
    function_error: str | None  # "Unhandled" on any function or runtime failure
    error_type: str | None
    duration_ms: float
    max_memory_mb: int
    log_lines: list[tuple[int, str]] = field(default_factory=list)
    environment_lost: bool = False  # the environment died or was killed and must not be reused
    status: str = "success"  # success | error | timeout | oom | crash | init_error


class SpecLoad(Protocol):
    """Finds a function version's spec (the worker command passes ``hosting/specs.spec_load``).

    ``revision_id``, when given, is the revision the caller saw: a cached spec of that
    revision may be answered without a look-up.
    """

    def __call__(self, function_name: str, version: str, revision_id: str | None = None) -> FunctionSpec: ...
