// Traces: the recent ones, and one trace as a timeline of its spans (step,
// start, duration, outcome, attempt) with the logs of each span.

import { api, query } from "../api.js";
import { ago, clock, dateTime, debounce, duration, empty, fieldsText, fill, h, outcomeBadge, shortId, viewHead } from "../ui.js";

const LIMIT = 100;

export function mount(main, route, ctx) {
  let instance = null;
  const show = (next) => {
    instance?.dispose?.();
    main.replaceChildren();
    instance = next.parts[0] ? traceView(main, next.parts[0], ctx) : listView(main, next, ctx);
  };
  show(route);
  return {
    update: show,
    refresh: () => instance.refresh(),
    live: (type, data) => instance.live(type, data),
    dispose: () => instance?.dispose?.(),
  };
}

function listView(main, route, ctx) {
  const step = route.params.get("step") ?? "";
  const picker = h("select", { "aria-label": "Step", "data-search": true, onchange: () => {
    ctx.navigate(`#/traces${query({ step: picker.value })}`);
  } }, h("option", { value: "" }, "All steps"));
  ctx.steps().then((steps) => {
    for (const s of steps) picker.append(h("option", { value: s.name, selected: s.name === step }, s.name));
  }).catch(() => {});
  const body = h("div", { class: "panel" });
  main.append(
    viewHead("Traces", "every API request and cron tick, and the events they caused", h("span", { class: "spacer" }), picker),
    h("div", { class: "view-body" }, body),
  );

  let shown = [];

  function row(t) {
    const open = () => ctx.navigate(`#/traces/${t.traceId}`);
    return h("tr", {
      class: "link", tabindex: "0", dataset: { trace: t.traceId }, onclick: open,
      onkeydown: (e) => { if (e.key === "Enter") open(); },
    },
      h("td", { class: "nowrap", title: dateTime(t.startedAt) }, ago(t.startedAt)),
      h("td", {}, h("a", { class: "mono", href: `#/traces/${t.traceId}` }, shortId(t.traceId))),
      h("td", {}, h("strong", {}, t.step || "—"), " ", h("span", { class: "muted mono" }, t.detail)),
      h("td", { class: "num" }, t.spans),
      h("td", { class: "num" }, t.errors ? h("span", { class: "badge error" }, t.errors) : h("span", { class: "faint" }, "0")),
      h("td", { class: "num mono" }, duration(t.endedAt - t.startedAt)),
    );
  }

  function draw(more) {
    if (!shown.length) {
      fill(body, empty(step ? `No traces of ${step} yet` : "No traces yet",
        "Call an API step (the Tester view does it) or wait for a cron tick: each starts a trace."));
      return;
    }
    const older = h("button", { class: "button small", type: "button", onclick: async () => {
      const before = shown[shown.length - 1].startedAt;
      const { traces } = await api(`/traces${query({ limit: LIMIT, step, before })}`);
      shown = shown.concat(traces);
      draw(traces.length === LIMIT);
    } }, "Show older");
    fill(body,
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["Started", "Trace", "Started by", "Spans", "Errors", "Duration"].map((c, i) =>
          h("th", { class: i >= 3 ? "num" : "" }, c)))),
        h("tbody", {}, shown.map(row))),
      more ? h("div", { class: "panel-pad", style: "text-align:center" }, older) : null,
    );
  }

  async function load() {
    try {
      const { traces } = await api(`/traces${query({ limit: LIMIT, step })}`);
      shown = traces;
      draw(traces.length === LIMIT);
    } catch (error) {
      fill(body, empty("Could not load the traces", error.message));
    }
  }
  const soon = debounce(load, 300);
  load();
  return {
    refresh: load,
    live: (type) => { if (type === "span") soon(); },
    dispose: () => soon.cancel(),
  };
}

