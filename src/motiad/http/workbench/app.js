// The workbench shell: navigation, routing (location.hash), live updates
// (server-sent events), keyboard shortcuts and the theme.

import { api, PREFIX } from "./api.js";
import { debounce, fill, h, toast } from "./ui.js";
import * as flows from "./views/flows.js";
import * as traces from "./views/traces.js";
import * as logs from "./views/logs.js";
import * as state from "./views/state.js";
import * as streams from "./views/streams.js";
import * as dlq from "./views/dlq.js";
import * as tester from "./views/tester.js";
import * as tutorial from "./tutorial.js";

const ICONS = {
  flows: "M5 6h4v4H5zM15 14h4v4h-4zM9 8h3a2 2 0 0 1 2 2v4a2 2 0 0 0 2 2",
  traces: "M4 6h10M7 12h11M10 18h7",
  logs: "M5 5h14M5 10h14M5 15h9M5 20h6",
  state: "M4 7c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3zM4 7v10c0 1.7 3.6 3 8 3s8-1.3 8-3V7M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3",
  streams: "M3 8c3 0 3-3 6-3s3 3 6 3 3-3 6-3M3 14c3 0 3-3 6-3s3 3 6 3 3-3 6-3M3 20c3 0 3-3 6-3s3 3 6 3 3-3 6-3",
  dlq: "M12 4 3 20h18zM12 10v4M12 17v.5",
  tester: "M8 5v14l11-7z",
};

const VIEWS = [
  { id: "flows", title: "Flows", module: flows },
  { id: "traces", title: "Traces", module: traces },
  { id: "logs", title: "Logs", module: logs },
  { id: "state", title: "State", module: state },
  { id: "streams", title: "Streams", module: streams },
  { id: "dlq", title: "Dead letters", module: dlq },
  { id: "tester", title: "Tester", module: tester },
];

const main = document.getElementById("main");
let current = null; // { view, instance }

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const view = VIEWS.find((v) => v.id === parts[0]) ?? VIEWS[0];
  return { view: view.id, parts: parts.slice(1), params: new URLSearchParams(search) };
}

function navigate(hash, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", hash);
  else if (location.hash !== hash) location.hash = hash;
  else return;
  if (replace) route();
}

let cachedSteps = null;
let cachedGraph = null;
const ctx = {
  navigate,
  steps: () => (cachedSteps ??= api("/steps").then((r) => r.steps).catch((e) => { cachedSteps = null; throw e; })),
  graph: () => (cachedGraph ??= api("/flows").catch((e) => { cachedGraph = null; throw e; })),
  /** Forget the steps and the graph (they change under `motiad dev`). */
  reload: () => { cachedSteps = null; cachedGraph = null; },
};

function route() {
  const next = parseRoute();
  const view = VIEWS.find((v) => v.id === next.view);
  for (const link of document.querySelectorAll("#nav a")) {
    link.toggleAttribute("aria-current", link.dataset.view === view.id);
    if (link.dataset.view === view.id) link.setAttribute("aria-current", "page");
  }
  document.title = `${view.title} · motiad workbench`;
  if (current && current.view === view.id && current.instance.update) {
    current.instance.update(next);
    return;
  }
  current?.instance.dispose?.();
  fill(main);
  current = { view: view.id, instance: view.module.mount(main, next, ctx) ?? {} };
}

function buildNav() {
  const nav = document.getElementById("nav");
  VIEWS.forEach((view, index) => {
    nav.append(
      h("li", {},
        h("a", { href: `#/${view.id}`, dataset: { view: view.id } },
          h("svg", { viewBox: "0 0 24 24", "aria-hidden": "true" }, h("path", { d: ICONS[view.id] })),
          h("span", {}, view.title),
          view.id === "dlq" ? h("span", { class: "count", id: "dlq-count", hidden: true }) : null,
          h("span", { class: "key", "aria-hidden": "true" }, String(index + 1)),
        ),
      ),
    );
  });
}

