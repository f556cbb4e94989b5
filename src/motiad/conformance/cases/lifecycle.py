"""Cases of a child's life until it serves: the handshake, versions, what
comes before ``initialize``, and ``ping`` (SPEC §3.1)."""

from __future__ import annotations

import json

import anyio

from ...protocol.messages import PROTOCOL_VERSION
from ..checker import FIXTURES, Case, Checker, event, expect, registrar

CASES: list[Case] = []
case = registrar(CASES)


@case(
    "lifecycle.initialize", "handshake: one entry per step file, in order, fixtures loaded", "core"
)
async def _handshake(checker: Checker) -> str:
    await checker.ready()
    result = checker.handshake
    assert result is not None
    entries = result["steps"]
    expect(
        [entry["path"] for entry in entries] == checker.files,
        f"entries {[e['path'] for e in entries]} do not match the files sent {checker.files}",
    )
    missing = [name for name in FIXTURES if name not in checker.configs]
    errors = "; ".join(f"{file}: {why}" for file, why in checker.load_errors.items())
    for name in missing:  # a load error names the file, not the fixture: show them all
        checker.load_errors.setdefault(name, errors or "not among the step files")
    expect(
        not missing,
        f"fixtures missing or not loaded: {', '.join(missing)}"
        + (f" ({errors})" if errors else ""),
    )
    sdk = result["sdk"]
    return f"{sdk['name']} {sdk['version']} ({sdk['language']}) loaded {len(entries)} steps"


@case("lifecycle.noop", "a noop step loads without a handler", "core")
async def _noop_loads(checker: Checker) -> str:
    await checker.ready()
    checker.step("ConformanceNoop")
    return ""


@case("lifecycle.version", "another protocol major is refused with -32004 naming both", "core")
async def _version_mismatch(checker: Checker) -> str:
    async with checker.fresh() as session:
        msg_id = await session.request(
            "initialize", {"protocolVersion": "99.0", "project": str(checker.project), "steps": []}
        )
        error = await session.error(msg_id, -32004, "the answer to initialize 99.0")
        message = str(error.get("message", ""))
        expect(
            "99.0" in message and PROTOCOL_VERSION in message,
            f"the message names not both versions: {message!r}",
        )
    return ""


@case("lifecycle.version", "a newer minor of the same major is accepted", "core")
async def _newer_minor(checker: Checker) -> str:
    async with checker.fresh() as session:
        result = await checker.initialize(session, [], protocolVersion="1.99")
        version = str(result["protocolVersion"])
        expect(version.split(".")[0] == "1", f"answered protocolVersion {version}")
    return ""


@case("lifecycle.version", 'majors compare as numbers: "01.0" is major 1', "core")
async def _padded_major(checker: Checker) -> str:
    async with checker.fresh() as session:
        result = await checker.initialize(session, [], protocolVersion="01.0")
        version = str(result["protocolVersion"])
        expect(version.split(".")[0] == "1", f"answered protocolVersion {version}")
    return ""


@case(
    "lifecycle.before-initialize", "before initialize: ping answered, invoke refused -32600", "full"
)
async def _before_initialize(checker: Checker) -> str:
    async with checker.fresh() as session:
        ping = await session.request("ping", {})
        expect(await session.result(ping, "the answer to ping") == {}, "ping did not answer {}")
        invoke = await session.invoke("/nowhere.step", {"type": "cron"}, None)
        await session.error(invoke, -32600, "the answer to invoke before initialize")
    return ""


@case("lifecycle.initialize.once", "a second initialize is refused with -32600", "full")
async def _initialize_once(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.request(
        "initialize",
        {"protocolVersion": PROTOCOL_VERSION, "project": str(checker.project), "steps": []},
    )
    await session.error(msg_id, -32600, "the answer to a second initialize")
    return ""


@case(
    "lifecycle.initialize.once",
    "a second initialize is refused -32600 even with bad params: once beats error order",
    "full",
)
async def _initialize_once_bad_params(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.request(
        "initialize", {"protocolVersion": 1, "project": str(checker.project), "steps": []}
    )
    await session.error(msg_id, -32600, "the answer to a second, malformed initialize")
    return ""


MIN_MAX_LINE = 1024
"""The smallest ``maxLineBytes`` the broker sends (SPEC `framing.max-line.send`)."""


@case(
    "lifecycle.initialize.once",
    "an initialize answer over maxLineBytes is -32005, and that initialize counts",
    "full",
)
async def _initialize_answer_too_long(checker: Checker) -> str:
    await checker.ready()
    size = len(json.dumps(checker.handshake, separators=(",", ":")).encode())
    expect(size > MIN_MAX_LINE, f"the handshake is {size} bytes: too short to cross the limit")
    async with checker.fresh(MIN_MAX_LINE) as session:
        first = await session.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "project": str(checker.project),
                "steps": checker.files,
                "maxLineBytes": MIN_MAX_LINE,
            },
        )
        await session.error(
            first,
            -32005,
            "the answer to an initialize whose result is too long",
            checker.handshake_s,
        )
        second = await session.request(
            "initialize",
            {"protocolVersion": PROTOCOL_VERSION, "project": str(checker.project), "steps": []},
        )
        await session.error(second, -32600, "the answer to the initialize after it")
        expect(not session.violations, f"the child {session.violations[:1]}")
    return ""


@case("lifecycle.ping", "ping is answered {} while a handler runs", "core")
async def _ping_while_running(checker: Checker) -> str:
    session = await checker.ready()
    slow = await session.invoke(
        checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 60000}
    )
    ping = await session.request("ping", {})
    expect(await session.result(ping, "the answer to ping") == {}, "ping did not answer {}")
    await session.notify("$/cancel", {"id": slow})
    await session.response(slow, "the answer to the cancelled slow invocation")
    return ""


@case("lifecycle.title", "$/title becomes the command line ps shows, cut to fit", "full")
async def _process_title(checker: Checker) -> str:
    session = await checker.ready()
    assert session.process is not None
    cmdline = anyio.Path(f"/proc/{session.process.pid}/cmdline")
    try:
        before = await cmdline.read_bytes()
    except OSError:
        return "not checked: this system has no /proc"
    room = len(before) - 1  # the argument area, less the NUL that stays
    title = "motiad: conformance [" + "x" * room + "]"  # too long: cut to the room
    await session.notify("$/title", {"title": title})
    ping = await session.request("ping", {})  # the title is set before the next line is read
    expect(await session.result(ping, "the answer to ping") == {}, "ping did not answer {}")
    shown = await cmdline.read_bytes()
    expected = title.encode()[:room]
    expect(
        shown.rstrip(b"\0") == expected and len(shown) == len(before),
        f"/proc/PID/cmdline reads {shown[:120]!r} ({len(shown)} bytes), expected"
        f" {expected[:120]!r} padded with NULs to {len(before)} bytes",
    )
    return f"{room} bytes of title"
