"""Validation of everything a caller can set on a function, with AWS's error codes.

One layer, used by the Lambda API and the dashboard alike. Each check raises a
``LambdaError`` whose message says what to fix.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import lzma
import re
import zipfile
import zlib
from dataclasses import dataclass

from functions_app.errors import InvalidParameterValue, ValidationFailed
from functions_app.runtime.code_cache import UNZIPPED_MAX_BYTES
from functions_app.runtime.languages import available_runtimes, runtime_get

MEMORY_MIN, MEMORY_MAX = 128, 10240
TIMEOUT_MIN, TIMEOUT_MAX = 1, 900
EPHEMERAL_MIN, EPHEMERAL_MAX = 512, 10240
ENVIRONMENT_MAX_BYTES = 4 * 1024
DESCRIPTION_MAX = 256
ZIP_MAX_BYTES = 52_428_800  # CodeSizeZipped
ZIP_ENTRIES_MAX = 100_000  # Stratus's own bound; AWS documents none
TOTAL_CODE_SIZE = 80_530_636_800

FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
ALIAS_NAME = re.compile(r"^(?!^[0-9]+$)[a-zA-Z0-9-_]{1,128}$")
STATEMENT_ID = re.compile(r"^[a-zA-Z0-9-_.]{1,100}$")
ROLE_ARN = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
ENV_KEY = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])*$")
HANDLER = re.compile(r"^[^\s]+$")
RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


def _constraint(value: object, field: str, constraint: str) -> ValidationFailed:
    return ValidationFailed(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
    )


def _integer(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValue(f"{field} must be an integer, got {value!r}.")
    return value


def _bounded(value: object, field: str, low: int, high: int) -> int:
    number = _integer(value, field)
    if number < low:
        raise _constraint(number, field, f"Member must have value greater than or equal to {low}")
    if number > high:
        raise _constraint(number, field, f"Member must have value less than or equal to {high}")
    return number


def function_name_check(name: object) -> str:
    if not isinstance(name, str) or not FUNCTION_NAME.match(name):
        raise _constraint(
            name, "functionName", "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]{1,64}"
        )
    return name


def memory_size_check(value: object) -> int:
    return _bounded(value, "memorySize", MEMORY_MIN, MEMORY_MAX)


def timeout_check(value: object) -> int:
    return _bounded(value, "timeout", TIMEOUT_MIN, TIMEOUT_MAX)


def ephemeral_storage_check(value: object) -> int:
    if not isinstance(value, dict) or "Size" not in value:
        raise InvalidParameterValue(
            'EphemeralStorage must be an object with a Size in MB, e.g. {"Size": 512}.'
        )
    return _bounded(value["Size"], "ephemeralStorage.size", EPHEMERAL_MIN, EPHEMERAL_MAX)


def description_check(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidParameterValue("Description must be a string.")
    if len(value) > DESCRIPTION_MAX:
        raise _constraint(
            value[:40] + "…",
            "description",
            f"Member must have length less than or equal to {DESCRIPTION_MAX}",
        )
    return value


def role_check(value: object) -> str:
    if not isinstance(value, str) or not ROLE_ARN.match(value):
        raise _constraint(
            value,
            "role",
            "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
        )
    return value


def runtime_check(value: object) -> str:
    if not isinstance(value, str) or runtime_get(value) is None:
        names = ", ".join(available_runtimes())
        raise InvalidParameterValue(
            f"Value {value} at 'runtime' failed to satisfy constraint: this Stratus host can run only "
            f"these runtimes: [{names}]"
        )
    return value


def handler_check(value: object, *, runtime: str) -> str:
    spec = runtime_get(runtime)
    if value is None or value == "":
        if spec is not None and spec.needs_handler:
            raise InvalidParameterValue(
                f"Handler is required for runtime {runtime}, e.g. lambda_function.handler."
            )
        return ""
    if not isinstance(value, str) or len(value) > 128 or not HANDLER.match(value):
        raise _constraint(value, "handler", "Member must satisfy regular expression pattern: [^\\s]+")
    if spec is not None and spec.needs_handler:
        module, _, attribute = value.rpartition(".")
        if not module or not attribute:
            raise InvalidParameterValue(
                f"Handler '{value}' is not of the form module.function (for example lambda_function.handler)."
            )
    return value


def environment_check(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameterValue('Environment must be an object like {"Variables": {"KEY": "value"}}.')
    variables = value.get("Variables") or {}
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise InvalidParameterValue("Environment.Variables must map names to string values.")
    bad = [key for key in variables if not ENV_KEY.match(key)]
    if bad:
        raise _constraint(
            bad[0],
            "environment.variables",
            "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+",
        )
    reserved = sorted(RESERVED_ENV_KEYS.intersection(variables))
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}"
        )
    size = len(json.dumps(variables, separators=(",", ":")).encode())
    if size > ENVIRONMENT_MAX_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit. String measured: {size} bytes."
        )
    return dict(variables)


def dead_letter_check(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, dict):
        raise InvalidParameterValue('DeadLetterConfig must be an object like {"TargetArn": "arn:..."}.')
    target = value.get("TargetArn") or ""
    # Besides AWS's SQS and SNS ARNs, Stratus takes a function ARN or an http(s) webhook.
    if target and not (
        isinstance(target, str) and re.match(r"^(arn:(aws[a-zA-Z-]*)?:[a-z0-9-]+:|https?://)\S+$", target)
    ):
        raise InvalidParameterValue(
            f"DeadLetterConfig.TargetArn must be an ARN or an http(s) URL, got {target!r}."
        )
    return target


def tracing_check(value: object) -> str:
    if value is None:
        return "PassThrough"
    mode = value.get("Mode") if isinstance(value, dict) else None
    if mode not in ("Active", "PassThrough"):
        raise _constraint(
            mode, "tracingConfig.mode", "Member must satisfy enum value set: [Active, PassThrough]"
        )
    return mode


def architectures_check(value: object) -> list[str]:
    if value is None:
        return ["x86_64"]
    if not isinstance(value, list) or len(value) != 1 or value[0] not in ("x86_64", "arm64"):
        raise InvalidParameterValue("Architectures must hold exactly one of x86_64 or arm64.")
    return list(value)


def logging_config_check(value: object, *, function_name: str) -> tuple[str, str]:
    if value is None:
        return "Text", ""
    if not isinstance(value, dict):
        raise InvalidParameterValue("LoggingConfig must be an object.")
    log_format = value.get("LogFormat", "Text")
    if log_format not in ("Text", "JSON"):
        raise _constraint(
            log_format, "loggingConfig.logFormat", "Member must satisfy enum value set: [JSON, Text]"
        )
    log_group = value.get("LogGroup") or ""
    if log_group == f"/aws/lambda/{function_name}":
        log_group = ""
    if log_group and not re.match(r"^[\.\-_/#A-Za-z0-9]{1,512}$", log_group):
        raise InvalidParameterValue(f"LoggingConfig.LogGroup {log_group!r} is not a valid log group name.")
    return log_format, log_group


def tags_check(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidParameterValue("Tags must map string keys to string values.")
    for key, tag in value.items():
        if not 1 <= len(key) <= 128 or key.startswith("aws:"):
            raise InvalidParameterValue(
                f"Tag key {key!r} must be 1-128 characters and must not start with aws:."
            )
        if len(tag) > 256:
            raise InvalidParameterValue(f"The value of tag {key!r} is longer than 256 characters.")
    if len(value) > 50:
        raise InvalidParameterValue("A function can have at most 50 tags.")
    return dict(value)


_CENTRAL_DIRECTORY_SIGNATURE = b"PK\x01\x02"
_ENCRYPTED = 0x1  # general purpose bit 0
_INFLATE_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class CheckedZip:
    data: bytes
    unzipped_size: int


def zip_decode(value: object) -> CheckedZip:
    """Decode a base64 ``ZipFile`` member and check it is a readable zip within AWS's limits."""
    if not isinstance(value, str):
        raise InvalidParameterValue("Code.ZipFile must be the base64 of a zip file.")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue("Code.ZipFile is not valid base64.") from exc
    return zip_check(data)


