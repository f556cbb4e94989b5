"""Cases of the services a handler calls (``emit``, ``state.*``, ``stream.*``,
``log``), stream files, and what user code prints (SPEC §4)."""

from __future__ import annotations

import json

import anyio
import msgspec

from ..checker import API, Case, Checker, api_input, event, expect, registrar
from ..session import WAIT_S

CASES: list[Case] = []
case = registrar(CASES)


@case("emit.durable", "emit: params fit the schema, the handler gets the eventId", "core")
async def _emit(checker: Checker) -> str:
    session = await checker.ready()
    before = len(checker.services.events)
    msg_id = await session.invoke(
        checker.step("ConformanceEmit"),
        API,
        api_input({"hello": "world"}),
        invocation_id="inv-emit",
    )
    result = await session.result(msg_id, "the emit fixture's result")
    events = checker.services.events[before:]
    expect(len(events) == 1, f"{len(events)} emit requests, expected 1")
    sent = events[0]
    expect(sent.invocation_id == "inv-emit", f"emit carried invocationId {sent.invocation_id!r}")
    expect(sent.topic == "conformance.emitted", f"emit topic {sent.topic!r}")
    expect(
        json.loads(bytes(sent.data)) == {"hello": "world"}, f"emit data {bytes(sent.data)[:80]!r}"
    )
    event_id = (result.get("body") or {}).get("eventId")
    expect(
        event_id == f"conformance-event-{before + 1}"
        or str(event_id).startswith("conformance-event-"),
        f"the handler got eventId {event_id!r}",
    )
    return ""


@case("state.methods", "state round trip: set, get, getGroup, delete, clear", "core")
async def _state(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceState"), API, api_input({"group": "round-trip"})
    )
    result = await session.result(msg_id, "the state fixture's result")
    body = result.get("body") or {}
    wanted = {"set": {"n": 1}, "got": {"n": 1}, "group": [{"n": 1}, {"n": 2}], "deleted": {"n": 1}}
    expect(body == wanted, f"body {json.dumps(body)[:200]}, expected {json.dumps(wanted)}")
    expect("round-trip" not in checker.services.state, "state.clear did not reach the broker")
    return ""


@case("stream.methods", "stream round trip: set, get, getGroup, send, delete", "core")
async def _stream(checker: Checker) -> str:
    session = await checker.ready()
    before = len(checker.services.stream_events)
    msg_id = await session.invoke(
        checker.step("ConformanceStream"), API, api_input({"group": "round-trip"})
    )
    result = await session.result(msg_id, "the stream fixture's result")
    body = result.get("body") or {}
    item = {"n": 1, "id": "a"}
    wanted = {"set": item, "got": item, "group": [item], "deleted": item}
    expect(body == wanted, f"body {json.dumps(body)[:200]}, expected {json.dumps(wanted)}")
    sent = checker.services.stream_events[before:]
    expect(len(sent) == 1, f"{len(sent)} stream.send requests, expected 1")
    event = sent[0]
    seen = (event.stream, event.group_id, event.id, event.type, msgspec.json.decode(event.data))
    expect(
        seen == ("conformance", "round-trip", None, "ping", {"n": 2}),
        f"stream.send (stream, groupId, id, type, data) {seen}, expected"
        " ('conformance', 'round-trip', None, 'ping', {'n': 2})",
    )
    return ""


@case("lifecycle.streams", "initialize.streams: one entry per stream file, or none at all", "full")
async def _stream_files(checker: Checker) -> str:
    async with checker.fresh() as session:
        files = checker.stream_files or [str(checker.project / "steps" / "none.stream.none")]
        result = await checker.initialize(session, [], streams=files)
    entries = result.get("streams")
    if entries is None:
        expect(not checker.stream_files, "stream files among the fixtures, but no streams entries")
        return "this child does not load stream files"
    expect(
        [entry["path"] for entry in entries] == files,
        f"stream entries {[e['path'] for e in entries]} do not match the files sent {files}",
    )
    names = [entry["config"].get("name") for entry in entries if "config" in entry]
    expect(
        not checker.stream_files or "conformance" in names,
        f"no stream named conformance among the loaded stream files (got {names}): {entries}",
    )
    return f"loaded {len(names)} of {len(entries)} stream files"


