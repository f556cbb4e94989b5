"""The flow graph: which steps emit which topics and which steps subscribe to
them, grouped by the ``flows`` each step names.

Pure, and below the broker: it takes plain step data (:class:`FlowStep`, built
from the config Structs) and returns plain JSON-ready dicts, which
``motiad flows --json`` prints and the workbench draws. The shape::

    {"nodes": [{"id": "step:SendMessage", "kind": "step", "name": "SendMessage",
                "type": "api", "language": "node", "file": "steps/send.step.ts",
                "trigger": "POST /messages", "description": null, "flows": ["chat"]},
               {"id": "topic:message.sent", "kind": "topic", "name": "message.sent",
                "flows": ["chat"]}],
     "edges": [{"id": "emit:SendMessage:message.sent", "from": "step:SendMessage",
                "to": "topic:message.sent", "kind": "emit", "virtual": false,
                "label": null, "conditional": false},
               {"id": "subscribe:message.sent:ProcessMessage", "from": "topic:message.sent",
                "to": "step:ProcessMessage", "kind": "subscribe", "virtual": false,
                "label": null, "conditional": false}],
     "flows": [{"name": "chat", "default": false, "steps": ["SendMessage", …],
                "topics": ["message.sent"], "edges": ["emit:SendMessage:message.sent", …]}],
     "warnings": ["topic 'audit' is emitted by SendMessage but no step subscribes to it"]}

A step file that does not load is a node with ``"broken": {"errors": [...],
"line": 3}`` (the line ``null`` when no error names one) and no edges: its
``name``, ``type``, ``trigger`` and ``flows`` are its last known (``motiad
dev``) or what could be read of its config; when nothing could, its ``name``
is the file, its ``type`` ``"unknown"`` and its id ``file:steps/x.step.ts``
(also when its name is a running step's). Its ``language`` is ``null``.

``emits`` and ``subscribes`` make real edges; ``virtualEmits`` and
``virtualSubscribes`` make edges with ``"virtual": true`` (drawn, never run).
A Motia 1.x step is one node whatever its number of triggers: its
``triggers`` list each one (``{"type": "api", "trigger": "POST /orders"}``) and
each ``queue`` trigger draws its subscribe edge into that node.
A step with no ``flows`` is in the flow named ``default`` (``"default": true``).
A topic belongs to every flow of a step that emits or subscribes to it; a
flow's view is its steps, its topics and the edges between them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from .config import (
    ApiStepConfig,
    CronStepConfig,
    EmitSpec,
    EventStepConfig,
    StepConfig,
)
from .triggers import Origin, change_trigger_text

DEFAULT_FLOW: Final = "default"
"""Where steps that name no flow are drawn."""

EdgeKind = Literal["emit", "subscribe"]


@dataclass(frozen=True, slots=True)
class FlowStep:
    """What the graph needs of one loaded step."""

    file: str
    """Path relative to the project (``steps/send.step.ts``)."""
    language: str
    config: StepConfig

    @property
    def name(self) -> str:
        """The step's name: ``config.name``, or for a trigger of a Motia 1.x
        step, that step's (the graph draws one node per step)."""
        origin = getattr(self.config, "origin", None)
        return origin.step if isinstance(origin, Origin) else self.config.name

    @property
    def type(self) -> str:
        """``api``, ``event``, ``cron`` or ``noop``."""
        return step_type(self.config)


@dataclass(frozen=True, slots=True)
class BrokenFlowStep:
    """A step file that does not load, as the graph draws it: one node marked
    ``broken`` (no edges: it runs nothing), in its flows when they are known."""

    file: str
    name: str | None
    """``None`` when the file failed before its config could be read."""
    type: str | None
    trigger: str | None
    flows: tuple[str, ...]
    errors: tuple[str, ...]
    """Each load error as people read it (file:line, what failed)."""
    line: int | None


def step_type(config: StepConfig) -> str:
    """The ``type`` tag of a step config."""
    return str(config.__struct_config__.tag)


def trigger_text(config: StepConfig) -> str:
    """What makes a step run, for people: ``POST /messages``, its topics, its schedule."""
    if isinstance(config, ApiStepConfig):
        return f"{config.method} {config.path}"
    if isinstance(config, EventStepConfig):
        return ", ".join(change_trigger_text(topic) for topic in config.subscribes)
    if isinstance(config, CronStepConfig):
        return config.cron
    return "—"


def step_id(name: str) -> str:
    """The node id of a step."""
    return f"step:{name}"


def topic_id(topic: str) -> str:
    """The node id of a topic."""
    return f"topic:{topic}"


@dataclass(slots=True)
class _Edge:
    source: str
    target: str
    kind: EdgeKind
    virtual: bool
    label: str | None = None
    conditional: bool = False

    @property
    def id(self) -> str:
        kind = ("virtual" + self.kind.capitalize()) if self.virtual else self.kind
        return f"{kind}:{self.source.partition(':')[2]}:{self.target.partition(':')[2]}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.source,
            "to": self.target,
            "kind": self.kind,
            "virtual": self.virtual,
            "label": self.label,
            "conditional": self.conditional,
        }