def zip_check(data: bytes) -> CheckedZip:
    """Check ``data`` is a zip AWS would take, spending at most one pass over its real contents.

    The cheap checks come first, from the central directory alone: the entry count, the
    declared unzipped size and the paths. Only then is each member decompressed, in chunks,
    to verify its CRC; that pass stops as soon as a member yields more than it declares or
    the total passes the limit. So a bomb that declares its size is refused before anything
    is decompressed, and one whose headers lie as soon as the lie shows.
    """
    if len(data) > ZIP_MAX_BYTES:
        raise InvalidParameterValue(
            f"The deployment package is {len(data)} bytes; the limit for a direct upload is {ZIP_MAX_BYTES} bytes."
        )
    # zipfile parses every central-directory record on open (seconds for a 50 MB zip of empty
    # entries); each record starts with this signature, so counting it first bounds the work.
    if data.count(_CENTRAL_DIRECTORY_SIGNATURE) > ZIP_ENTRIES_MAX:
        raise InvalidParameterValue(
            f"The deployment package has more than {ZIP_ENTRIES_MAX} entries; Stratus unzips at most {ZIP_ENTRIES_MAX}."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if sum(info.file_size for info in infos) > UNZIPPED_MAX_BYTES:
                raise _unzipped_too_large()
            for info in infos:
                if info.filename.startswith("/") or ".." in info.filename.split("/"):
                    raise InvalidParameterValue(
                        f"The zip holds a path outside the package: {info.filename!r}."
                    )
            unzipped = _members_inflate(archive, infos)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise InvalidParameterValue(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from exc
    return CheckedZip(data=data, unzipped_size=unzipped)


def _unzipped_too_large() -> InvalidParameterValue:
    return InvalidParameterValue(f"Unzipped size must be smaller than {UNZIPPED_MAX_BYTES} bytes")


def _members_inflate(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> int:
    """Decompress every member in chunks, refusing a corrupt one or one larger than it declares.

    Returns the bytes the members really unzip to.

    zipfile stops a member at its declared size and then compares the CRC, so a header that
    understates a member shows as a bad CRC after at most that many bytes; the running counts
    keep the bound explicit rather than a property of zipfile's internals.
    """
    total = 0
    for info in infos:
        if info.flag_bits & _ENCRYPTED:
            raise InvalidParameterValue(
                f"Could not unzip uploaded file: {info.filename} is encrypted. Upload a zip without a password."
            )
        produced = 0
        try:
            with archive.open(info) as member:
                while chunk := member.read(_INFLATE_CHUNK):
                    produced += len(chunk)
                    total += len(chunk)
                    if produced > info.file_size or total > UNZIPPED_MAX_BYTES:
                        raise _unzipped_too_large()
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:  # OSError: bz2's
            raise InvalidParameterValue(
                f"Could not unzip uploaded file: {info.filename} is corrupt. Please check your file, then try to upload again."
            ) from exc
    return total


def alias_name_check(value: object) -> str:
    if not isinstance(value, str) or not ALIAS_NAME.match(value):
        raise _constraint(
            value, "name", "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        )
    return value


def statement_id_check(value: object) -> str:
    if not isinstance(value, str) or not STATEMENT_ID.match(value):
        raise _constraint(
            value, "statementId", "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)"
        )
    return value
