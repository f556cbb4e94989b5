// Dead letters: events a step failed to handle for good. Inspect the error
// and the event, then redrive (deliver again from attempt 1) or purge.

import { api } from "../api.js";
import { ago, dateTime, debounce, empty, fill, h, jsonBlock, shortId, toast, viewHead } from "../ui.js";

export function mount(main, route, ctx) {
  let selected = route.parts[0] ? Number(route.parts[0]) : null;
  let letters = [];
  const redriveAll = h("button", { class: "button", type: "button", onclick: () => act("redrive", { all: true }) }, "Redrive all");
  const list = h("section", { class: "panel" });
  const detail = h("section", { class: "panel panel-pad" });
  main.append(
    viewHead("Dead letters", "events that ran out of attempts or failed for good", h("span", { class: "spacer" }), redriveAll),
    h("div", { class: "view-body" }, list, detail),
  );

  async function act(what, selection) {
    if (what === "purge" && !confirm(selection.all ? "Delete every dead letter for good?" : "Delete this dead letter for good?")) return;
    try {
      const result = await api(`/dlq/${what}`, { body: selection });
      const n = result.redriven ?? result.purged;
      toast(`${what === "redrive" ? "Redrove" : "Purged"} ${n} dead letter${n === 1 ? "" : "s"}`);
      if (selection.ids?.includes(selected)) ctx.navigate("#/dlq");
      await load();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  function draw() {
    redriveAll.disabled = !letters.length;
    if (!letters.length) {
      fill(list, empty("No dead letters", "When an event fails all its attempts (or fails for good), it waits here to be redriven."));
      fill(detail);
      detail.hidden = true;
      return;
    }
    fill(list, h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["ID", "Step", "Topic", "Attempts", "Failed", "Error"].map((c) => h("th", { class: c === "Attempts" ? "num" : "" }, c)))),
      h("tbody", {}, letters.map((l) => {
        const open = () => ctx.navigate(`#/dlq/${l.id}`);
        return h("tr", {
          class: `link ${l.id === selected ? "selected" : ""}`, tabindex: "0", dataset: { letter: l.id }, onclick: open,
          onkeydown: (e) => { if (e.key === "Enter") open(); },
        },
          h("td", { class: "mono" }, l.id), h("td", {}, h("strong", {}, l.step)), h("td", { class: "mono" }, l.topic),
          h("td", { class: "num" }, l.attempts), h("td", { class: "nowrap", title: dateTime(l.failedAt) }, ago(l.failedAt)),
          h("td", { class: "muted" }, `${l.error.type}: ${l.error.message}`.slice(0, 140)));
      }))));
    const letter = letters.find((l) => l.id === selected);
    detail.hidden = !letter;
    if (!letter) return;
    fill(detail,
      h("div", { class: "response-head" },
        h("h2", { style: "margin:0" }, `Dead letter ${letter.id}`), h("span", { class: "spacer", style: "flex:1" }),
        h("button", { class: "button primary", type: "button", onclick: () => act("redrive", { ids: [letter.id] }) }, "Redrive"),
        h("button", { class: "button danger", type: "button", onclick: () => act("purge", { ids: [letter.id] }) }, "Purge")),
      h("div", { class: "trace-head", style: "margin-bottom:12px" },
        ...[["Step", letter.step], ["Topic", letter.topic], ["Attempts", letter.attempts], ["Failed", dateTime(letter.failedAt)],
            ["Emitted", dateTime(letter.event.createdAt)],
            ["Trace", h("a", { href: `#/traces/${letter.event.traceId}` }, shortId(letter.event.traceId))]]
          .map(([k, v]) => h("div", {}, h("span", {}, k), h("span", {}, v)))),
      h("h3", {}, "Error"),
      h("p", { class: "mono letter-error", style: "color:var(--error);margin:0 0 8px" }, `${letter.error.type}: ${letter.error.message}`),
      letter.error.stack ? h("pre", { class: "stack" }, letter.error.stack) : null,
      h("h3", { style: "margin-top:14px" }, "Event data"),
      jsonBlock(letter.event.data),
    );
  }

  async function load() {
    try {
      ({ deadLetters: letters } = await api("/dlq"));
      draw();
    } catch (error) {
      fill(list, empty("Could not load the dead letters", error.message));
    }
  }
  const soon = debounce(load, 400);
  load();
  return {
    update(next) { selected = next.parts[0] ? Number(next.parts[0]) : null; draw(); },
    refresh: load,
    live(type, data) { if (type === "span") soon(); },
    key(event) { if (event.key === "Escape" && selected !== null) ctx.navigate("#/dlq"); },
    dispose: () => soon.cancel(),
  };
}