async function refreshDeadLetterCount() {
  try {
    const { deadLetters } = await api("/dlq");
    const badge = document.getElementById("dlq-count");
    badge.textContent = String(deadLetters.length);
    badge.hidden = deadLetters.length === 0;
  } catch { /* shown by the view when opened */ }
}
const countSoon = debounce(refreshDeadLetterCount, 400);

/** The banner of step files that do not load (motiad dev keeps serving the rest):
 *  each with its file:line and message, until the file is fixed. */
async function refreshProblems() {
  const banner = document.getElementById("problems");
  try {
    const { problems = [] } = await api("/steps");
    banner.hidden = problems.length === 0;
    const files = new Set(problems.map((p) => p.file)).size;
    fill(banner,
      h("strong", {}, `${files} step file${files === 1 ? "" : "s"} failed to load`),
      // one error of several files (a failed build) is listed once
      h("ul", {}, [...new Map(problems.map((p) => [p.message, p])).values()]
        .map((p) => h("li", { class: "mono", dataset: { file: p.file } }, p.message))),
      h("span", { class: "hint" }, "Fix the file: motiad dev reloads it and this goes away."));
  } catch { /* the views say when the server is away */ }
}

function connectLive(tour) {
  const indicator = document.getElementById("live");
  const text = indicator.querySelector(".live-text");
  const source = new EventSource(`${PREFIX}/api/live`);
  const set = (state) => { indicator.dataset.state = state; text.textContent = state; };
  let connected = false;
  source.addEventListener("hello", () => {
    set("live");
    if (connected) {
      // the stream restarted: anything may have changed while it was down
      ctx.reload();
      current?.instance.refresh?.();
      countSoon();
    }
    connected = true;
  });
  source.addEventListener("error", () => set(source.readyState === EventSource.CLOSED ? "offline" : "connecting"));
  source.addEventListener("steps", () => {
    // `motiad dev` reloaded a step file: the steps and the flow graph may differ
    ctx.reload();
    refreshProblems();
    current?.instance.refresh?.();
  });
  for (const type of ["log", "span", "stream"]) {
    source.addEventListener(type, (event) => {
      const data = JSON.parse(event.data);
      current?.instance.live?.(type, data);
      tour.live(type, data);
      if (type === "span" && data.outcome === "error") countSoon();
    });
  }
}

// --- theme and keyboard --------------------------------------------------------

function toggleTheme() {
  const root = document.documentElement;
  root.dataset.theme = root.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem("motiad.theme", root.dataset.theme);
}

const SHORTCUTS = [
  ...VIEWS.map((view, i) => [String(i + 1), view.title]),
  ["/", "Search or filter in this view"],
  ["r", "Reload this view"],
  ["t", "Toggle dark and light"],
  ["Esc", "Leave a field; close the panel or dialog"],
  ["?", "This list"],
];

function typing(event) {
  const el = event.target;
  return el instanceof HTMLElement && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

function onKey(event) {
  if (event.key === "Escape" && typing(event)) {
    event.target.blur(); // back to the shortcuts
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
  const index = Number(event.key) - 1;
  if (Number.isInteger(index) && VIEWS[index]) {
    event.preventDefault();
    navigate(`#/${VIEWS[index].id}`);
  } else if (event.key === "t") {
    toggleTheme();
  } else if (event.key === "?") {
    document.getElementById("shortcuts").showModal();
  } else if (event.key === "/") {
    const search = main.querySelector("[data-search]");
    if (search) { event.preventDefault(); search.focus(); }
  } else if (event.key === "r") {
    current?.instance.refresh?.();
  } else {
    current?.instance.key?.(event);
  }
}

function start() {
  buildNav();
  const list = document.getElementById("shortcut-list");
  for (const [key, what] of SHORTCUTS) list.append(h("dt", {}, h("kbd", {}, key)), h("dd", {}, what));
  document.getElementById("theme").addEventListener("click", toggleTheme);
  document.getElementById("help").addEventListener("click", () => document.getElementById("shortcuts").showModal());
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", route);
  window.addEventListener("unhandledrejection", (event) => toast(event.reason?.message ?? String(event.reason), "error"));
  route();
  connectLive(tutorial.setup(ctx));
  refreshDeadLetterCount();
  refreshProblems();
}

start();
