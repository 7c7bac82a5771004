"""A working "hello" function for each runtime family, to start from in the dashboard."""

from __future__ import annotations

import io
import zipfile

PYTHON = """import json


def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    print(f"Saying hello to {name}")
    return {"statusCode": 200, "body": json.dumps({"message": f"Hello, {name}!"})}
"""

NODE = """export const handler = async (event, context) => {
  const name = (event && event.name) || "world";
  console.log(`Saying hello to ${name}`);
  return { statusCode: 200, body: JSON.stringify({ message: `Hello, ${name}!` }) };
};
"""

PROVIDED = """#!/bin/sh
# A custom runtime: speak the Lambda Runtime API yourself (here with python3 from the host).
exec python3 - <<'PY'
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read() or b"{}")
    body = json.dumps({"message": "Hello, %s!" % (event.get("name") or "world")}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body, method="POST"))
PY
"""


def blueprint(runtime: str) -> tuple[str, dict[str, str]]:
    """(handler, {file name: source}) for ``runtime``."""
    if runtime.startswith("python"):
        return "lambda_function.handler", {"lambda_function.py": PYTHON}
    if runtime.startswith("nodejs"):
        return "index.handler", {"index.mjs": NODE}
    return "bootstrap", {"bootstrap": PROVIDED}


def zip_files(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in files.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if name == "bootstrap" else 0o644) << 16
            archive.writestr(info, source)
    return buffer.getvalue()


def zip_text_files(data: bytes, *, limit: int = 512 * 1024) -> tuple[dict[str, str], list[str]]:
    """The package's text files (editable) and the names of the rest (kept as they are)."""
    texts, others = {}, []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            raw = archive.read(info)
            if info.file_size <= limit:
                try:
                    texts[info.filename] = raw.decode("utf-8")
                    continue
                except UnicodeDecodeError:
                    pass
            others.append(info.filename)
    return texts, others


def zip_replace(data: bytes, edited: dict[str, str]) -> bytes:
    """The package with ``edited`` text files written over (or added to) it, modes kept."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            if info.filename in edited:
                continue
            archive.writestr(info, source.read(info))
        for name, text in edited.items():
            original = next((i for i in source.infolist() if i.filename == name), None)
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (
                original.external_attr if original else (0o755 if name == "bootstrap" else 0o644) << 16
            )
            archive.writestr(info, text)
    return buffer.getvalue()
