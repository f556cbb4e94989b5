// Tester: call an API step with a body, or emit an event into a topic; show
// the response and link to the trace it started.

import { api } from "../api.js";
import { duration, empty, fill, h, jsonBlock, toast, viewHead } from "../ui.js";

/** A small example value for a JSON Schema (enough to edit, not to be clever). */
export function example(schema, depth = 0) {
  if (!schema || typeof schema !== "object" || depth > 6) return null;
  if ("example" in schema) return schema.example;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  if ("default" in schema) return schema.default;
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const branch = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(branch)) return example(branch.find((b) => b.type !== "null") ?? branch[0], depth + 1);
  if (Array.isArray(schema.allOf)) return Object.assign({}, ...schema.allOf.map((s) => example(s, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  switch (type ?? (schema.properties ? "object" : undefined)) {
    case "object": {
      const out = {};
      for (const [key, sub] of Object.entries(schema.properties ?? {})) out[key] = example(sub, depth + 1);
      return out;
    }
    case "array": return schema.items ? [example(schema.items, depth + 1)] : [];
    case "string": return schema.format === "email" ? "someone@example.com" : "text";
    case "integer": case "number": return schema.minimum ?? 0;
    case "boolean": return false;
    default: return null;
  }
}

const pretty = (value) => JSON.stringify(value ?? {}, null, 2);

export function mount(main, route, ctx) {
  let mode = route.params.get("topic") || route.params.get("mode") === "emit" ? "emit" : "api";
  const modes = h("div", { class: "segmented", role: "group", "aria-label": "What to send" });
  const form = h("section", { class: "panel panel-pad form" });
  const result = h("section", { class: "panel panel-pad", "aria-live": "polite" });
  main.append(
    viewHead("Tester", "call an API step or emit an event, then follow its trace", h("span", { class: "spacer" }), modes),
    h("div", { class: "view-body" }, h("div", { class: "tester" }, form, result)),
  );
  let steps = [];
  let graph = { nodes: [], edges: [] };

  function drawModes() {
    fill(modes, [["api", "API request"], ["emit", "Emit an event"]].map(([id, label]) =>
      h("button", { type: "button", "aria-pressed": String(mode === id), onclick: () => { mode = id; drawModes(); drawForm(); } }, label)));
  }

  function drawForm() {
    fill(result, empty("Nothing sent yet", "The response appears here, with a link to its trace."));
    if (mode === "api") apiForm(); else emitForm();
  }

  function apiForm() {
    const apis = steps.filter((s) => s.type === "api");
    if (!apis.length) {
      fill(form, empty("No API steps", "Add a step with type: 'api' to call it from here."));
      return;
    }
    const wanted = route.params.get("step");
    const picker = h("select", { "aria-label": "API step", id: "tester-step" },
      apis.map((s) => h("option", { value: s.name, selected: s.name === wanted }, `${s.name} — ${s.config.method} ${s.config.path}`)));
    const method = h("span", { class: "method" });
    const path = h("input", { type: "text", class: "mono grow", "aria-label": "Path", id: "tester-path" });
    const body = h("textarea", { "aria-label": "Request body (JSON)", id: "tester-body", spellcheck: "false" });
    const bodyField = h("label", { class: "field" }, "Body (JSON)", body);
    const send = h("button", { class: "button primary", type: "submit" }, "Send");
    const choose = () => {
      const step = apis.find((s) => s.name === picker.value);
      method.textContent = step.config.method;
      path.value = step.config.path;
      body.value = pretty(example(step.config.bodySchema) ?? {});
      bodyField.hidden = ["GET", "HEAD", "DELETE"].includes(step.config.method);
    };
    picker.addEventListener("change", choose);
    choose();
    const submit = async (event) => {
      event.preventDefault();
      const step = apis.find((s) => s.name === picker.value);
      if (/\/:[A-Za-z_]/.test(path.value)) {
        toast("Fill in the path parameters (the :name parts) first", "error");
        path.focus();
        return;
      }
      const init = { method: step.config.method, headers: {} };
      if (!bodyField.hidden) {
        try { JSON.parse(body.value || "null"); } catch (error) { toast(`The body is not valid JSON: ${error.message}`, "error"); return; }
        init.headers["content-type"] = "application/json";
        init.body = body.value;
      }
      send.disabled = true;
      const started = performance.now();
      try {
        const response = await fetch(path.value, init);
        const text = await response.text();
        showResponse(response, text, (performance.now() - started) / 1000);
      } catch (error) {
        fill(result, empty("The request failed", error.message));
      } finally {
        send.disabled = false;
      }
    };
    fill(form,
      h("form", { class: "form", onsubmit: submit, onkeydown: (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit(e); } },
        h("label", { class: "field" }, "Step", picker),
        h("div", { class: "row" }, method, h("label", { class: "field grow" }, "Path", path)),
        bodyField,
        h("div", { class: "row" }, send, h("span", { class: "hint" }, h("kbd", {}, "Ctrl"), " + ", h("kbd", {}, "Enter"), " sends"))),
    );
  }

  function showResponse(response, text, seconds) {
    let body;
    try { body = jsonBlock(JSON.parse(text)); } catch { body = h("pre", { class: "json" }, text); }
    const traceId = response.headers.get("x-trace-id");
    const headers = [...response.headers.entries()];
    fill(result,
      h("div", { class: "response-head" },
        h("span", { class: `status s${String(response.status)[0]}`, id: "tester-status" }, response.status),
        h("span", { class: "muted" }, response.statusText), h("span", { class: "faint mono" }, duration(seconds)),
        h("span", { style: "flex:1" }),
        traceId ? h("a", { class: "button small primary", href: `#/traces/${traceId}`, id: "tester-trace" }, "Open trace →") : null),
      h("dl", { class: "headers" }, headers.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      body,
    );
  }

  function emitForm() {
    const subscribed = [...new Set(graph.edges.filter((e) => e.kind === "subscribe" && !e.virtual).map((e) => e.from.replace(/^topic:/, "")))];
    if (!subscribed.length) {
      fill(form, empty("No topic has a subscriber", "Add an event step with subscribes: ['a.topic'] to emit to it from here."));
      return;
    }
    const wanted = route.params.get("topic");
    const topic = h("select", { "aria-label": "Topic", id: "tester-topic" },
      subscribed.map((t) => h("option", { value: t, selected: t === wanted }, t)));
    const data = h("textarea", { "aria-label": "Event data (JSON)", id: "tester-data", spellcheck: "false" });
    const group = h("input", { type: "text", placeholder: "optional (FIFO subscribers)", "aria-label": "messageGroupId" });
    const send = h("button", { class: "button primary", type: "submit" }, "Emit");
    const choose = () => {
      const subscriber = graph.edges.find((e) => e.kind === "subscribe" && e.from === `topic:${topic.value}`);
      const step = steps.find((s) => `step:${s.name}` === subscriber?.to);
      data.value = pretty(example(step?.config.input) ?? {});
    };
    topic.addEventListener("change", choose);
    choose();
    const submit = async (event) => {
      event.preventDefault();
      let value;
      try { value = JSON.parse(data.value || "null"); } catch (error) { toast(`The data is not valid JSON: ${error.message}`, "error"); return; }
      send.disabled = true;
      try {
        const sent = await api("/emit", { body: { topic: topic.value, data: value, messageGroupId: group.value || null } });
        fill(result,
          h("div", { class: "response-head" }, h("span", { class: "status s2", id: "tester-status" }, "emitted"),
            h("span", { class: "mono muted" }, `event ${sent.eventId}`), h("span", { style: "flex:1" }),
            h("a", { class: "button small primary", href: `#/traces/${sent.traceId}`, id: "tester-trace" }, "Open trace →")),
          h("p", { class: "muted" }, `Delivered to every subscriber of ${topic.value}, in a new trace.`));
      } catch (error) {
        fill(result, h("div", { class: "response-head" }, h("span", { class: "status s4", id: "tester-status" }, error.status ?? "error")),
          h("p", { class: "mono", style: "color:var(--error)" }, error.message),
          error.body?.issues ? jsonBlock(error.body.issues) : null);
      } finally {
        send.disabled = false;
      }
    };
    fill(form,
      h("form", { class: "form", onsubmit: submit, onkeydown: (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit(e); } },
        h("label", { class: "field" }, "Topic", topic),
        h("label", { class: "field" }, "Data (JSON)", data),
        h("label", { class: "field" }, "Message group id", group),
        h("div", { class: "row" }, send, h("span", { class: "hint" }, h("kbd", {}, "Ctrl"), " + ", h("kbd", {}, "Enter"), " emits"))),
    );
  }

  async function load() {
    try {
      [steps, graph] = await Promise.all([ctx.steps(), ctx.graph()]);
    } catch (error) {
      fill(form, empty("Could not load the steps", error.message));
      return;
    }
    drawModes();
    drawForm();
  }
  load();
  return {
    update(next) {
      route = next;
      mode = next.params.get("topic") || next.params.get("mode") === "emit" ? "emit" : "api";
      drawModes();
      drawForm();
    },
    refresh: load,
  };
}
