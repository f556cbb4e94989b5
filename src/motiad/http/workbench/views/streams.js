// Streams: the items of each stream, by group, updated live (the live stream
// says which stream changed; the view re-reads what it shows).

import { api } from "../api.js";
import { debounce, empty, fill, h, jsonBlock, viewHead } from "../ui.js";

// Endpoint answers may be a bare list or wrapped ({streams: […]}); take either.
const listOf = (data, key) => (Array.isArray(data) ? data : data?.[key] ?? []);
const nameOf = (entry) => (typeof entry === "string" ? entry : entry.name ?? entry.streamName);
const groupOf = (entry) => (typeof entry === "string" ? entry : entry.groupId ?? entry.id ?? entry.name);

export function mount(main, route, ctx) {
  let stream = route.parts[0] ?? null;
  let group = route.parts[1] ?? null;
  const streams = h("ul", { class: "list", "aria-label": "Streams" });
  const groups = h("ul", { class: "list", "aria-label": "Groups" });
  const items = h("div", { class: "items" });
  const title = h("h2", { style: "margin:0" });
  main.append(
    viewHead("Streams", "items steps publish to clients, by stream and group"),
    h("div", { class: "view-body" },
      h("div", { class: "split" },
        h("section", { class: "panel" }, h("div", { class: "panel-pad" }, h("h3", {}, "Streams")), streams,
          h("div", { class: "panel-pad" }, h("h3", {}, "Groups")), groups),
        h("section", { class: "panel" }, h("div", { class: "panel-pad", style: "border-bottom:1px solid var(--line)" }, title), items))),
  );

  async function load() {
    let names;
    try {
      names = listOf(await api("/streams"), "streams").map(nameOf);
    } catch (error) {
      fill(streams, h("li", {}, empty(error.status === 404 ? "No streams here" : "Could not load the streams", error.status === 404 ? "This motiad serves no streams." : error.message)));
      fill(groups);
      fill(items);
      return;
    }
    if (!names.length) {
      fill(streams, h("li", {}, empty("No streams yet", "Declare one in a *.stream.ts or *_stream.py file.")));
      fill(groups); fill(items); fill(title, "");
      return;
    }
    if (!names.includes(stream)) { stream = names[0]; group = null; }
    fill(streams, names.map((n) => h("li", {}, h("a", { href: `#/streams/${encodeURIComponent(n)}`, "aria-current": String(n === stream), dataset: { stream: n } }, h("span", { class: "name" }, n)))));
    const ids = listOf(await api(`/streams/${encodeURIComponent(stream)}`), "groups").map(groupOf);
    if (!ids.includes(group)) group = ids[0] ?? null;
    fill(groups, ids.length
      ? ids.map((g) => h("li", {}, h("a", { href: `#/streams/${encodeURIComponent(stream)}/${encodeURIComponent(g)}`, "aria-current": String(g === group), dataset: { group: g } }, h("span", { class: "name" }, g))))
      : h("li", {}, h("span", { class: "faint", style: "padding:8px 10px;display:block" }, "no groups yet")));
    fill(title, h("code", {}, group === null ? stream : `${stream} / ${group}`));
    if (group === null) { fill(items, empty("This stream is empty")); return; }
    const found = listOf(await api(`/streams/${encodeURIComponent(stream)}/${encodeURIComponent(group)}`), "items");
    fill(items, found.length
      ? found.map((item) => h("div", { class: "item", dataset: { item: item.id } }, h("span", { class: "key" }, item.id ?? ""), jsonBlock(item)))
      : empty("This group is empty"));
  }
  const soon = debounce(() => load().catch(() => {}), 250);
  load().catch((error) => fill(items, empty("Could not load the stream", error.message)));
  return {
    update(next) { stream = next.parts[0] ?? stream; group = next.parts[1] ?? null; soon(); },
    refresh: soon,
    // a change in the stream shown (a new group, an item of the group shown)
    live(type, change) { if (type === "stream" && change.stream === stream) soon(); },
    dispose: () => soon.cancel(),
  };
}
