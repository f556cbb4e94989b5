// A layered (Sugiyama-style) layout of a directed graph, left to right:
// break cycles, assign layers by longest path, route long edges through
// dummy nodes, order each layer by barycenters (keeping the order with the
// fewest crossings), then place nodes and draw edges as smooth curves.
// Pure: no DOM, so it can be reasoned about (and tested) on its own.

const RANK_GAP = 90; // horizontal space between layers
const NODE_GAP = 22; // vertical space between nodes of a layer
const SWEEPS = 24;
const MARGIN = 32;

/**
 * @param {{id: string, width: number, height: number}[]} nodes
 * @param {{id: string, from: string, to: string}[]} edges
 * @returns {{nodes: Map<string, {x: number, y: number, width: number, height: number, layer: number}>,
 *            edges: Map<string, {points: [number, number][], reversed: boolean}>,
 *            width: number, height: number}}
 */
export function layout(nodes, edges) {
  const byId = new Map(nodes.map((n) => [n.id, { ...n, layer: 0, order: 0, x: 0, y: 0, dummy: false }]));
  const usable = edges.filter((e) => byId.has(e.from) && byId.has(e.to) && e.from !== e.to);
  const reversed = findBackEdges(nodes, usable);
  const dag = usable.map((e) => (reversed.has(e.id) ? { ...e, from: e.to, to: e.from } : e));

  assignLayers(byId, dag);

  // long edges become chains through one dummy node per layer crossed
  const chains = new Map();
  const links = []; // [from, to] between adjacent layers
  for (const edge of dag) {
    const chain = [edge.from];
    const start = byId.get(edge.from).layer;
    const end = byId.get(edge.to).layer;
    for (let layer = start + 1; layer < end; layer++) {
      const id = `dummy:${edge.id}:${layer}`;
      byId.set(id, { id, width: 0, height: 2, layer, order: 0, x: 0, y: 0, dummy: true });
      chain.push(id);
    }
    chain.push(edge.to);
    for (let i = 1; i < chain.length; i++) links.push([chain[i - 1], chain[i]]);
    chains.set(edge.id, chain);
  }

  const layers = orderLayers(byId, links);
  place(byId, layers, links);

  const out = new Map();
  for (const edge of usable) {
    const chain = chains.get(edge.id);
    const points = [];
    chain.forEach((id, i) => {
      const n = byId.get(id);
      const cy = n.y + n.height / 2;
      if (i === 0) points.push([n.x + n.width, cy]);
      else if (i === chain.length - 1) points.push([n.x, cy]);
      else points.push([n.x, cy], [n.x + n.width, cy]);
    });
    const back = reversed.has(edge.id);
    out.set(edge.id, { points: back ? points.reverse() : points, reversed: back });
  }

  let width = 0;
  let height = 0;
  const placed = new Map();
  for (const n of byId.values()) {
    width = Math.max(width, n.x + n.width + MARGIN);
    height = Math.max(height, n.y + n.height + MARGIN);
    if (!n.dummy) placed.set(n.id, { x: n.x, y: n.y, width: n.width, height: n.height, layer: n.layer });
  }
  return { nodes: placed, edges: out, width, height };
}

/** Edges that close a cycle (found by depth-first search in node order). */
function findBackEdges(nodes, edges) {
  const out = new Map();
  for (const e of edges) (out.get(e.from) ?? out.set(e.from, []).get(e.from)).push(e);
  const state = new Map(); // 1: on the stack, 2: done
  const back = new Set();
  const visit = (root) => {
    const stack = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = (out.get(top[0]) ?? [])[top[1]++];
      if (!next) {
        state.set(top[0], 2);
        stack.pop();
      } else if (state.get(next.to) === 1) {
        back.add(next.id);
      } else if (!state.has(next.to)) {
        state.set(next.to, 1);
        stack.push([next.to, 0]);
      }
    }
  };
  const incoming = new Set(edges.map((e) => e.to));
  for (const n of nodes) if (!incoming.has(n.id) && !state.has(n.id)) visit(n.id);
  for (const n of nodes) if (!state.has(n.id)) visit(n.id);
  return back;
}

/** Longest-path layers; then sources move right, next to their first successor. */
function assignLayers(byId, dag) {
  const preds = new Map();
  const succs = new Map();
  for (const id of byId.keys()) { preds.set(id, []); succs.set(id, []); }
  for (const e of dag) { preds.get(e.to).push(e.from); succs.get(e.from).push(e.to); }
  const indegree = new Map([...byId.keys()].map((id) => [id, preds.get(id).length]));
  const queue = [...byId.keys()].filter((id) => indegree.get(id) === 0);
  while (queue.length) {
    const id = queue.shift();
    for (const next of succs.get(id)) {
      byId.get(next).layer = Math.max(byId.get(next).layer, byId.get(id).layer + 1);
      indegree.set(next, indegree.get(next) - 1);
      if (indegree.get(next) === 0) queue.push(next);
    }
  }
  for (const [id, n] of byId) {
    const after = succs.get(id);
    if (preds.get(id).length === 0 && after.length) {
      n.layer = Math.max(n.layer, Math.min(...after.map((s) => byId.get(s).layer)) - 1);
    }
  }
}

