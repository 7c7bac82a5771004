// The Async tab: events in flight (polled from /api/v1), and redrive of dead-lettered ones.
import { getJSON, postJSON, text } from "./common.js";

const root = document.getElementById("async-events");

async function refresh() {
  const data = await getJSON(root.dataset.url);
  const live = data.events.filter((event) => ["queued", "running", "retrying"].includes(event.state));
  const body = document.querySelector("#live-events tbody");
  body.replaceChildren(...live.map((event) => {
    const row = document.createElement("tr");
    for (const value of [
      event.requestId, event.state, event.attempts,
      new Date(event.acceptedAt * 1000).toLocaleTimeString(),
      event.nextAttemptAt ? new Date(event.nextAttemptAt * 1000).toLocaleTimeString() : "—",
      event.lastError || "",
    ]) {
      const cell = document.createElement("td");
      text(cell, value);
      row.append(cell);
    }
    return row;
  }));
  document.getElementById("no-live-events").hidden = live.length > 0;
}

async function redrive(body) {
  const { ok } = await postJSON(root.dataset.redriveUrl, body);
  if (ok) location.reload();
}

document.querySelectorAll("button.redrive").forEach((button) => {
  button.addEventListener("click", () => redrive({ requestIds: [button.dataset.requestId] }));
});
document.getElementById("redrive-all").addEventListener("click", () => redrive({ all: true }));
document.getElementById("refresh-events").addEventListener("click", refresh);
refresh();
setInterval(refresh, 5000);
