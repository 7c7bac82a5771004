// The Logs tab: new lines arrive over the websocket and scroll into view.
import { liveSocket } from "./common.js";

const box = document.getElementById("log-lines");
const toggle = document.getElementById("live-tail");

function format(ms) {
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}

box.querySelectorAll("time").forEach((time) => { time.textContent = format(Number(time.textContent)); });

liveSocket(box.dataset.ws, (message) => {
  if (message.type !== "logs" || !toggle.checked || toggle.disabled) return;
  const empty = document.getElementById("logs-empty");
  if (empty) empty.remove();
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 20;
  for (const [timestamp, line] of message.lines) {
    const span = document.createElement("span");
    span.className = "line";
    const time = document.createElement("time");
    time.textContent = format(timestamp);
    span.append(time, ` ${line}\n`);
    box.append(span);
  }
  if (atBottom) box.scrollTop = box.scrollHeight;
});