function traceView(main, traceId, ctx) {
  const summary = h("div", { class: "trace-head" });
  const timeline = h("div", { class: "panel timeline" });
  const traceLogs = h("div");
  main.append(
    viewHead("Trace", h("code", {}, traceId), h("span", { class: "spacer" }),
      h("a", { class: "button small", href: `#/logs${query({ traceId })}` }, "Logs of this trace"),
      h("a", { class: "button small", href: "#/traces" }, "All traces")),
    h("div", { class: "view-body" }, summary, traceLogs, timeline),
  );

  async function load() {
    let trace;
    try {
      trace = await api(`/traces/${encodeURIComponent(traceId)}`);
    } catch (error) {
      fill(summary);
      fill(timeline, empty(error.status === 404 ? "This trace is not here (yet)" : "Could not load the trace", error.message));
      return;
    }
    const { spans, logs } = trace;
    const start = Math.min(trace.summary.startedAt, ...spans.map((s) => s.startedAt), ...logs.map((l) => l.time));
    const end = Math.max(trace.summary.endedAt, ...spans.map((s) => s.endedAt), ...logs.map((l) => l.time));
    const total = Math.max(end - start, 1e-6);
    const errors = spans.filter((s) => s.outcome === "error").length;
    fill(summary,
      stat("Started", dateTime(start)),
      stat("Started by", `${trace.summary.step || "—"} ${trace.summary.detail}`),
      stat("Duration", duration(end - start)),
      stat("Spans", String(spans.length)),
      stat("Errors", errors ? h("span", { class: "badge error" }, errors) : "0"),
    );
    const bySpan = new Map(spans.map((s) => [s.id, []]));
    const loose = [];
    for (const record of logs) (bySpan.get(record.invocationId) ?? loose).push(record);
    fill(traceLogs, loose.length
      ? h("div", { class: "panel panel-pad" }, h("h3", {}, "Trace"), h("div", { class: "span-logs", style: "padding:0" }, loose.map((r) => logLine(r, start))))
      : null);
    if (!spans.length) {
      fill(timeline, empty("No span has finished yet", "Spans appear as the steps of this trace finish."));
      return;
    }
    const ticks = [0, 0.25, 0.5, 0.75, 1];
    const axis = h("div", { class: "span-row span-axis", "aria-hidden": "true" },
      h("span", {}, "step"),
      h("div", { class: "ticks" }, ticks.map((f) => h("span", { style: `left:${f * 100}%` }, duration(f * total)))),
      h("span", { style: "text-align:right" }, "took"));
    fill(timeline, axis, asTree(spans).map(([span, depth]) => {
      const left = ((span.startedAt - start) / total) * 100;
      const width = Math.max(0.4, ((span.endedAt - span.startedAt) / total) * 100);
      const own = bySpan.get(span.id);
      return h("div", { class: "span-row", dataset: { spanStep: span.step, outcome: span.outcome, depth } },
        h("div", { class: "span-name", style: depth ? `padding-left:${Math.min(depth, 8) * 14}px` : null },
          outcomeBadge(span.outcome),
          h("strong", { title: span.step }, span.step),
          h("span", { class: "sub", title: `${span.trigger} ${span.detail}` },
            span.trigger === "event" ? `← ${span.detail}` : span.trigger === "cron" ? `cron ${span.detail}` : span.detail,
            span.attempt > 1 ? ` · attempt ${span.attempt}` : ""),
        ),
        h("div", { class: "span-track", title: `+${duration(span.startedAt - start)} for ${duration(span.endedAt - span.startedAt)}` },
          h("div", { class: `span-bar ${span.outcome}`, style: `left:${Math.min(left, 99.6)}%;width:${Math.min(width, 100 - Math.min(left, 99.6))}%` })),
        h("div", { class: "span-dur" }, duration(span.endedAt - span.startedAt)),
        span.error ? h("div", { class: "span-error" },
          h("div", { class: "msg" }, `${span.error.type}: ${span.error.message}`),
          span.error.stack ? h("details", {}, h("summary", { class: "muted" }, "stack"), h("pre", { class: "stack" }, span.error.stack)) : null,
        ) : null,
        own.length ? h("div", { class: "span-logs" }, own.map((r) => logLine(r, start))) : null,
      );
    }));
  }

  // The spans in tree order, each with its depth: a child under its parent,
  // siblings by start. A span's parentId is a W3C span id (the last 16 digits
  // of an id): its parent invocation's, or an emit's (an event id the parent
  // lists in emitted). A span whose parent is not here is a root.
  function asTree(spans) {
    const owner = new Map();
    for (const span of spans) {
      owner.set(span.id.slice(-16), span);
      for (const event of span.emitted ?? []) owner.set(event.slice(-16), span);
    }
    const children = new Map(spans.map((s) => [s, []]));
    const roots = [];
    for (const span of spans) {
      const parent = span.parentId ? owner.get(span.parentId) : undefined;
      (parent && parent !== span ? children.get(parent) : roots).push(span);
    }
    const ordered = [];
    const seen = new Set();
    const walk = (span, depth) => {
      if (seen.has(span)) return;
      seen.add(span);
      ordered.push([span, depth]);
      for (const child of children.get(span)) walk(child, depth + 1);
    };
    for (const root of roots) walk(root, 0);
    for (const span of spans) walk(span, 0); // a cycle (ids are not ours to trust): shown flat
    return ordered;
  }

  const soon = debounce(load, 250);
  load();
  return {
    refresh: load,
    live: (type, data) => { if (data.traceId === traceId) soon(); },
    dispose: () => soon.cancel(),
  };
}

function stat(label, value) {
  return h("div", {}, h("span", {}, label), h("span", {}, value));
}

export function logLine(record, start) {
  const fields = fieldsText(record.fields);
  return h("div", { class: "log-line", title: clock(record.time) },
    h("span", { class: "t" }, `+${duration(Math.max(0, record.time - start))}`),
    h("span", { class: `level ${record.level}` }, record.level),
    h("span", { class: "msg" }, record.message, fields ? h("span", { class: "fields" }, ` ${fields}`) : null,
      record.fields?.stack ? h("details", {}, h("summary", { class: "muted" }, "stack"), h("pre", { class: "stack" }, record.fields.stack)) : null),
  );
}