function orderLayers(byId, links) {
  const count = Math.max(0, ...[...byId.values()].map((n) => n.layer)) + 1;
  let layers = Array.from({ length: count }, () => []);
  for (const n of byId.values()) layers[n.layer].push(n.id);
  const up = new Map();
  const down = new Map();
  for (const id of byId.keys()) { up.set(id, []); down.set(id, []); }
  for (const [a, b] of links) { down.get(a).push(b); up.get(b).push(a); }
  const index = () => layers.forEach((layer) => layer.forEach((id, i) => { byId.get(id).order = i; }));
  index();

  let best = layers.map((l) => [...l]);
  let bestCrossings = crossings(layers, down, byId);
  for (let sweep = 0; sweep < SWEEPS && bestCrossings > 0; sweep++) {
    const downward = sweep % 2 === 0;
    const range = downward ? [...layers.keys()].slice(1) : [...layers.keys()].slice(0, -1).reverse();
    for (const l of range) {
      const neighbours = downward ? up : down;
      const weight = new Map(layers[l].map((id) => {
        const around = neighbours.get(id).map((other) => byId.get(other).order);
        return [id, around.length ? median(around) : byId.get(id).order];
      }));
      layers[l].sort((a, b) => weight.get(a) - weight.get(b) || byId.get(a).order - byId.get(b).order);
      layers[l].forEach((id, i) => { byId.get(id).order = i; });
    }
    const now = crossings(layers, down, byId);
    if (now < bestCrossings) {
      bestCrossings = now;
      best = layers.map((l) => [...l]);
    }
  }
  layers = best;
  index();
  return layers;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function crossings(layers, down, byId) {
  let total = 0;
  for (let l = 0; l < layers.length - 1; l++) {
    const segments = [];
    for (const id of layers[l]) for (const to of down.get(id)) segments.push([byId.get(id).order, byId.get(to).order]);
    for (let i = 0; i < segments.length; i++) {
      for (let j = i + 1; j < segments.length; j++) {
        const [a1, b1] = segments[i];
        const [a2, b2] = segments[j];
        if ((a1 - a2) * (b1 - b2) < 0) total++;
      }
    }
  }
  return total;
}

function place(byId, layers, links) {
  // columns: as wide as their widest node; dummies span the column
  let x = MARGIN;
  for (const layer of layers) {
    const width = Math.max(40, ...layer.map((id) => byId.get(id).width));
    for (const id of layer) {
      const n = byId.get(id);
      if (n.dummy) { n.x = x; n.width = width; } else n.x = x + (width - n.width) / 2;
    }
    x += width + RANK_GAP;
  }
  const up = new Map();
  const down = new Map();
  for (const id of byId.keys()) { up.set(id, []); down.set(id, []); }
  for (const [a, b] of links) { down.get(a).push(b); up.get(b).push(a); }

  const center = (id) => byId.get(id).y + byId.get(id).height / 2;
  const stack = (layer, wanted) => {
    // keep the order, leave NODE_GAP between nodes, stay as near the wishes as possible
    let bottom = -Infinity;
    for (const id of layer) {
      const n = byId.get(id);
      const gap = n.dummy ? NODE_GAP / 2 : NODE_GAP;
      n.y = Math.max(wanted.get(id) - n.height / 2, bottom + gap);
      bottom = n.y + n.height;
    }
    const drift = layer.reduce((sum, id) => sum + (wanted.get(id) - center(id)), 0) / (layer.length || 1);
    for (const id of layer) byId.get(id).y += drift;
  };

  for (const layer of layers) {
    let y = 0;
    const wanted = new Map();
    for (const id of layer) { wanted.set(id, y + byId.get(id).height / 2); y += byId.get(id).height + NODE_GAP; }
    stack(layer, wanted);
  }
  for (let round = 0; round < 6; round++) {
    const downward = round % 2 === 0;
    const order = downward ? layers : [...layers].reverse();
    for (const layer of order) {
      const wanted = new Map(layer.map((id) => {
        const around = (downward ? up : down).get(id);
        return [id, around.length ? around.reduce((s, o) => s + center(o), 0) / around.length : center(id)];
      }));
      stack(layer, wanted);
    }
  }
  const top = Math.min(...[...byId.values()].map((n) => n.y));
  for (const n of byId.values()) n.y += MARGIN - top;
}

/** An SVG path through ``points``: curves between columns, straight through dummies. */
export function edgePath(points) {
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    if (Math.abs(y1 - y0) < 0.5 && i % 2 === 0) {
      d += ` L${x1},${y1}`;
    } else {
      const dx = Math.max(24, Math.abs(x1 - x0) / 2) * (x1 >= x0 ? 1 : -1);
      d += ` C${x0 + dx},${y0} ${x1 - dx},${y1} ${x1},${y1}`;
    }
  }
  return d;
}
