// Flows: the steps and topics of each flow as a layered diagram (the graph
// `motiad flows --json` prints), with pan, zoom and a details panel.

import { edgePath, layout } from "../layout.js";
import { empty, fill, h, typeBadge, viewHead } from "../ui.js";

const ALL = "*";
const STEP_HEIGHT = 54;
const TOPIC_HEIGHT = 30;
const READABLE = 0.6; // the smallest scale the first view uses: labels stay legible

let measurer = null;
function textWidth(text, font) {
  measurer ??= document.createElement("canvas").getContext("2d");
  measurer.font = font;
  return measurer.measureText(text).width;
}

function truncate(text, font, max) {
  if (textWidth(text, font) <= max) return text;
  let cut = text;
  while (cut.length > 1 && textWidth(`${cut}…`, font) > max) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** ``truncate`` from the start: a path keeps its file name and line. */
function truncateStart(text, font, max) {
  if (textWidth(text, font) <= max) return text;
  let cut = text;
  while (cut.length > 1 && textWidth(`…${cut}`, font) > max) cut = cut.slice(1);
  return `…${cut}`;
}

function languageTag(file) {
  const ext = (file ?? "").split(".").pop();
  return { ts: "ts", mts: "ts", js: "js", mjs: "js", cjs: "js", py: "py" }[ext] ?? ext;
}

/** Where a broken step failed: its file, and the line when an error names one. */
function whereBroken(node) {
  return node.broken.line == null ? node.file : `${node.file}:${node.broken.line}`;
}

function sizeOf(node) {
  if (node.kind === "topic") {
    return { width: Math.min(260, Math.max(96, textWidth(node.name, "600 12px monospace") + 36)), height: TOPIC_HEIGHT };
  }
  const name = textWidth(node.name, "600 13px sans-serif") + 56;
  const metaText = node.broken ? whereBroken(node) : `${node.type} · ${node.trigger}`;
  const meta = textWidth(metaText, "11px monospace") + 30;
  return { width: Math.min(280, Math.max(176, name, meta)), height: STEP_HEIGHT };
}

/** The nodes and edges of one flow (or of every flow). */
function subgraph(graph, flow) {
  if (flow === ALL) return { nodes: graph.nodes, edges: graph.edges };
  const entry = graph.flows.find((f) => f.name === flow);
  if (!entry) return { nodes: [], edges: [] };
  const members = new Set([...entry.steps.map((s) => `step:${s}`), ...entry.topics.map((t) => `topic:${t}`)]);
  const edgeIds = new Set(entry.edges);
  return { nodes: graph.nodes.filter((n) => members.has(n.id)), edges: graph.edges.filter((e) => edgeIds.has(e.id)) };
}

export function mount(main, route, ctx) {
  const head = viewHead("Flows", "steps and the topics that connect them");
  const picker = h("div", { class: "segmented", role: "group", "aria-label": "Flow" });
  const warnings = h("span");
  const finder = h("input", {
    type: "search", placeholder: "Find a step or topic", "aria-label": "Find a step or topic", "data-search": true,
  });
  head.append(h("span", { class: "spacer" }), warnings, finder, picker);
  const canvas = h("div", { class: "flow-canvas" });
  const details = h("aside", { class: "details", hidden: true, "aria-label": "Details" });
  const wrap = h("div", { class: "flow-wrap" }, canvas, details);
  main.append(head, h("div", { class: "view-body fill" }, wrap));

  let graph = null;
  let flow = route.parts[0] ?? null;
  let view = { k: 1, tx: 0, ty: 0 };
  let placed = null;
  let viewport = null;
  let svg = null;
  let selected = null;
  let drawingFound = false; // find() is redrawing for another flow: do not find again from draw()

  const apply = () => viewport?.setAttribute("transform", `translate(${view.tx},${view.ty}) scale(${view.k})`);

  // The first view is readable: the whole flow when it fits at a legible
  // scale, else its beginning (pan or zoom out for the rest); Fit shows all.
  function wholeScale() {
    const box = canvas.getBoundingClientRect();
    return Math.min(1.15, (box.width - 40) / placed.width, (box.height - 40) / placed.height);
  }

  function fit(all = true) {
    if (!placed || !svg) return;
    const box = canvas.getBoundingClientRect();
    const whole = wholeScale();
    const k = all ? Math.max(0.1, whole) : Math.max(READABLE, whole);
    view = { k, tx: 0, ty: 0 };
    const width = placed.width * k;
    const height = placed.height * k;
    view.tx = width <= box.width ? (box.width - width) / 2 : 8;
    view.ty = height <= box.height ? (box.height - height) / 2 : 8;
    apply();
  }

  function zoom(factor, cx, cy) {
    const box = canvas.getBoundingClientRect();
    const x = cx ?? box.width / 2;
    const y = cy ?? box.height / 2;
    const k = Math.min(3, Math.max(0.15, view.k * factor));
    view = { k, tx: x - ((x - view.tx) * k) / view.k, ty: y - ((y - view.ty) * k) / view.k };
    apply();
  }

  function draw() {
    const names = graph.flows.map((f) => f.name);
    if (flow === null || (flow !== ALL && !names.includes(flow))) {
      // first the flow with the most steps: usually the one the project is about
      const largest = [...graph.flows].sort((a, b) => b.steps.length - a.steps.length)[0];
      flow = largest?.name ?? ALL;
    }
    fill(picker, ...[...names, ...(names.length > 1 ? [ALL] : [])].map((name) =>
      h("button", {
        type: "button", "aria-pressed": String(name === flow),
        onclick: () => ctx.navigate(`#/flows/${encodeURIComponent(name)}`),
      }, name === ALL ? "All" : name),
    ));
    fill(warnings, graph.warnings.length
      ? h("span", { class: "badge warn", title: graph.warnings.join("\n") }, `${graph.warnings.length} warning${graph.warnings.length > 1 ? "s" : ""}`)
      : null);

    const { nodes, edges } = subgraph(graph, flow);
    if (!nodes.length) {
      fill(canvas, empty("No steps yet", "Add a step file under steps/ (for example steps/hello.step.ts) and it appears here."));
      return;
    }
    placed = layout(nodes.map((n) => ({ id: n.id, ...sizeOf(n) })), edges);
    const byId = new Map(nodes.map((n) => [n.id, n]));

    const edgeLayer = h("g", { class: "edges" });
    const labelLayer = h("g", { class: "labels" });
    for (const edge of edges) {
      const route = placed.edges.get(edge.id);
      if (!route) continue;
      const cls = ["edge", edge.virtual ? "virtual" : "", edge.conditional ? "conditional" : ""].join(" ");
      edgeLayer.append(h("path", {
        class: cls, d: edgePath(route.points), "marker-end": "url(#arrow)",
        dataset: { edge: edge.id, from: edge.from, to: edge.to },
      }));
      if (edge.label) {
        const [x0, y0] = route.points[0];
        const [x1, y1] = route.points[1];
        labelLayer.append(h("text", { class: "edge-label", x: (x0 + x1) / 2, y: (y0 + y1) / 2 - 6, "text-anchor": "middle" }, edge.label));
      }
    }
    const nodeLayer = h("g", { class: "nodes" });
    for (const [id, box] of placed.nodes) {
      const node = byId.get(id);
      const g = node.kind === "topic" ? topicNode(node, box) : stepNode(node, box);
      g.addEventListener("click", (event) => { event.stopPropagation(); select(id); });
      g.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(id); }
      });
      g.addEventListener("mouseenter", () => highlight(id, true));
      g.addEventListener("mouseleave", () => highlight(id, false));
      g.addEventListener("focus", () => highlight(id, true));
      g.addEventListener("blur", () => highlight(id, false));
      nodeLayer.append(g);
    }
    viewport = h("g", { class: "viewport" }, edgeLayer, labelLayer, nodeLayer);
    svg = h("svg", { role: "group", "aria-label": `Flow ${flow === ALL ? "(all)" : flow}` },
      h("defs", {}, h("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
        h("path", { class: "arrow", d: "M0,0 L10,5 L0,10 z" }))),
      viewport);
    enablePanZoom(svg);
    const tools = h("div", { class: "flow-tools" },
      h("button", { class: "button small", type: "button", title: "Zoom out (-)", onclick: () => zoom(1 / 1.2) }, "−"),
      h("button", { class: "button small", type: "button", title: "Zoom in (+)", onclick: () => zoom(1.2) }, "+"),
      h("button", { class: "button small", type: "button", title: "Show all (f)", onclick: () => fit(true) }, "Fit"),
    );
    const legend = h("div", { class: "flow-legend" },
      h("span", {}, h("i"), "emits / subscribes"), h("span", {}, h("i", { class: "dashed" }), "virtual (noop)"),
      nodes.some((n) => n.broken) ? h("span", {}, h("i", { class: "broken" }), "failed to load") : null);
    fill(canvas, svg, legend, tools);
    requestAnimationFrame(() => fit(false));
    if (finder.value.trim() && !drawingFound) find(finder.value); // typed before the graph came
    else if (selected && placed.nodes.has(selected)) select(selected);
    else closeDetails();
  }

  function stepNode(node, box) {
    if (node.broken) return brokenNode(node, box);
    const g = h("g", {
      class: `node step ${node.type}`, transform: `translate(${box.x},${box.y})`, tabindex: "0", role: "button",
      "aria-label": `${node.type} step ${node.name}, ${node.trigger}`, dataset: { node: node.id },
    });
    g.append(
      h("rect", { class: "box", width: box.width, height: box.height, rx: 8 }),
      h("rect", { class: `stripe ${node.type}`, x: 0, y: 8, width: 3.5, height: box.height - 16, rx: 1.75 }),
      h("text", { class: "name", x: 14, y: 23 }, truncate(node.name, "600 13px sans-serif", box.width - 52)),
      h("text", { class: "meta", x: 14, y: 41 }, truncate(`${node.type} · ${node.trigger}`, "11px monospace", box.width - 24)),
      h("text", { class: "lang", x: box.width - 10, y: 22, "text-anchor": "end" }, languageTag(node.file)),
      h("title", {}, `${node.name}\n${node.description ?? ""}`.trim()),
    );
    if (node.type === "noop") g.classList.add("noop");
    return g;
  }

  // A step file that does not load: where it would be, in the banner's colours,
  // with where it failed (file:line) on the node and every error on hover and click.
  function brokenNode(node, box) {
    const where = whereBroken(node);
    return h("g", {
      class: "node step broken", transform: `translate(${box.x},${box.y})`, tabindex: "0", role: "button",
      "aria-label": `broken step ${node.name}, failed to load at ${where}`, dataset: { node: node.id },
    },
      h("rect", { class: "box", width: box.width, height: box.height, rx: 8 }),
      h("rect", { class: "stripe broken", x: 0, y: 8, width: 3.5, height: box.height - 16, rx: 1.75 }),
      h("text", { class: "name", x: 14, y: 23 }, truncate(node.name, "600 13px sans-serif", box.width - 52)),
      h("text", { class: "meta", x: 14, y: 41 }, truncateStart(where, "11px monospace", box.width - 24)),
      h("text", { class: "mark", x: box.width - 10, y: 23, "text-anchor": "end", "aria-hidden": "true" }, "⚠"),
      h("title", {}, node.broken.errors.join("\n")),
    );
  }

  function topicNode(node, box) {
    return h("g", {
      class: "node topic", transform: `translate(${box.x},${box.y})`, tabindex: "0", role: "button",
      "aria-label": `topic ${node.name}`, dataset: { node: node.id },
    },
      h("rect", { class: "box", width: box.width, height: box.height, rx: box.height / 2 }),
      h("text", { class: "name", x: box.width / 2, y: box.height / 2 + 4, "text-anchor": "middle" },
        truncate(node.name, "600 12px monospace", box.width - 24)),
    );
  }

  function highlight(id, on) {
    for (const path of canvas.querySelectorAll(".edge")) {
      if (path.dataset.from === id || path.dataset.to === id) path.classList.toggle("hot", on);
    }
  }

  function select(id) {
    selected = id;
    for (const g of canvas.querySelectorAll(".node")) g.classList.toggle("selected", g.dataset.node === id);
    const node = graph.nodes.find((n) => n.id === id);
    if (node.broken) {
      fill(details,
        h("div", {}, h("h2", {}, node.name), h("span", { class: "badge error" }, "failed to load")),
        h("pre", { class: "error-text" }, node.broken.errors.join("\n")),
        h("dl", {}, [["file", h("code", {}, whereBroken(node))], ["trigger", h("code", {}, node.trigger)], ["flows", node.flows.join(", ")]]
          .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
        h("p", { class: "muted", style: "margin:0" }, "Fix the file: motiad dev reloads it and this goes away."),
      );
      showDetails(id);
      return;
    }
    const incoming = graph.edges.filter((e) => e.to === id);
    const outgoing = graph.edges.filter((e) => e.from === id);
    const names = (list, end) => list.map((e) => graph.nodes.find((n) => n.id === e[end])?.name + (e.virtual ? " (virtual)" : ""));
    const rows = node.kind === "topic"
      ? [["emitted by", names(incoming, "from").join(", ") || "—"], ["subscribers", names(outgoing, "to").join(", ") || "—"], ["flows", node.flows.join(", ")]]
      : [["trigger", h("code", {}, node.trigger)], ["file", h("code", {}, node.file)], ["language", node.language],
         ["flows", node.flows.join(", ")], ["emits", names(outgoing, "to").join(", ") || "—"],
         ...(incoming.length ? [["subscribes", names(incoming, "from").join(", ")]] : [])];
    const step = encodeURIComponent(node.name);
    const actions = node.kind === "topic"
      ? [h("a", { class: "button small", href: `#/tester?topic=${step}` }, "Emit an event")]
      : [h("a", { class: "button small", href: `#/traces?step=${step}` }, "Traces"),
         h("a", { class: "button small", href: `#/logs?step=${step}` }, "Logs"),
         node.type === "api" ? h("a", { class: "button small primary", href: `#/tester?step=${step}` }, "Try it") : null];
    fill(details,
      h("div", {}, h("h2", {}, node.name), node.kind === "topic" ? h("span", { class: "badge" }, "topic") : typeBadge(node.type)),
      node.description ? h("p", { class: "muted", style: "margin:0" }, node.description) : null,
      h("dl", {}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      h("div", { class: "actions" }, actions),
    );
    showDetails(id);
  }

  function showDetails(id) {
    const opening = details.hidden;
    details.hidden = false;
    requestAnimationFrame(() => {
      // a flow that still fits the narrower canvas is fitted again; a large one keeps its view
      if (opening && wholeScale() >= READABLE) fit(false);
      reveal(id);
    });
  }

  // Keep the selected node in sight once the details panel has narrowed the canvas.
  function reveal(id) {
    const box = placed?.nodes.get(id);
    if (!box) return;
    const area = canvas.getBoundingClientRect();
    const left = view.tx + box.x * view.k;
    const right = view.tx + (box.x + box.width) * view.k;
    if (right > area.width - 16) view.tx -= right - (area.width - 16);
    else if (left < 16) view.tx += 16 - left;
    apply();
  }

  // Find: the first step or topic of this flow whose name has the text, selected and centred.
  function find(text, focus = false) {
    const needle = text.trim().toLowerCase();
    if (!needle || !placed) return;
    const hit = (id) => id.slice(id.indexOf(":") + 1).toLowerCase().includes(needle);
    const match = [...placed.nodes.keys()].find(hit);
    if (!match) {
      // in another flow: show that flow, then find it there
      const elsewhere = graph.nodes.find((n) => hit(n.id));
      if (elsewhere) {
        flow = elsewhere.flows[0] ?? ALL;
        drawingFound = true;
        try { draw(); } finally { drawingFound = false; }
        if (placed.nodes.has(elsewhere.id)) find(text, focus);
      }
      return;
    }
    const box = placed.nodes.get(match);
    const area = canvas.getBoundingClientRect();
    view.k = Math.max(view.k, READABLE);
    view.tx = area.width / 2 - (box.x + box.width / 2) * view.k;
    view.ty = area.height / 2 - (box.y + box.height / 2) * view.k;
    apply();
    select(match);
    if (focus) canvas.querySelector(`[data-node="${CSS.escape(match)}"]`)?.focus();
  }

  function closeDetails() {
    selected = null;
    details.hidden = true;
    for (const g of canvas.querySelectorAll(".node.selected")) g.classList.remove("selected");
  }

  function enablePanZoom(target) {
    let drag = null;
    target.addEventListener("wheel", (event) => {
      event.preventDefault();
      const box = canvas.getBoundingClientRect();
      zoom(event.deltaY < 0 ? 1.1 : 1 / 1.1, event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });
    target.addEventListener("pointerdown", (event) => {
      if (event.target.closest(".node")) return;
      drag = { x: event.clientX, y: event.clientY, tx: view.tx, ty: view.ty, moved: false };
      target.setPointerCapture(event.pointerId);
      target.classList.add("panning");
    });
    target.addEventListener("pointermove", (event) => {
      if (!drag) return;
      view.tx = drag.tx + event.clientX - drag.x;
      view.ty = drag.ty + event.clientY - drag.y;
      drag.moved ||= Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) > 3;
      apply();
    });
    target.addEventListener("pointerup", () => {
      if (drag && !drag.moved) closeDetails();
      drag = null;
      target.classList.remove("panning");
    });
  }

  async function load() {
    try {
      graph = await ctx.graph();
      draw();
    } catch (error) {
      fill(canvas, empty("Could not load the flows", error.message));
    }
  }

  finder.addEventListener("input", () => find(finder.value));
  finder.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); find(finder.value, true); }
  });
  const onResize = () => fit(false);
  window.addEventListener("resize", onResize);
  load();

  return {
    update(next) {
      flow = next.parts[0] ?? flow;
      if (graph) draw();
    },
    refresh() { ctx.reload(); load(); },
    key(event) {
      if (event.key === "f") fit(true);
      else if (event.key === "0") fit(false);
      else if (event.key === "+" || event.key === "=") zoom(1.2);
      else if (event.key === "-") zoom(1 / 1.2);
      else if (event.key === "Escape") closeDetails();
    },
    dispose() { window.removeEventListener("resize", onResize); },
  };
}
