// The Test tab: validate the event, invoke, show the result; save and load test events.
import { postForm, text } from "./common.js";

const root = document.getElementById("test");
const eventBox = document.getElementById("event-json");
const errorBox = document.getElementById("event-error");
const saved = document.getElementById("saved-events");
const nameBox = document.getElementById("event-name");

function validate() {
  try {
    JSON.parse(eventBox.value || "{}");
    errorBox.hidden = true;
    return true;
  } catch (error) {
    text(errorBox, `The event is not valid JSON: ${error.message}`);
    errorBox.hidden = false;
    return false;
  }
}

saved.addEventListener("change", () => {
  const option = saved.selectedOptions[0];
  if (option && option.value) {
    eventBox.value = option.dataset.payload;
    nameBox.value = option.value;
  }
  validate();
});
eventBox.addEventListener("input", validate);

document.getElementById("save-event").addEventListener("click", async () => {
  if (!validate()) return;
  const { ok, data } = await postForm(root.dataset.saveUrl, { name: nameBox.value, event: eventBox.value });
  if (!ok) { text(errorBox, data.error); errorBox.hidden = false; return; }
  let option = [...saved.options].find((o) => o.value === data.saved);
  if (!option) { option = new Option(data.saved, data.saved); saved.add(option); }
  option.dataset.payload = eventBox.value;
  saved.value = data.saved;
});

document.getElementById("delete-event").addEventListener("click", async () => {
  if (!saved.value) return;
  await postForm(root.dataset.deleteUrl, { name: saved.value });
  saved.selectedOptions[0].remove();
  saved.value = "";
});

async function invoke(mode) {
  if (!validate()) return;
  const result = document.getElementById("test-result");
  const status = document.getElementById("result-status");
  text(status, "running…");
  result.hidden = false;
  const { ok, data } = await postForm(root.dataset.testUrl, {
    event: eventBox.value, mode, qualifier: document.getElementById("qualifier").value,
  });
  result.dataset.state = "done";
  if (!ok) {
    text(status, data.code || "error");
    status.className = "badge error";
    text(document.getElementById("result-payload"), data.error);
    return;
  }
  text(document.getElementById("result-request"), data.requestId);
  if (mode === "async") {
    text(status, "202 Accepted");
    status.className = "badge";
    text(document.getElementById("result-payload"), "Queued. Follow it in the Invocations and Async tabs.");
    ["result-duration", "result-billed", "result-memory", "result-start", "result-log"].forEach((id) => text(document.getElementById(id), ""));
    return;
  }
  text(status, data.functionError ? `200 · ${data.functionError}` : "200 · Succeeded");
  status.className = data.functionError ? "badge error" : "badge ok";
  text(document.getElementById("result-duration"), `${data.durationMs.toFixed(2)} ms`);
  text(document.getElementById("result-billed"), `${data.billedDurationMs} ms`);
  text(document.getElementById("result-memory"), `${data.maxMemoryMb} of ${data.memorySize} MB`);
  text(document.getElementById("result-start"), data.cold ? `cold (init ${data.initDurationMs.toFixed(2)} ms)` : "warm");
  let payload = data.payload;
  try { payload = JSON.stringify(JSON.parse(payload), null, 2); } catch (error) { /* not JSON: show as is */ }
  text(document.getElementById("result-payload"), payload);
  text(document.getElementById("result-log"), data.log);
}

document.getElementById("invoke-sync").addEventListener("click", () => invoke("sync"));
document.getElementById("invoke-async").addEventListener("click", () => invoke("async"));