@case(
    "stream.hooks", "a stream's onJoin refuses or admits by the auth context; onLeave runs", "full"
)
async def _stream_hooks(checker: Checker) -> str:
    async with checker.fresh() as session:
        result = await checker.initialize(session, [], streams=checker.stream_files)
        entries = result.get("streams") or []
        hooked = [e for e in entries if (e.get("config") or {}).get("onJoin") is True]
        if not hooked:
            return "this child loads no stream hooks"
        path = hooked[0]["path"]
        base = {"subscriptionId": "s1", "streamName": "conformance", "groupId": "g", "id": None}
        answers = []
        for auth_context in ({"deny": True}, {"user": "ada"}):
            msg_id = await session.invoke(
                path,
                {"type": "streamHook", "hook": "join"},
                {**base, "authContext": auth_context},
            )
            answers.append(await session.result(msg_id, "the conformance stream's onJoin"))
        wanted = [{"unauthorized": True}, {"unauthorized": False}]
        expect(answers == wanted, f"onJoin answered {answers}, expected {wanted}")
        before = len(session.logs)
        msg_id = await session.invoke(
            path, {"type": "streamHook", "hook": "leave"}, {**base, "authContext": None}
        )
        left = await session.result(msg_id, "the conformance stream's onLeave")
        expect(left is None, f"onLeave answered {left!r}, expected null")
        await session.quiet("the conformance stream's onLeave")
        messages = [m["params"].get("message") for m in session.logs[before:]]
        expect("conformance left" in messages, f"onLeave logged {messages}, not 'conformance left'")
    return f"{path.rsplit('/', 1)[-1]}: join refused and admitted, leave ran"


@case("log.notification", "logger.info sends a log notification for the invocation", "core")
async def _log(checker: Checker) -> str:
    session = await checker.ready()
    before = len(session.logs)
    msg_id = await session.invoke(
        checker.step("ConformanceLogs"),
        event("conformance.logs"),
        {"mark": "m1"},
        invocation_id="inv-log",
    )
    await session.result(msg_id, "the logs fixture's result")
    await session.quiet("the logs fixture")  # its log line came before its answer, or right after
    logs = [m["params"] for m in session.logs[before:]]
    matching = [p for p in logs if p.get("message") == "conformance log"]
    expect(bool(matching), f"no log notification 'conformance log' (got {json.dumps(logs)[:160]})")
    params = matching[0]
    expect(params.get("level") == "info", f"level {params.get('level')!r}")
    expect(params.get("fields") == {"n": 1}, f"fields {params.get('fields')}")
    expect(params.get("invocationId") == "inv-log", f"invocationId {params.get('invocationId')!r}")
    return ""


@case(
    "log.notification",
    "log fields JSON cannot hold are made JSON-safe: NaN and infinities null, others text",
    "core",
)
async def _log_json_safe(checker: Checker) -> str:
    session = await checker.ready()
    before = len(session.logs)
    msg_id = await session.invoke(
        checker.step("ConformanceLogs"), event("conformance.logs"), {"mark": "m3", "unsafe": True}
    )
    await session.result(msg_id, "the logs fixture's result")
    await session.quiet("the logs fixture")
    records = {m["params"].get("message"): m["params"] for m in session.logs[before:]}
    unsafe = records.get("conformance unsafe")
    expect(unsafe is not None, f"no log 'conformance unsafe' (got {json.dumps(list(records))})")
    assert unsafe is not None
    fields = unsafe.get("fields") or {}
    expect(
        {key: fields.get(key) for key in ("nan", "inf")} == {"nan": None, "inf": None},
        f"non-finite numbers are not null: fields {json.dumps(fields)[:200]}",
    )
    expect("list" in fields, f"the list holding a NaN was dropped: fields {fields}")
    expect(isinstance(fields.get("object"), str), f"the object is not text: {fields}")
    not_a_map = records.get("conformance not a map")
    expect(not_a_map is not None, "no log 'conformance not a map'")
    assert not_a_map is not None
    got = not_a_map.get("fields")
    expect(got == {"value": ["a", 1]}, f"fields that are not a map: {json.dumps(got)[:200]}")
    return ""


@case("framing.stdout-owned", "what user code prints reaches stderr, never stdout", "core")
async def _stdout_owned(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceLogs"), event("conformance.logs"), {"mark": "m2"}
    )
    await session.result(msg_id, "the logs fixture's result")
    with anyio.move_on_after(WAIT_S):
        while not any("conformance stdout m2" in line for line in session.stderr):
            await session.changed()
    expect(
        any("conformance stdout m2" in line for line in session.stderr),
        "the printed line 'conformance stdout m2' never reached stderr",
    )
    expect(
        not session.violations,
        f"stdout carried {session.violation_count} non-protocol lines;"
        f" first: {session.violations[:1]}",
    )
    return ""
