"""``motiad flows``: the flow graph (:mod:`motiad.flows`) drawn as one rich tree
per flow. Reads only the graph's JSON, the same data the workbench draws."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from rich.tree import Tree


def flow_trees(graph: dict[str, Any]) -> list[Tree]:
    """One tree per flow: each entry point (a step or topic nothing in the flow
    leads to), then what it emits, then who subscribes, and so on. A step met a
    second time is named, not expanded again, so cycles end."""
    nodes = {node["id"]: node for node in graph["nodes"]}
    edges = {edge["id"]: edge for edge in graph["edges"]}
    trees: list[Tree] = []
    for flow in graph["flows"]:
        flow_edges = [edges[edge_id] for edge_id in flow["edges"]]
        outgoing: dict[str, list[dict[str, Any]]] = {}
        incoming: set[str] = set()
        for edge in flow_edges:
            outgoing.setdefault(edge["from"], []).append(edge)
            incoming.add(edge["to"])
        members = [
            node_id
            for node_id, node in nodes.items()
            if flow["name"] in node["flows"]
            and (node["kind"] == "step" or node_id in outgoing or node_id in incoming)
        ]
        title = Text(f"flow {flow['name']}", style="bold")
        if flow["default"]:
            title.append("  (steps that name no flow)", style="dim")
        tree = Tree(title)
        shown: set[str] = set()
        roots = [node_id for node_id in members if node_id not in incoming]
        # Steps only reachable through a cycle get a root of their own.
        for node_id in [*roots, *members]:
            if node_id not in shown and (node_id in roots or nodes[node_id]["kind"] == "step"):
                _grow(tree, node_id, None, nodes, outgoing, shown)
        trees.append(tree)
    return trees


def _grow(
    parent: Tree,
    node_id: str,
    via: dict[str, Any] | None,
    nodes: dict[str, dict[str, Any]],
    outgoing: dict[str, list[dict[str, Any]]],
    shown: set[str],
) -> None:
    node = nodes[node_id]
    label = _edge_prefix(via)
    if node_id in shown:
        label.append(node["name"], style="cyan" if node["kind"] == "step" else "magenta")
        label.append_text(_edge_notes(via))
        label.append("  ↺ (above)", style="dim")
        parent.add(label)
        return
    shown.add(node_id)
    label.append_text(_step_label(node) if node["kind"] == "step" else _topic_label(node))
    label.append_text(_edge_notes(via))
    branch = parent.add(label)
    for edge in outgoing.get(node_id, []):
        _grow(branch, edge["to"], edge, nodes, outgoing, shown)


def _edge_prefix(edge: dict[str, Any] | None) -> Text:
    text = Text()
    if edge is None:
        return text
    text.append("⇢ " if edge["virtual"] else "→ ", style="dim")
    return text


def _step_label(node: dict[str, Any]) -> Text:
    text = Text(node["name"], style="bold cyan")
    text.append(f"  {node['type']}", style="green")
    if node["type"] in ("api", "cron"):
        text.append(f" {node['trigger']}")
    text.append(f"  {node['language']} · {node['file']}", style="dim")
    return text


def _topic_label(node: dict[str, Any]) -> Text:
    return Text(node["name"], style="magenta")


def _edge_notes(edge: dict[str, Any] | None) -> Text:
    """``[label] (conditional, virtual)`` for the edge that led here, or nothing."""
    text = Text()
    if edge is None:
        return text
    if edge["label"]:
        text.append(f" [{edge['label']}]", style="yellow")
    notes = [note for note in ("conditional", "virtual") if edge[note]]
    if notes:
        text.append(f" ({', '.join(notes)})", style="dim")
    return text
