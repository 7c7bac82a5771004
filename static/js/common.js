// Small helpers shared by the dashboard's pages.

export function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (input) return input.value;
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function postForm(url, fields) {
  const body = new URLSearchParams(fields);
  const response = await fetch(url, {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
    body,
    credentials: "same-origin",
  });
  return { ok: response.ok, status: response.status, data: await response.json().catch(() => ({})) };
}

export async function postJSON(url, data) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/json" },
    body: JSON.stringify(data),
    credentials: "same-origin",
  });
  return { ok: response.ok, status: response.status, data: await response.json().catch(() => ({})) };
}

export async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

// A websocket that reconnects (with back-off) and hands each JSON message to onMessage.
export function liveSocket(path, onMessage) {
  let delay = 500;
  let socket;
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.onopen = () => { delay = 500; document.body.dataset.live = "connected"; };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = (event) => {
      document.body.dataset.live = "disconnected";
      if (event.code === 4401 || event.code === 4403 || event.code === 4404) return; // not allowed: do not retry
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
  return () => socket && socket.close();
}

export function text(element, value) {
  element.textContent = value == null ? "" : String(value);
}
