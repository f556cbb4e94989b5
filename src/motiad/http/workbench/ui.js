// Small DOM helpers shared by the views: element building, times, JSON.

/** Build an element: h("a", {href: "#/x", class: "y"}, "text", child…). */
export function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "g", "path", "rect", "text", "circle", "defs", "marker", "title", "line"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of ``el``. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A view's header: title, a subtitle, then anything (filters, buttons). */
export function viewHead(title, sub, ...rest) {
  return h("header", { class: "view-head" }, h("h1", {}, title), sub ? h("span", { class: "sub" }, sub) : null, ...rest);
}

export function empty(title, ...lines) {
  return h("div", { class: "empty" }, h("strong", {}, title), ...lines.map((line) => h("span", {}, line)));
}

export function clock(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function dateTime(seconds) {
  const d = new Date(seconds * 1000);
  const today = new Date();
  const day = d.toDateString() === today.toDateString() ? "" : `${d.toLocaleDateString()} `;
  return day + clock(seconds).slice(0, 8);
}

export function ago(seconds) {
  const delta = Date.now() / 1000 - seconds;
  if (delta < 5) return "just now";
  if (delta < 60) return `${Math.round(delta)} s ago`;
  if (delta < 3600) return `${Math.round(delta / 60)} min ago`;
  if (delta < 86400) return `${Math.round(delta / 3600)} h ago`;
  return dateTime(seconds);
}

export function duration(seconds) {
  const ms = seconds * 1000;
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

// The random end of an id: its start is the time (the same for ids of one minute).
export function shortId(id) {
  return id ? id.slice(-8) : "";
}

/** Pretty JSON with classes for keys, strings, numbers, booleans and null. */
export function jsonBlock(value, cls = "json") {
  const pre = h("pre", { class: cls });
  const text = JSON.stringify(value, null, 2) ?? "undefined";
  const token = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false)\b|\bnull\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
  let last = 0;
  for (const match of text.matchAll(token)) {
    pre.append(text.slice(last, match.index));
    const [whole, string, colon, bool] = match;
    const kind = string ? (colon ? "k" : "s") : bool ? "b" : whole === "null" ? "z" : "n";
    pre.append(h("span", { class: kind }, string ?? whole));
    if (colon) pre.append(colon);
    last = match.index + whole.length;
  }
  pre.append(text.slice(last));
  return pre;
}

/** Compact one-line JSON of log fields. */
export function fieldsText(fields) {
  if (!fields) return "";
  const { stack, ...rest } = fields;
  return Object.keys(rest).length ? JSON.stringify(rest) : "";
}

export function toast(message, kind = "") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}` }, message);
  box.append(el);
  setTimeout(() => el.remove(), 4000);
}

/** Call ``fn`` at most once per ``ms``, after the last call (live refreshes). */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export function typeBadge(type) {
  return h("span", { class: `badge ${type}` }, type);
}

export function outcomeBadge(outcome) {
  return h("span", { class: `badge ${outcome}` }, outcome === "ok" ? "ok" : outcome);
}
