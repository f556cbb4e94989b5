"""The flow graph: steps and topics as nodes, emits and subscribes as edges, by flow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from motiad.config import parse_step_config
from motiad.flows import FlowStep, build_graph

from .harness import run_cli, typed_project


def step(file: str, language: str = "node", **config: Any) -> FlowStep:
    return FlowStep(file, language, parse_step_config(config, file))


def test_emits_and_subscribes_connect_steps_through_topics() -> None:
    graph = build_graph(
        [
            step(
                "steps/send.step.ts",
                name="SendMessage",
                type="api",
                path="/messages",
                method="POST",
                emits=["message.sent"],
                flows=["chat"],
            ),
            step(
                "steps/store_step.py",
                "python",
                name="StoreMessage",
                type="event",
                subscribes=["message.sent"],
                flows=["chat"],
            ),
        ]
    )

    assert graph["nodes"] == [
        {
            "id": "step:SendMessage",
            "kind": "step",
            "name": "SendMessage",
            "type": "api",
            "language": "node",
            "file": "steps/send.step.ts",
            "trigger": "POST /messages",
            "description": None,
            "flows": ["chat"],
        },
        {
            "id": "step:StoreMessage",
            "kind": "step",
            "name": "StoreMessage",
            "type": "event",
            "language": "python",
            "file": "steps/store_step.py",
            "trigger": "message.sent",
            "description": None,
            "flows": ["chat"],
        },
        {"id": "topic:message.sent", "kind": "topic", "name": "message.sent", "flows": ["chat"]},
    ]
    assert graph["edges"] == [
        {
            "id": "emit:SendMessage:message.sent",
            "from": "step:SendMessage",
            "to": "topic:message.sent",
            "kind": "emit",
            "virtual": False,
            "label": None,
            "conditional": False,
        },
        {
            "id": "subscribe:message.sent:StoreMessage",
            "from": "topic:message.sent",
            "to": "step:StoreMessage",
            "kind": "subscribe",
            "virtual": False,
            "label": None,
            "conditional": False,
        },
    ]
    assert graph["flows"] == [
        {
            "name": "chat",
            "default": False,
            "steps": ["SendMessage", "StoreMessage"],
            "topics": ["message.sent"],
            "edges": ["emit:SendMessage:message.sent", "subscribe:message.sent:StoreMessage"],
        }
    ]
    assert graph["warnings"] == []


def test_labelled_conditional_emits_keep_their_label() -> None:
    graph = build_graph(
        [
            step(
                "steps/check.step.ts",
                name="Check",
                type="event",
                subscribes=["order.placed"],
                emits=[
                    {"topic": "order.approved", "label": "Approved", "conditional": True},
                    {"topic": "order.rejected", "label": "Rejected", "conditional": True},
                    "order.checked",
                ],
            )
        ]
    )

    by_id = {edge["id"]: edge for edge in graph["edges"]}
    assert by_id["emit:Check:order.approved"]["label"] == "Approved"
    assert by_id["emit:Check:order.approved"]["conditional"] is True
    assert by_id["emit:Check:order.checked"]["label"] is None
    assert by_id["emit:Check:order.checked"]["conditional"] is False


def test_noop_steps_draw_virtual_edges() -> None:
    graph = build_graph(
        [
            step(
                "steps/request.step.ts",
                name="RequestApproval",
                type="api",
                path="/approve",
                method="POST",
                emits=["approval.requested"],
                virtualEmits=[{"topic": "approval.reminded", "label": "nudge"}],
                flows=["approvals"],
            ),
            step(
                "steps/human.step.ts",
                name="Manager",
                type="noop",
                virtualSubscribes=["approval.requested"],
                virtualEmits=["approval.given"],
                flows=["approvals"],
            ),
            step(
                "steps/done.step.ts",
                name="Approved",
                type="event",
                subscribes=["approval.given"],
                flows=["approvals"],
            ),
        ]
    )

    edges = {edge["id"]: edge for edge in graph["edges"]}
    assert set(edges) == {
        "emit:RequestApproval:approval.requested",
        "virtualEmit:RequestApproval:approval.reminded",
        "virtualSubscribe:approval.requested:Manager",
        "virtualEmit:Manager:approval.given",
        "subscribe:approval.given:Approved",
    }
    assert edges["virtualEmit:Manager:approval.given"]["virtual"] is True
    assert edges["virtualEmit:RequestApproval:approval.reminded"]["label"] == "nudge"
    assert edges["subscribe:approval.given:Approved"]["virtual"] is False
    manager = next(node for node in graph["nodes"] if node["name"] == "Manager")
    assert manager["type"] == "noop"
    assert manager["trigger"] == "—"
    # A virtual emitter counts: only the reminder topic lacks a subscriber.
    assert graph["warnings"] == [
        "topic 'approval.reminded' is emitted by RequestApproval but no step subscribes to it"
    ]


def test_steps_without_flows_are_in_the_default_flow_and_topics_join_every_flow() -> None:
    graph = build_graph(
        [
            step(
                "steps/a.step.ts",
                name="A",
                type="cron",
                cron="0 * * * *",
                emits=["tick"],
                flows=["ops", "billing"],
            ),
            step("steps/b.step.ts", name="B", type="event", subscribes=["tick"]),
            step("steps/c.step.ts", name="C", type="event", subscribes=["tock"]),
        ]
    )

    flows = {flow["name"]: flow for flow in graph["flows"]}
    assert [flow["name"] for flow in graph["flows"]] == ["billing", "ops", "default"]
    assert flows["default"]["default"] is True
    assert flows["default"]["steps"] == ["B", "C"]
    assert flows["default"]["topics"] == ["tick", "tock"]
    assert flows["default"]["edges"] == ["subscribe:tick:B", "subscribe:tock:C"]
    assert flows["ops"]["steps"] == ["A"]
    assert flows["ops"]["edges"] == ["emit:A:tick"]
    tick = next(node for node in graph["nodes"] if node["id"] == "topic:tick")
    assert tick["flows"] == ["billing", "ops", "default"]
    assert graph["warnings"] == ["topic 'tock' is subscribed to by C but no step emits it"]


def test_the_graph_is_plain_json() -> None:
    graph = build_graph(
        [step("steps/a.step.ts", name="A", type="event", subscribes=["x"], emits=["y"])]
    )

    assert json.loads(json.dumps(graph)) == graph


def test_motiad_flows_draws_a_loaded_project_as_trees_or_json(tmp_path: Path) -> None:
    project = typed_project(tmp_path / "typed")

    drawn = run_cli("flows", str(project))
    as_json = run_cli("flows", str(project), "--json")

    assert drawn.returncode == 0, drawn.stderr
    text = drawn.stdout
    assert "flow orders" in text
    assert "CreateOrder  api POST /orders" in text
    assert "→ order.audited [audit] (conditional)" in text
    assert "⇢ Warehouse  noop" in text
    assert "flow default  (steps that name no flow)" in text
    assert "Nightly  cron 0 0 3 * * *" in text
    assert "warning: topic 'order.billed' is emitted by BillOrder but no step subscribes" in (
        drawn.stderr
    )
    graph = json.loads(as_json.stdout)
    assert graph["errors"] == []
    assert [flow["name"] for flow in graph["flows"]] == ["orders", "default"]
    edges = {edge["id"]: edge for edge in graph["edges"]}
    assert edges["virtualSubscribe:order.shipped:Warehouse"]["virtual"] is True
    assert edges["emit:CreateOrder:order.audited"]["label"] == "audit"
    listed = json.loads(run_cli("steps", str(project), "--json").stdout)
    create_order = next(s for s in listed["steps"] if s["name"] == "CreateOrder")
    assert create_order["config"]["middleware"] == ["jsonOnly"]
