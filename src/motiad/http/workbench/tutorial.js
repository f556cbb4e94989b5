// The Tutorial: a walk through the starter project's `tutorial` flow (what
// `motiad create` writes), as Motia's quick start promises: the flow view,
// a request sent from the Tester, its trace, the logs of each step, the state
// it wrote and the stream updating live. Each stage opens the view it talks
// about; Back and Next move between stages, Esc or the close button leaves.
// The button shows only for projects that have the tutorial flow.

import { h, fill } from "./ui.js";

const FLOW = "tutorial";
const API_STEP = "CreateOrder";
const STREAM = "orderStatus";
const GROUP = "orders";
const STORE = "motiad.tutorial";

const STAGES = [
  {
    title: "Your first flow",
    route: () => `#/flows/${FLOW}`,
    text: [
      "This is the tutorial flow: four steps and the topics between them.",
      "CreateOrder is an API step (POST /orders). It emits order.created, which PackOrder, a Python event step, handles; PackOrder emits order.packed for NotifyCustomer, in TypeScript. CountOrders is a cron step.",
      "Click a step to see its config. Every step file lives in steps/tutorial/.",
    ],
  },
  {
    title: "Send an order",
    route: () => `#/tester?step=${API_STEP}`,
    text: [
      "The Tester calls an API step the way a client would.",
      "The body is filled in from the step's bodySchema. Press Send: the step answers 201 with an orderId, and the two event steps run after it.",
    ],
    waitsFor: "a request to CreateOrder",
  },
  {
    title: "Its trace",
    route: (seen) => `#/traces/${seen.traceId}`,
    text: [
      "Every request starts a trace, and the events it emits carry it on.",
      "The timeline shows each step's invocation: when it started, how long it ran, and whether it succeeded. Click one to see its logs and input.",
    ],
  },
  {
    title: "The logs of each step",
    route: (seen) => `#/logs?traceId=${seen.traceId}`,
    text: [
      "The logs of that trace alone: what each step wrote with logger.info and friends, with its fields.",
      "Filter by step, level or text; new lines arrive live.",
    ],
  },
  {
    title: "The state it wrote",
    route: () => `#/state/${GROUP}`,
    text: [
      "PackOrder kept the order in state, in the group \"orders\", under its id; NotifyCustomer read it back.",
      "State is a durable key-value store every step shares, whatever its language.",
    ],
  },
  {
    title: "A stream, live",
    route: () => `#/streams/${STREAM}/${GROUP}`,
    text: [
      "Each step moved the order along the orderStatus stream: received, packed, notified.",
      "Send another order from the Tester (key 7) and come back: the new item appears and changes as it happens. Clients get the same changes over a WebSocket.",
    ],
  },
  {
    title: "That's the tour",
    route: () => `#/flows/${FLOW}`,
    text: [
      "Edit a step file under steps/tutorial/ while `motiad dev` runs: it reloads in under a second.",
      "Add your own steps anywhere under steps/. The README of your project has the next steps.",
    ],
  },
];

/** Mount the Tutorial button and panel; returns the hook for live updates. */
export function setup(ctx) {
  const button = document.getElementById("tutorial-open");
  const panel = h("aside", { class: "tutorial", id: "tutorial", role: "dialog", "aria-modal": "false", "aria-labelledby": "tutorial-title", hidden: true });
  document.body.append(panel);
  let seen = load();

  ctx.graph().then((graph) => {
    if (!graph.flows.some((flow) => flow.name === FLOW)) return;
    button.hidden = false;
    if (seen.open) show(seen.stage);
  }).catch(() => { /* no graph, no tutorial */ });

  button.addEventListener("click", () => show(seen.open ? seen.stage : 0));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden && !event.defaultPrevented) close();
  });

  function show(stage) {
    seen = { ...seen, open: true, stage };
    save(seen);
    draw();
    ctx.navigate(STAGES[stage].route(seen));
  }

  function close() {
    seen = { ...seen, open: false };
    save(seen);
    panel.hidden = true;
    button.focus();
  }

  function draw() {
    const stage = STAGES[seen.stage];
    const waiting = stage.waitsFor && !seen.traceId;
    const last = seen.stage === STAGES.length - 1;
    panel.hidden = false;
    fill(panel,
      h("header", {},
        h("span", { class: "tutorial-count" }, `Tutorial · ${seen.stage + 1} of ${STAGES.length}`),
        h("button", { class: "icon-button", type: "button", "aria-label": "Close the tutorial", title: "Close (Esc)", onclick: close }, "×")),
      h("h2", { id: "tutorial-title" }, stage.title),
      stage.text.map((line) => h("p", {}, line)),
      waiting ? h("p", { class: "tutorial-wait" }, `Waiting for ${stage.waitsFor}…`) : null,
      h("footer", {},
        h("button", { class: "button", type: "button", id: "tutorial-back", disabled: seen.stage === 0, onclick: () => show(seen.stage - 1) }, "Back"),
        last
          ? h("button", { class: "button primary", type: "button", id: "tutorial-done", onclick: close }, "Done")
          : h("button", { class: "button primary", type: "button", id: "tutorial-next", disabled: waiting, onclick: () => show(seen.stage + 1) }, "Next")));
  }

  return {
    /** A live record from the server: the first request of the tutorial's API step unlocks the stages after it. */
    live(type, data) {
      if (type !== "span" || data.step !== API_STEP || data.outcome !== "ok") return;
      seen = { ...seen, traceId: data.traceId };
      save(seen);
      if (!panel.hidden) draw();
    },
  };
}

function load() {
  const fresh = { open: false, stage: 0, traceId: null };
  try {
    const stored = { ...fresh, ...JSON.parse(sessionStorage.getItem(STORE) ?? "{}") };
    return Number.isInteger(stored.stage) && stored.stage >= 0 && stored.stage < STAGES.length ? stored : fresh;
  } catch {
    return fresh;
  }
}

function save(seen) {
  sessionStorage.setItem(STORE, JSON.stringify(seen));
}
