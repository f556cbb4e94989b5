"""The checker: runs cases against one child command and reports each as a
line (SPEC §11). A case is a coroutine given the :class:`Checker`; it fails by
raising :class:`CaseFailed` with a reason.

The checker starts the child the way the broker does (the runner table for our
SDKs, any command otherwise) in a temporary project whose ``steps/`` holds the
conformance fixtures (SPEC §11.1). Most cases share one initialized child; a
case that needs a child of its own takes a fresh one. Restarts,
broker-enforced timeouts and the stop sequence go through the broker's real
supervisor.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import msgspec
from anyio.abc import TaskGroup

from ..protocol import InvalidParams, decode_params
from ..protocol.messages import DEFAULT_MAX_LINE_BYTES, PROTOCOL_VERSION, InitializeResult
from ..runners import ChildCommand
from ..supervisor import Child, ChildSpec, ChildTimings
from ..tracing import LogBus
from .services import Services
from .session import WAIT_S, CaseFailed, Session

CASE_LIMIT_S = 30.0
"""No case may run longer, whatever it waits on."""
HANDSHAKE_S = 15.0
"""Default bound on ``initialize``: loading may compile TypeScript."""

Profile = Literal["core", "full"]
"""SPEC §0.1: *core* is what a child needs against a conforming broker; *full*
adds the defensive and optional behaviours. Every core case is also a full one."""
PROFILES: tuple[Profile, ...] = ("core", "full")

FIXTURES = (
    "ConformanceEcho",
    "ConformanceEmit",
    "ConformanceState",
    "ConformanceThrows",
    "ConformanceThrowsPermanent",
    "ConformanceSlow",
    "ConformanceIgnoresCancel",
    "ConformanceLogs",
    "ConformanceConcurrent",
    "ConformanceNoop",
)
"""The fixture steps of SPEC §11.1 every child has, by ``config.name``."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One line of the report."""

    requirement: str
    title: str
    passed: bool
    reason: str = ""

    def line(self) -> str:
        """``PASS  framing.bad-line  malformed JSON: …``."""
        verdict = "PASS" if self.passed else "FAIL"
        text = f"{verdict}  {self.requirement:<28} {self.title}"
        return f"{text}: {self.reason}" if self.reason else text


