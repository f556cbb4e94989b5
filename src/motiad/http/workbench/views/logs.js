// Logs: a live tail of every log record, filtered by step, level, trace and text.

import { api, query } from "../api.js";
import { clock, empty, fieldsText, fill, h, shortId, viewHead } from "../ui.js";

const LEVELS = ["debug", "info", "warn", "error"];
const FETCH = 500;
const KEEP = 2000; // rows on the page; older ones scroll away

const key = (r) => `${r.time}|${r.invocationId ?? ""}|${r.message}`;

export function mount(main, route, ctx) {
  let filters = {};
  const step = h("select", { "aria-label": "Step" }, h("option", { value: "" }, "All steps"));
  const level = h("select", { "aria-label": "Lowest level" }, h("option", { value: "" }, "All levels"),
    LEVELS.slice(1).map((l) => h("option", { value: l }, `${l} and above`)));
  const trace = h("input", { type: "search", placeholder: "Trace id", "aria-label": "Trace id", class: "mono" });
  const text = h("input", { type: "search", placeholder: "Search messages", "aria-label": "Search messages", "data-search": true });
  const follow = h("input", { type: "checkbox", checked: true });
  const count = h("span", { class: "faint" });
  const tbody = h("tbody");
  const table = h("div", { class: "log-table panel" },
    h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["Time", "Level", "Step", "Trace", "Message"].map((c) => h("th", {}, c)))), tbody));
  const body = h("div", { class: "view-body" }, table);
  main.append(
    viewHead("Logs", null,
      h("div", { class: "filters" }, step, level, trace, text),
      h("span", { class: "spacer" }), count,
      h("label", { class: "follow" }, follow, "Follow")),
    body,
  );

  ctx.steps().then((steps) => {
    for (const s of steps) step.append(h("option", { value: s.name }, s.name));
    step.value = filters.step ?? "";
  }).catch(() => {});

  const fromRoute = (r) => {
    filters = {
      step: r.params.get("step") ?? "", level: r.params.get("level") ?? "",
      traceId: r.params.get("traceId") ?? "", text: r.params.get("text") ?? "",
    };
    step.value = filters.step;
    level.value = filters.level;
    trace.value = filters.traceId;
    text.value = filters.text;
  };
  const toRoute = () => ctx.navigate(`#/logs${query({ step: step.value, level: level.value, traceId: trace.value.trim(), text: text.value })}`, { replace: true });
  step.addEventListener("change", toRoute);
  level.addEventListener("change", toRoute);
  let typingTimer = null;
  for (const input of [trace, text]) {
    input.addEventListener("input", () => { clearTimeout(typingTimer); typingTimer = setTimeout(toRoute, 250); });
  }

  const matches = (r) =>
    (!filters.step || r.step === filters.step) &&
    (!filters.level || LEVELS.indexOf(r.level) >= LEVELS.indexOf(filters.level)) &&
    (!filters.traceId || r.traceId === filters.traceId) &&
    (!filters.text || r.message.toLowerCase().includes(filters.text.toLowerCase()));

  let seen = new Set();
  let pending = null; // live records that came while loading

  function row(r, fresh) {
    const fields = fieldsText(r.fields);
    return h("tr", { class: fresh ? "new" : "", dataset: { level: r.level } },
      h("td", { class: "nowrap faint" }, clock(r.time)),
      h("td", {}, h("span", { class: `level ${r.level}` }, r.level)),
      h("td", { class: "nowrap" }, r.step ?? h("span", { class: "faint" }, "motiad")),
      h("td", {}, r.traceId ? h("a", { href: `#/traces/${r.traceId}`, title: r.traceId }, shortId(r.traceId)) : ""),
      h("td", { class: "message" }, r.message, fields ? h("span", { class: "muted" }, ` ${fields}`) : null,
        r.fields?.stack ? h("pre", { class: "stack" }, r.fields.stack) : null),
    );
  }

  function add(records, fresh) {
    const atBottom = main.scrollTop + main.clientHeight >= main.scrollHeight - 40;
    for (const r of records) {
      const k = key(r);
      if (seen.has(k)) continue;
      seen.add(k);
      tbody.append(row(r, fresh));
    }
    while (tbody.childElementCount > KEEP) tbody.firstElementChild.remove();
    count.textContent = `${tbody.childElementCount} records`;
    if (follow.checked && (atBottom || !fresh)) main.scrollTop = main.scrollHeight;
    if (!tbody.childElementCount) fill(tbody, h("tr", {}, h("td", { colspan: 5 }, empty("No log records match", "Records appear here as steps log."))));
  }

  async function load() {
    pending = [];
    seen = new Set();
    try {
      const { logs } = await api(`/logs${query({ ...filters, limit: FETCH })}`);
      fill(tbody);
      add(logs, false);
      add(pending.filter(matches), true);
    } catch (error) {
      fill(tbody, h("tr", {}, h("td", { colspan: 5 }, empty("Could not load the logs", error.message))));
    } finally {
      pending = null;
    }
  }

  fromRoute(route);
  load();
  return {
    update(next) { fromRoute(next); load(); },
    refresh: load,
    live(type, record) {
      if (type !== "log") return;
      if (pending) pending.push(record);
      else if (matches(record)) {
        if (tbody.querySelector(".empty")) fill(tbody);
        add([record], true);
      }
    },
    key(event) { if (event.key === "Escape") { text.value = ""; trace.value = ""; toRoute(); } },
  };
}
