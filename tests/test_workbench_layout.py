"""The flow diagram's layered layout (``layout.js``), run by Node on graphs the
size of a real project: no two nodes overlap, edges run from left to right
between the layers they join, and a cycle does not break it."""

from __future__ import annotations

import json
import subprocess
from itertools import combinations
from typing import Any

from .harness import REPO

LAYOUT = REPO / "src" / "motiad" / "http" / "workbench" / "layout.js"
_RUN = """
import { layout } from %s;
let input = "";
for await (const chunk of process.stdin) input += chunk;
const { nodes, edges } = JSON.parse(input);
const out = layout(nodes, edges);
console.log(JSON.stringify({
  nodes: Object.fromEntries(out.nodes), edges: Object.fromEntries(out.edges),
  width: out.width, height: out.height,
}));
"""


def run_layout(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    script = _RUN % json.dumps(LAYOUT.as_uri())
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=json.dumps({"nodes": nodes, "edges": edges}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def big_project() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """36 steps and their topics: six pipelines that fan out and join, with
    virtual edges and one cycle (a retry loop)."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []

    def node(name: str, kind: str) -> str:
        nodes.append(
            {
                "id": f"{kind}:{name}",
                "width": 180 if kind == "step" else 110,
                "height": 54 if kind == "step" else 30,
            }
        )
        return f"{kind}:{name}"

    def edge(a: str, b: str) -> None:
        edges.append({"id": f"{a}->{b}", "from": a, "to": b})

    for p in range(6):
        steps = [node(f"p{p}s{i}", "step") for i in range(6)]
        topics = [node(f"p{p}t{i}", "topic") for i in range(4)]
        edge(steps[0], topics[0])
        edge(topics[0], steps[1])
        edge(topics[0], steps[2])  # fan out
        edge(steps[1], topics[1])
        edge(steps[2], topics[1])  # join
        edge(topics[1], steps[3])
        edge(steps[3], topics[2])
        edge(topics[2], steps[4])
        edge(steps[4], topics[3])
        edge(topics[3], steps[5])
        edge(steps[0], topics[3])  # a long edge across layers
        if p % 2:
            edge(steps[4], topics[1])  # a cycle: retry
    return nodes, edges


def boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_a_large_flow_is_laid_out_without_overlaps_and_left_to_right() -> None:
    nodes, edges = big_project()
    out = run_layout(nodes, edges)
    placed = out["nodes"]
    assert set(placed) == {n["id"] for n in nodes}
    for (a, box_a), (b, box_b) in combinations(placed.items(), 2):
        assert not boxes_overlap(box_a, box_b), f"{a} overlaps {b}"
    for box in placed.values():
        assert box["x"] >= 0
        assert box["y"] >= 0
        assert box["x"] + box["width"] <= out["width"]
        assert box["y"] + box["height"] <= out["height"]
    for e in edges:
        route = out["edges"][e["id"]]
        source, target = placed[e["from"]], placed[e["to"]]
        first, last = route["points"][0], route["points"][-1]
        if route["reversed"]:  # the cycle's closing edge runs right to left
            assert source["layer"] > target["layer"]
            assert first[0] == source["x"]
            assert last[0] == target["x"] + target["width"]
        else:
            assert source["layer"] < target["layer"]
            assert first == [source["x"] + source["width"], source["y"] + source["height"] / 2]
            assert last == [target["x"], target["y"] + target["height"] / 2]
    assert sum(route["reversed"] for route in out["edges"].values()) == 3


def test_unknown_ends_and_self_loops_are_left_out() -> None:
    nodes = [{"id": "step:A", "width": 180, "height": 54}]
    edges = [
        {"id": "a-a", "from": "step:A", "to": "step:A"},
        {"id": "a-x", "from": "step:A", "to": "topic:gone"},
    ]
    out = run_layout(nodes, edges)
    assert list(out["nodes"]) == ["step:A"]
    assert out["edges"] == {}