CaseFn = Callable[["Checker"], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Case:
    """One check: the requirement it proves, its profile, what it does, and how."""

    requirement: str
    title: str
    profile: Profile
    run: CaseFn


def registrar(cases: list[Case]) -> Callable[[str, str, Profile], Callable[[CaseFn], CaseFn]]:
    """A ``@case(requirement, title, profile)`` decorator appending to ``cases``,
    in the order the cases are defined."""

    def case(requirement: str, title: str, profile: Profile) -> Callable[[CaseFn], CaseFn]:
        def register(fn: CaseFn) -> CaseFn:
            cases.append(Case(requirement, title, profile, fn))
            return fn

        return register

    return case


def api_input(body: Any, path: str = "/conformance") -> dict[str, Any]:
    """The input of an api invocation (SPEC `invoke.input`)."""
    return {
        "method": "POST",
        "path": path,
        "body": body,
        "headers": {"content-type": "application/json"},
        "pathParams": {},
        "queryParams": {"q": "1"},
    }


API = {"type": "api"}


def event(topic: str, event_id: str = "conformance-event") -> dict[str, Any]:
    """An event trigger (SPEC `invoke.params`)."""
    return {"type": "event", "topic": topic, "eventId": event_id, "messageGroupId": None}


def expect(condition: bool, why: str) -> None:
    """Fail the case with ``why`` unless ``condition`` holds."""
    if not condition:
        raise CaseFailed(why)


class Checker:
    """Runs the cases against one child command, sharing one initialized session."""

    def __init__(
        self,
        make_command: Callable[[Path], ChildCommand],
        steps_dir: Path | None,
        *,
        handshake_s: float = HANDSHAKE_S,
        node_modules: Path | None = None,
        build: Callable[[Path, list[Path]], Awaitable[None]] | None = None,
        cases: Sequence[Case] = (),
        profile: Profile = "full",
    ) -> None:
        self.make_command = make_command
        self.profile = profile
        self.cases = [item for item in cases if profile == "full" or item.profile == "core"]
        """The cases of ``profile``, in order."""
        self.build = build
        """Run once before the first case, with the project and its step files
        (a compiled language's registry ``build``)."""
        self.steps_dir = steps_dir
        self.handshake_s = handshake_s
        self.node_modules = node_modules
        self.project = Path()
        self.files: list[str] = []
        self.stream_files: list[str] = []
        """Stream definition files among the fixtures (``initialize.streams``)."""
        self.command = ChildCommand([], {}, Path())
        self.services = Services()
        self.configs: dict[str, str] = {}
        """Fixture name → the path of the file that loaded it."""
        self.load_errors: dict[str, str] = {}
        self.handshake: dict[str, Any] | None = None
        self.handshake_failure: str | None = None
        self._session: Session | None = None
        self._tg: TaskGroup | None = None

    # -- setting up ------------------------------------------------------------------

    def prepare(self, root: Path) -> None:
        """Make the temporary project: ``steps/`` a copy of the fixtures."""
        self.project = root
        steps = root / "steps"
        if self.steps_dir is not None:
            shutil.copytree(self.steps_dir, steps)
        else:
            steps.mkdir()
        if self.node_modules is not None and self.node_modules.is_dir():
            (root / "node_modules").symlink_to(self.node_modules)
        self.files = sorted(
            str(path)
            for path in steps.iterdir()
            if path.is_file() and (".step." in path.name or "_step." in path.name)
        )
        self.stream_files = sorted(
            str(path)
            for path in steps.iterdir()
            if path.is_file() and (".stream." in path.name or "_stream." in path.name)
        )

    @contextlib.asynccontextmanager
    async def fresh(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Any:
        """A new child for one case, stopped afterwards."""
        assert self._tg is not None
        session = Session(self.command, self.services, max_line_bytes)
        async with anyio.create_task_group() as tg:
            await session.start(tg)
            try:
                yield session
            finally:
                await session.close()
                tg.cancel_scope.cancel()

    async def initialize(self, session: Session, files: list[str], **extra: Any) -> dict[str, Any]:
        """``initialize`` with ``files``; the result, checked against the Struct. Loading
        no file is quick; loading files may compile TypeScript (the handshake bound)."""
        params = {"protocolVersion": PROTOCOL_VERSION, "project": str(self.project), "steps": files}
        params.update(extra)
        msg_id = await session.request("initialize", params)
        within = self.handshake_s if files else WAIT_S
        result = await session.result(msg_id, "the answer to initialize", within)
        try:
            decode_params(
                msgspec.Raw(json.dumps(result).encode()), InitializeResult, where="$.result"
            )
        except InvalidParams as exc:
            raise CaseFailed(
                f"the initialize result does not fit its schema: {exc.message} at {exc.path}"
            ) from None
        return dict(result)

    async def ready(self) -> Session:
        """The shared, initialized session (started on first use, again if it died)."""
        if self.handshake_failure is not None:
            raise CaseFailed("needs a working handshake (see lifecycle.initialize)")
        if self._session is not None and not self._session.exited:
            return self._session
        if self._session is not None:
            await self._session.close()
        assert self._tg is not None
        session = Session(self.command, self.services)
        self._session = session
        try:
            await session.start(self._tg)
            self.handshake = await self.initialize(session, self.files)
        except CaseFailed as exc:
            self.handshake_failure = str(exc)
            raise
        for entry in self.handshake["steps"]:
            if "config" in entry:
                self.configs[str(entry["config"].get("name"))] = entry["path"]
            else:
                error = entry["error"]
                name = Path(entry["path"]).name
                self.load_errors[name] = f"{error.get('type')}: {error.get('message')}"
        return session

    def step(self, name: str) -> str:
        """The path of fixture ``name``; fails when it is missing or did not load."""
        if name in self.configs:
            return self.configs[name]
        if name in self.load_errors:
            raise CaseFailed(f"fixture {name} failed to load: {self.load_errors[name]}")
        raise CaseFailed(f"no fixture step named {name} (write it, see SPEC §11.1)")

    # -- running -----------------------------------------------------------------------

    async def run(self, report: Callable[[CaseResult], None]) -> list[CaseResult]:
        """Run every case in order; ``report`` gets each result as it is known."""
        results: list[CaseResult] = []
        with tempfile.TemporaryDirectory(prefix="motiad-conformance-") as tmp:
            self.prepare(Path(tmp))
            if self.build is not None:
                await self.build(self.project, [Path(file) for file in self.files])
            self.command = self.make_command(self.project)
            async with anyio.create_task_group() as tg:
                self._tg = tg
                try:
                    for item in self.cases:
                        result = await self._run_case(item)
                        results.append(result)
                        report(result)
                finally:
                    if self._session is not None:
                        await self._session.close()
                    tg.cancel_scope.cancel()
        return results

    async def _run_case(self, item: Case) -> CaseResult:
        try:
            try:
                with anyio.fail_after(CASE_LIMIT_S):
                    detail = await item.run(self)
            except BaseExceptionGroup as group:  # raised inside a task group: its first leaf
                raise _first_leaf(group) from None
        except CaseFailed as exc:
            return CaseResult(item.requirement, item.title, False, str(exc))
        except TimeoutError:
            return CaseResult(
                item.requirement, item.title, False, f"no progress within {CASE_LIMIT_S:g}s"
            )
        except Exception as exc:  # one line per case, whatever the child made the case raise
            return CaseResult(item.requirement, item.title, False, f"{type(exc).__name__}: {exc}")
        return CaseResult(item.requirement, item.title, True, detail)

    def supervised(
        self, files: list[str], gate: Callable[[str, Any], Awaitable[None]] | None = None
    ) -> Child:
        """A child under the broker's real supervisor, with short timings."""
        timings = ChildTimings(
            initialize_s=self.handshake_s,
            cancel_grace_s=2.0,
            ping_interval_s=5.0,
            ping_timeout_s=5.0,
            backoff_initial_s=0.1,
            backoff_max_s=1.0,
            stop_step_s=2.0,
        )
        spec = ChildSpec("conformance", self.command, files, timings=timings)
        return Child(spec, methods=self.services.methods(gate), notifications={}, logs=LogBus())


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception in a (nested) exception group that is not a group."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
