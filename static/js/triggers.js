// Triggers, on a function's Configuration tab and the "Queues, topics & streams" page. The forms
// work without this; it asks before deleting, offers a starting position only for streams, and
// keeps queue depths current (polled from /api/v1/queues).
import { getJSON, text } from "./common.js";

const REFRESH_MS = 5000;

document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// A queue takes no starting position (the service refuses one); a stream needs one.
for (const source of document.querySelectorAll("[data-mapping-source]")) {
  const position = source.form.querySelector("[data-starting-position]");
  const sync = () => {
    const stream = source.selectedOptions[0] && source.selectedOptions[0].dataset.kind === "stream";
    position.disabled = !stream;
    if (stream && !position.value) position.value = "TRIM_HORIZON";
    if (!stream) position.value = "";
  };
  source.addEventListener("change", sync);
  sync();
}

const queues = document.querySelector("[data-live-queues]");
if (queues) {
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const data = await getJSON(queues.dataset.liveQueues);
      for (const queue of data.queues) {
        const row = [...queues.querySelectorAll("tr[data-queue]")].find((tr) => tr.dataset.queue === queue.name);
        if (!row) continue;
        for (const cell of row.querySelectorAll("[data-count]")) text(cell, queue[cell.dataset.count]);
      }
    } catch {
      // Signed out or the server restarting: the numbers stay as the page rendered them.
    }
  };
  setInterval(refresh, REFRESH_MS);
}
