"""Stratus's Python runtime: a lean client of the AWS Lambda Runtime API.

It runs inside the sandbox as ``python -S /var/runtime/python_bootstrap.py`` and imports
only what it needs (socket, json: http.client alone would add ~20 ms to every cold start,
most of it the email package), so a cold start costs little more than the interpreter
itself. The Runtime API server always answers with Content-Length, which is all the HTTP
this client needs to understand. INIT imports the handler's module; then it loops: GET /next, call the
handler with a real context object, POST the result or the error.
"""

import json
import os
import socket
import sys
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, _, PREFIX = API.partition("/")
BASE = (f"/{PREFIX}" if PREFIX else "") + "/2018-06-01/runtime"


class _Identity:
    cognito_identity_id = None
    cognito_identity_pool_id = None


class _Client:
    def __init__(self, data):
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class _ClientContext:
    def __init__(self, data):
        self.client = _Client(data.get("client") or {})
        self.custom = data.get("custom")
        self.env = data.get("env")


class LambdaContext:
    """The context object AWS's Python runtime passes to handlers."""

    def __init__(self, request_id, deadline_ms, invoked_arn, client_context, cognito_identity):
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.invoked_function_arn = invoked_arn
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.tenant_id = None
        self._deadline_ms = deadline_ms
        self.identity = _Identity()
        if cognito_identity:
            data = json.loads(cognito_identity)
            self.identity.cognito_identity_id = data.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")
        self.client_context = _ClientContext(json.loads(client_context)) if client_context else None

    def get_remaining_time_in_millis(self):
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def log(self, message):
        sys.stdout.write(str(message))
        sys.stdout.flush()


class _Headers(dict):
    """Response headers, looked up case-insensitively like http.client's."""

    def get(self, name, default=None):
        return super().get(name.lower(), default)


class _Connection:
    """A keep-alive HTTP/1.1 connection to the Runtime API."""

    def __init__(self, address):
        host, _, port = address.partition(":")
        self.sock = socket.create_connection((host, int(port or 80)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def request(self, method, path, body=b"", headers=None):
        if isinstance(body, str):
            body = body.encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}"]
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status = int(self.reader.readline().split(b" ", 2)[1])
        response_headers = _Headers()
        while True:
            line = self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            response_headers[name.strip().lower()] = value.strip()
        length = int(response_headers.get("content-length") or 0)
        return status, response_headers, self.reader.read(length) if length else b""


def _connection():
    return _Connection(HOST)


def _post(connection, path, body, headers=None):
    status, _, _ = connection.request("POST", BASE + path, body, headers)
    return status


def _error_object(exc, request_id=None):
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    # Drop this bootstrap's own frames, as AWS's runtime does.
    frames = [frame for frame in frames if not frame.filename.endswith("python_bootstrap.py")]
    error = {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_list(frames),
    }
    if request_id:
        error["requestId"] = request_id
    return error, frames


def _log_error(error, frames, request_id=None):
    import traceback

    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    lines.append("Traceback (most recent call last):")
    lines.extend(line.rstrip("\n") for line in traceback.format_list(frames))
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _init_error(connection, error_type, message, exc=None):
    error = {"errorMessage": message, "errorType": error_type, "stackTrace": []}
    frames = []
    if exc is not None:
        _, frames = _error_object(exc)
        error["stackTrace"] = [line for line in __import__("traceback").format_list(frames)]
    _log_error(error, frames)
    _post(connection, "/init/error", json.dumps(error), {"Lambda-Runtime-Function-Error-Type": error_type})
    sys.exit(1)


def _load_handler(connection):
    handler = os.environ.get("_HANDLER", "")
    module_path, _, function_name = handler.rpartition(".")
    if not module_path or not function_name:
        _init_error(
            connection,
            "Runtime.MalformedHandlerName",
            f"Bad handler '{handler}': not enough values to unpack",
        )
    module_name = module_path.replace("/", ".")
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    sys.path.insert(0, task_root)
    # The AWS SDK (boto3) the platform provides, after /var/task: a function's own copy wins.
    provided = f"/var/lang/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
    if os.path.isdir(provided) and provided not in sys.path:
        sys.path.insert(1, provided)
    import importlib

    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        _init_error(
            connection, "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", exc
        )
    except ImportError as exc:
        _init_error(
            connection, "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc
        )
    except Exception as exc:  # the module's own code raised during import
        _init_error(
            connection, "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc
        )
    function = getattr(module, function_name, None)
    if function is None:
        _init_error(
            connection,
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return function


def _encode(result):
    # As awslambdaric: bytes go out as they are; anything else, str included, as JSON.
    if isinstance(result, bytes):
        return result, "application/unknown"
    return json.dumps(result).encode(), "application/json"


def main():
    connection = _connection()
    handler = _load_handler(connection)
    while True:
        _, headers, body = connection.request("GET", BASE + "/invocation/next")
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        trace_id = headers.get("Lambda-Runtime-Trace-Id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        context = LambdaContext(
            request_id,
            int(headers.get("Lambda-Runtime-Deadline-Ms") or 0),
            headers.get("Lambda-Runtime-Invoked-Function-Arn"),
            headers.get("Lambda-Runtime-Client-Context"),
            headers.get("Lambda-Runtime-Cognito-Identity"),
        )
        try:
            content_type = headers.get("Content-Type") or "application/json"
            event = json.loads(body) if body and content_type.startswith("application/json") else body
        except ValueError as exc:
            error = {
                "errorMessage": f"Unable to unmarshal input: {exc}",
                "errorType": "Runtime.UnmarshalError",
                "requestId": request_id,
                "stackTrace": [],
            }
            _post(
                connection,
                f"/invocation/{request_id}/error",
                json.dumps(error),
                {"Lambda-Runtime-Function-Error-Type": "Runtime.UnmarshalError"},
            )
            continue
        try:
            result = handler(event, context)
            try:
                payload, content_type = _encode(result)
            except (TypeError, ValueError) as exc:
                raise _MarshalError(f"Unable to marshal response: {exc}") from None
        except _MarshalError as exc:
            error = {
                "errorMessage": str(exc),
                "errorType": "Runtime.MarshalError",
                "requestId": request_id,
                "stackTrace": [],
            }
            _log_error(error, [])
            _post(
                connection,
                f"/invocation/{request_id}/error",
                json.dumps(error),
                {"Lambda-Runtime-Function-Error-Type": "Runtime.MarshalError"},
            )
            continue
        except Exception as exc:
            error, frames = _error_object(exc, request_id)
            _log_error(error, frames)
            sys.stderr.flush()
            _post(
                connection,
                f"/invocation/{request_id}/error",
                json.dumps(error),
                {"Content-Type": "application/json"},
            )
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        _post(connection, f"/invocation/{request_id}/response", payload, {"Content-Type": content_type})


class _MarshalError(Exception):
    pass


if __name__ == "__main__":
    main()
