// The workbench's JSON API (the same endpoints the CLI and tests use).

export const PREFIX = "/__motiad";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** GET (or POST with ``body``) an endpoint under /__motiad/api; returns the JSON. */
export async function api(path, { method = "GET", body } = {}) {
  const init = { method, credentials: "same-origin", headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.method = method === "GET" ? "POST" : method;
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${PREFIX}/api${path}`, init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: `HTTP ${response.status} ${response.statusText}`.trim() };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** A query string from the entries of ``params`` that have a value. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
