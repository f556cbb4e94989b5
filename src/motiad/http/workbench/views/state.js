// State: every group, its keys and their JSON values.

import { api } from "../api.js";
import { ago, debounce, empty, fill, h, jsonBlock, viewHead } from "../ui.js";

export function mount(main, route, ctx) {
  let group = route.parts[0] ?? null;
  const search = h("input", { type: "search", placeholder: "Filter groups and keys", "aria-label": "Filter groups and keys", "data-search": true });
  const groups = h("ul", { class: "list", "aria-label": "State groups" });
  const items = h("div", { class: "items" });
  const title = h("h2", { style: "margin:0" });
  main.append(
    viewHead("State", "values steps keep, by group and key", h("span", { class: "spacer" }), search),
    h("div", { class: "view-body" },
      h("div", { class: "split" },
        h("section", { class: "panel" }, groups),
        h("section", { class: "panel" }, h("div", { class: "panel-pad", style: "border-bottom:1px solid var(--line)" }, title), items))),
  );
  let known = [];

  function drawGroups() {
    const needle = search.value.toLowerCase();
    const shown = known.filter((g) => !needle || g.groupId.toLowerCase().includes(needle) || g.groupId === group);
    if (!known.length) {
      fill(groups, h("li", {}, empty("No state yet", "Steps keep values with state.set(group, key, value).")));
      return;
    }
    fill(groups, shown.map((g) => h("li", {},
      h("a", { href: `#/state/${encodeURIComponent(g.groupId)}`, "aria-current": String(g.groupId === group), dataset: { group: g.groupId }, title: `changed ${ago(g.updatedAt)}` },
        h("span", { class: "name" }, g.groupId), h("span", { class: "faint" }, g.keys)))));
  }

  async function loadGroups() {
    try {
      ({ groups: known } = await api("/state"));
      if (group === null && known.length) group = known[0].groupId;
      drawGroups();
    } catch (error) {
      fill(groups, h("li", {}, empty("Could not load the state", error.message)));
    }
  }

  async function loadItems() {
    if (group === null) {
      fill(title, "No group");
      fill(items);
      return;
    }
    fill(title, h("code", {}, group));
    try {
      const data = await api(`/state/${encodeURIComponent(group)}`);
      const needle = search.value.toLowerCase();
      const shown = data.items.filter((i) => !needle || i.key.toLowerCase().includes(needle) || JSON.stringify(i.value).toLowerCase().includes(needle));
      fill(items, shown.length
        ? shown.map((i) => h("div", { class: "item", dataset: { key: i.key } }, h("span", { class: "key" }, i.key), jsonBlock(i.value)))
        : empty(data.items.length ? "No key matches the filter" : "This group is empty"));
    } catch (error) {
      fill(items, empty("Could not load the group", error.message));
    }
  }

  const load = async () => { await loadGroups(); await loadItems(); };
  const soon = debounce(load, 400);
  search.addEventListener("input", () => { drawGroups(); loadItems(); });
  load();
  return {
    update(next) { group = next.parts[0] ?? group; drawGroups(); loadItems(); },
    refresh: load,
    // state changes inside invocations: look again when one finishes
    live(type) { if (type === "span") soon(); },
    dispose: () => soon.cancel(),
  };
}