def build_graph(steps: Iterable[FlowStep], broken: Iterable[BrokenFlowStep] = ()) -> dict[str, Any]:
    """The flow graph of ``steps`` and of the ``broken`` step files as
    JSON-ready data (see the module docstring).

    Steps keep their input order, broken ones after them; topics appear in the
    order steps first name them; flows are sorted by name with the default flow last.
    """
    steps = list(steps)
    edges: dict[str, _Edge] = {}
    topic_flows: dict[str, set[str]] = {}
    emitters: dict[str, list[str]] = {}
    subscribers: dict[str, list[str]] = {}

    def flows_of(step: FlowStep) -> list[str]:
        return list(dict.fromkeys(step.config.flows)) or [DEFAULT_FLOW]

    def touch(topic: str, step: FlowStep) -> None:
        topic_flows.setdefault(topic, set()).update(flows_of(step))

    for step in steps:
        config = step.config
        here = step_id(step.name)
        for entries, virtual in ((config.emits, False), (config.virtual_emits, True)):
            for entry in entries:
                spec = entry if isinstance(entry, EmitSpec) else EmitSpec(topic=entry)
                edge = _Edge(
                    here, topic_id(spec.topic), "emit", virtual, spec.label, spec.conditional
                )
                edges.setdefault(edge.id, edge)
                touch(spec.topic, step)
                emitters.setdefault(spec.topic, []).append(step.name)
        subscribed = config.subscribes if isinstance(config, EventStepConfig) else []
        for topics, virtual in ((subscribed, False), (config.virtual_subscribes, True)):
            for topic in topics:
                edge = _Edge(topic_id(topic), here, "subscribe", virtual)
                edges.setdefault(edge.id, edge)
                touch(topic, step)
                subscribers.setdefault(topic, []).append(step.name)

    nodes: list[dict[str, Any]] = []
    by_name: dict[str, dict[str, Any]] = {}
    for step in steps:
        node = by_name.get(step.name)
        if node is not None:  # another trigger of a Motia 1.x step: one node, every trigger
            node["triggers"].append({"type": step.type, "trigger": trigger_text(step.config)})
            node["trigger"] = ", ".join(t["trigger"] for t in node["triggers"])
            continue
        node = by_name[step.name] = {
            "id": step_id(step.name),
            "kind": "step",
            "name": step.name,
            "type": step.type,
            "language": step.language,
            "file": step.file,
            "trigger": trigger_text(step.config),
            "description": step.config.description,
            "flows": flows_of(step),
        }
        if isinstance(getattr(step.config, "origin", None), Origin):
            node["triggers"] = [{"type": step.type, "trigger": trigger_text(step.config)}]
        nodes.append(node)
    for gone in broken:
        taken = gone.name is None or step_id(gone.name) in {n["id"] for n in nodes}
        nodes.append(
            {
                "id": f"file:{gone.file}" if taken else step_id(str(gone.name)),
                "kind": "step",
                "name": gone.name or gone.file,
                "type": gone.type or "unknown",
                "language": None,
                "file": gone.file,
                "trigger": gone.trigger or "—",
                "description": None,
                "flows": list(dict.fromkeys(gone.flows)) or [DEFAULT_FLOW],
                "broken": {"errors": list(gone.errors), "line": gone.line},
            }
        )
    nodes += [
        {"id": topic_id(topic), "kind": "topic", "name": topic, "flows": _ordered(flows)}
        for topic, flows in topic_flows.items()
    ]

    flows: list[dict[str, Any]] = []
    for flow in _ordered({name for node in nodes for name in node["flows"]}):
        members = {node["id"] for node in nodes if flow in node["flows"]}
        flows.append(
            {
                "name": flow,
                "default": flow == DEFAULT_FLOW,
                "steps": [n["name"] for n in nodes if n["kind"] == "step" and n["id"] in members],
                "topics": [n["name"] for n in nodes if n["kind"] == "topic" and n["id"] in members],
                "edges": [
                    e.id for e in edges.values() if e.source in members and e.target in members
                ],
            }
        )

    return {
        "nodes": nodes,
        "edges": [edge.to_json() for edge in edges.values()],
        "flows": flows,
        "warnings": _warnings(topic_flows, emitters, subscribers),
    }


def _ordered(flows: set[str]) -> list[str]:
    """Flow names sorted, the default flow last."""
    return sorted(flows, key=lambda name: (name == DEFAULT_FLOW, name))


def _warnings(
    topics: Iterable[str], emitters: dict[str, list[str]], subscribers: dict[str, list[str]]
) -> list[str]:
    """Topics that only one side names (virtual edges count): often a typo in a topic."""
    warnings: list[str] = []
    for topic in topics:
        if topic in emitters and topic not in subscribers:
            who = ", ".join(dict.fromkeys(emitters[topic]))
            warnings.append(f"topic {topic!r} is emitted by {who} but no step subscribes to it")
        elif topic in subscribers and topic not in emitters:
            who = ", ".join(dict.fromkeys(subscribers[topic]))
            warnings.append(f"topic {topic!r} is subscribed to by {who} but no step emits it")
    return warnings
