// Live Plotly charts: history from /api/v1/metrics, new points over the websocket.
import { getJSON, liveSocket } from "./common.js";

const section = document.querySelector("[data-live-charts]");
const charts = [...section.querySelectorAll(".chart")];
const functionName = section.dataset.function;
let range = Number(section.dataset.range || 900);
const dark = matchMedia("(prefers-color-scheme: dark)").matches;

function periodFor(seconds) {
  if (seconds <= 900) return 1;
  if (seconds <= 10800) return 60;
  if (seconds <= 86400) return 300;
  return 3600;
}

function layout(title) {
  const fg = dark ? "#e6e9ec" : "#1d232a";
  const end = Date.now();
  return {
    title: { text: title, font: { size: 14, color: fg } },
    margin: { l: 48, r: 12, t: 36, b: 32 },
    height: 220,
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: fg },
    xaxis: { type: "date", range: [new Date(end - range * 1000), new Date(end)], gridcolor: dark ? "#2b323a" : "#eef1f4" },
    yaxis: { rangemode: "tozero", gridcolor: dark ? "#2b323a" : "#eef1f4" },
    legend: { orientation: "h", y: -0.25 },
    showlegend: true,
  };
}

async function load(chart) {
  const period = periodFor(range);
  const end = Date.now() / 1000;
  const statistics = chart.dataset.statistic.split(",");
  const traces = [];
  for (const statistic of statistics) {
    const params = new URLSearchParams({ metric: chart.dataset.metric, statistic, period, start: end - range, end });
    if (functionName) params.set("function", functionName);
    const series = await getJSON(`/api/v1/metrics?${params}`);
    traces.push({
      x: series.points.map((p) => new Date(p.t)),
      y: series.points.map((p) => p.v),
      name: statistic,
      // Counts read best as bars, levels and durations as lines.
      type: statistic === "Sum" || statistic === "SampleCount" ? "bar" : "scatter",
      mode: "lines+markers",
      marker: { size: period === 1 ? 4 : 6 },
    });
  }
  chart.dataset.period = period;
  chart.dataset.points = traces[0].x.length;
  Plotly.react(chart, traces, layout(chart.dataset.title), { displayModeBar: false, responsive: true });
}

// A websocket point is [second, metric, sum, count, max]; fold it into the chart's buckets.
function addPoint(chart, [second, metric, sum, count, max]) {
  if (metric !== chart.dataset.metric || !chart.data) return;
  const period = Number(chart.dataset.period || 1);
  const at = new Date(Math.floor(second / period) * period * 1000);
  chart.data.forEach((trace, index) => {
    const statistic = trace.name;
    let value = statistic === "Sum" ? sum : statistic === "SampleCount" ? count : statistic === "Average" ? sum / count : max;
    const last = trace.x.length ? trace.x[trace.x.length - 1].getTime() : 0;
    if (last === at.getTime()) {
      const previous = trace.y[trace.y.length - 1] || 0;
      if (statistic === "Sum" || statistic === "SampleCount") value += previous;
      else value = Math.max(previous, value);
      trace.y[trace.y.length - 1] = value;
    } else {
      trace.x.push(at);
      trace.y.push(value);
    }
    const cutoff = Date.now() - range * 1000;
    while (trace.x.length && trace.x[0].getTime() < cutoff) { trace.x.shift(); trace.y.shift(); }
  });
  chart.dataset.points = chart.data[0].x.length;
  chart.dataset.live = Number(chart.dataset.live || 0) + 1;
  // The traces were changed in place, so tell Plotly to redraw them: react() only notices
  // new arrays or a new datarevision.
  Plotly.react(chart, chart.data, { ...layout(chart.dataset.title), datarevision: chart.dataset.live });
}

async function loadAll() {
  await Promise.all(charts.map((chart) => load(chart).catch((error) => { chart.textContent = `Could not load: ${error.message}`; })));
  section.dataset.loaded = "true";
}

document.querySelectorAll("button.range").forEach((button) => {
  button.addEventListener("click", () => {
    range = Number(button.dataset.range);
    document.querySelectorAll("button.range").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    loadAll();
  });
});

loadAll().then(() => {
  liveSocket(section.dataset.ws, (message) => {
    if (message.type !== "metrics") return;
    for (const point of message.points) charts.forEach((chart) => addPoint(chart, point));
  });
});
