// Stratus's Node.js runtime: a lean client of the AWS Lambda Runtime API.
// INIT loads the handler's module (CommonJS or ES module); then it loops: GET /next,
// call the handler (async, promise or callback style) with a context object, POST the
// result or the error.
"use strict";

const http = require("http");
const path = require("path");
const { pathToFileURL } = require("url");
const fs = require("fs");

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const slash = api.indexOf("/");
const [host, port] = (slash >= 0 ? api.slice(0, slash) : api).split(":");
const base = (slash >= 0 ? api.slice(slash) : "") + "/2018-06-01/runtime";
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, route, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port: Number(port), method, path: base + route, agent, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      }
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorObject(err) {
  const error = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: error.name || "Error",
    errorMessage: error.message,
    trace: (error.stack || "").split("\n"),
  };
}

function logError(prefix, error) {
  process.stderr.write(`${new Date().toISOString()}\t${prefix}\tERROR\t${JSON.stringify(error)}\n`);
}

async function initError(type, message) {
  const body = JSON.stringify({ errorType: type, errorMessage: message, trace: [] });
  logError("undefined", { errorType: type, errorMessage: message });
  await request("POST", "/init/error", body, { "Lambda-Runtime-Function-Error-Type": type, "Content-Type": "application/json" });
  process.exit(1);
}

async function loadHandler() {
  const handlerString = process.env._HANDLER || "";
  const dot = handlerString.lastIndexOf(".");
  if (dot <= 0) return initError("Runtime.MalformedHandlerName", `Bad handler ${handlerString}`);
  const modulePath = handlerString.slice(0, dot);
  const functionName = handlerString.slice(dot + 1);
  const root = process.env.LAMBDA_TASK_ROOT || "/var/task";
  const candidates = [".js", ".mjs", ".cjs"].map((ext) => path.join(root, modulePath + ext));
  const file = candidates.find((candidate) => fs.existsSync(candidate));
  if (!file) return initError("Runtime.ImportModuleError", `Error: Cannot find module '${modulePath}'`);
  let loaded;
  try {
    loaded = file.endsWith(".mjs") ? await import(pathToFileURL(file).href) : require(file);
  } catch (err) {
    if (err && err.code === "ERR_REQUIRE_ESM") {
      loaded = await import(pathToFileURL(file).href);
    } else {
      const type = err instanceof SyntaxError ? "Runtime.UserCodeSyntaxError" : "Runtime.ImportModuleError";
      return initError(type, `${err.name}: ${err.message}`);
    }
  }
  const handler = loaded[functionName] || (loaded.default && loaded.default[functionName]);
  if (typeof handler !== "function") {
    return initError("Runtime.HandlerNotFound", `${modulePath}.${functionName} is undefined or not exported`);
  }
  return handler;
}

function callHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err, value) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(value);
    };
    context.done = callback;
    context.succeed = (value) => callback(null, value);
    context.fail = (err) => callback(err || new Error("handled"));
    try {
      const returned = handler(event, context, callback);
      if (returned && typeof returned.then === "function") returned.then((v) => callback(null, v), callback);
    } catch (err) {
      callback(err);
    }
  });
}

async function main() {
  const handler = await loadHandler();
  for (;;) {
    const next = await request("GET", "/invocation/next");
    const headers = next.headers;
    const requestId = headers["lambda-runtime-aws-request-id"];
    const deadline = Number(headers["lambda-runtime-deadline-ms"] || 0);
    if (headers["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = headers["lambda-runtime-trace-id"];
    const context = {
      awsRequestId: requestId,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      clientContext: headers["lambda-runtime-client-context"] ? JSON.parse(headers["lambda-runtime-client-context"]) : undefined,
      identity: headers["lambda-runtime-cognito-identity"] ? JSON.parse(headers["lambda-runtime-cognito-identity"]) : undefined,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    };
    let event;
    try {
      event = next.body.length ? JSON.parse(next.body.toString("utf8")) : {};
    } catch (err) {
      const body = JSON.stringify({ errorType: "Runtime.UnmarshalError", errorMessage: err.message, trace: [] });
      await request("POST", `/invocation/${requestId}/error`, body, { "Content-Type": "application/json" });
      continue;
    }
    try {
      const result = await callHandler(handler, event, context);
      const body = result === undefined ? "null" : JSON.stringify(result);
      await request("POST", `/invocation/${requestId}/response`, body, { "Content-Type": "application/json" });
    } catch (err) {
      const error = errorObject(err);
      logError(requestId, error);
      await request("POST", `/invocation/${requestId}/error`, JSON.stringify(error), { "Content-Type": "application/json" });
    }
  }
}

main().catch((err) => {
  process.stderr.write(`Stratus runtime failure: ${err && err.stack}\n`);
  process.exit(1);
});
