"""Loading a project's steps: discover the step and stream files, build the
languages that need it, start the warm children that host them (one per
language by default), read the configs their ``initialize`` returns into the
registry, and start a file's child again when ``motiad dev`` sees it change.
The loader owns the children."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import anyio
import msgspec
from anyio.abc import Process, TaskGroup

from .builds import build_language
from .config import FILE_PLACEHOLDER, NoopStepConfig, Settings, StepConfig
from .discovery import StepFile, discover_steps, discover_streams, language_of, stream_language_of
from .errors import ChildError, ConfigError, MotiadError, StepLoadError
from .motia_config import stream_auth_file
from .pool import ChildPool
from .protocol.messages import LoadedStep
from .registry import BrokenConfig, BuildFailed, KnownStep, StepRegistry, UnrunnableStep
from .rpc import Method
from .runners import ChildCommand, child_command
from .steps import Step
from .streams import StreamDefinition, parse_stream_config
from .supervisor import Child, ChildSpec, discard, spawn
from .tracing import Bus, LogBus
from .triggers import parse_step_configs

AUTH_LANGUAGE = "node"
"""The language that runs ``motia.config.ts``'s ``authenticateStream``."""


@dataclass
class LoadReport:
    """What starting the project (or reloading a file) found: the steps that
    run and the problems."""

    steps: list[Step] = field(default_factory=list)
    errors: list[MotiadError] = field(default_factory=list)
    streams: list[StreamDefinition] = field(default_factory=list)
    """The streams the stream files declare, by name."""


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A step config a child reported, not registered yet."""

    file: StepFile
    config: StepConfig
    pool: ChildPool


@dataclass(frozen=True, slots=True)
class _Hosted:
    """What one pool of children hosts."""

    language: str
    files: tuple[StepFile, ...]


@dataclass
class Reload:
    """A reload under way (:meth:`StepLoader.start_reload`): the new child is
    running, the registry still serves the old steps until :meth:`StepLoader.swap`."""

    relative: str
    report: LoadReport
    replaced: list[ChildPool] = field(default_factory=list)
    """The pools whose steps the new ones replace."""
    loaded: dict[str, list[_Loaded]] = field(default_factory=dict)
    """The new configs, by file."""
    announce: bool = True
    """Whether to tell :attr:`StepLoader.reloaded` (not for a stream file or a
    file that could not be built)."""


class StepLoader:
    """Starts the children of a project's step files and registers their steps.

    By default one child per language hosts every step file of that language;
    a runner whose command takes ``{file}``, and every runner under
    ``[process] isolate_steps``, gets a child per file. When a shared child
    cannot start (one file crashes it at import), its files get a child each,
    so one bad file does not keep the others from loading.

    ``methods`` and ``notifications`` are what the children may call (the child
    services)."""

    def __init__(
        self,
        project: Path,
        settings: Settings,
        logs: LogBus,
        registry: StepRegistry,
        *,
        methods: Mapping[str, Method],
        notifications: Mapping[str, Method],
        spares: bool = False,
    ) -> None:
        self.project = project
        self.settings = settings
        self.logs = logs
        self.registry = registry
        self.reloaded: Bus[str] = Bus()
        """Step files reloaded by ``motiad dev``, by relative path (the workbench redraws)."""
        self._methods = methods
        self._notifications = notifications
        self._tg: TaskGroup | None = None
        self._pools: dict[ChildPool, _Hosted] = {}
        self._hook_pools: list[ChildPool] = []
        """The children that run stream hooks (SPEC ``stream.hooks``)."""
        self._keep_spares = spares
        self._spares: dict[str, tuple[ChildCommand, Process]] = {}
        """``motiad dev``: per shared language, a child already started (its
        runtime and SDK loaded) that waits for the ``initialize`` of the next
        reload, which then only loads the step files (SPEC ``lifecycle.initialize``)."""

    async def load(self, tg: TaskGroup) -> LoadReport:
        """Discover the step files and start their warm children, in ``tg``.

        A file that fails to load, or whose config is invalid or conflicts with
        another step, is reported and left out; the others run.
        """
        self._tg = tg
        report = LoadReport()
        loaded: dict[str, list[_Loaded]] = {}
        files = discover_steps(
            self.project, self.settings.languages, self.settings.project.step_dirs
        )
        failed = await self._build({file.language for file in files}, files, report.errors)
        async with anyio.create_task_group() as starting:
            for group in self._groups([f for f in files if f.language not in failed]):
                starting.start_soon(self._start_group, group, report.errors, loaded)
            by_language: dict[str, list[StepFile]] = {}
            for stream_file in discover_streams(
                self.project, self.settings.languages, self.settings.project.step_dirs
            ):
                by_language.setdefault(stream_file.language, []).append(stream_file)
            auth = stream_auth_file(self.project)
            if auth is not None and AUTH_LANGUAGE in self.settings.languages:
                by_language.setdefault(AUTH_LANGUAGE, [])
            for language, stream_files in by_language.items():
                starting.start_soon(
                    self._load_streams,
                    stream_files,
                    report.errors,
                    auth if language == AUTH_LANGUAGE else None,
                )
        self._register(loaded, report.errors)
        await self._stop_idle()
        await self._start_spares()
        report.steps = list(self.registry.steps.values())
        streams = self.registry.streams.definitions.values()
        report.streams = sorted(streams, key=lambda d: d.name)
        return report

    async def start_reload(self, relative: str) -> Reload:
        """Start the child that will host ``relative`` and its neighbours; the
        old one keeps serving meanwhile (no request waits on the restart)."""
        report = LoadReport()
        path = self.project / relative
        stream_language = stream_language_of(Path(relative), self.settings.languages)
        if stream_language is not None:
            streams = self.registry.streams
            streams.remove_file(relative)
            if path.is_file():
                await self._load_streams([StepFile(path, relative, stream_language)], report.errors)
            report.streams = [d for d in streams.definitions.values() if d.file == relative]
            return Reload(relative, report, announce=False)
        hosting = [p for p, h in self._pools.items() if relative in _relatives(h)]
        # when the new child cannot come, a child of this file alone goes; a
        # shared one keeps serving its other files
        alone = [p for p in hosting if len(self._pools[p].files) == 1]
        try:
            language = language_of(Path(relative), self.settings.languages)
            files = discover_steps(
                self.project, self.settings.languages, self.settings.project.step_dirs
            )
        except ConfigError as exc:
            report.errors.append(exc)
            return Reload(relative, report, alone, announce=False)
        if language is None:
            return Reload(relative, report, hosting)
        if self._shares(language):
            group = [f for f in files if f.language == language]
            replaced = [p for p, h in self._pools.items() if h.language == language]
        else:
            group = [f for f in files if f.relative == relative]
            replaced = hosting
        loaded: dict[str, list[_Loaded]] = {}
        if group:
            if await self._build({language}, files, report.errors):
                return Reload(relative, report, alone, announce=False)
            await self._start_group(group, report.errors, loaded)
        return Reload(relative, report, replaced, loaded)

    def swap(self, reload: Reload) -> list[Step]:
        """Unregister the steps of the replaced children and register the new
        ones, at once; returns the steps unregistered."""
        replaced = set(reload.replaced)
        removed = [s for s in self.registry.steps.values() if s.pool in replaced]
        for step in removed:
            self.registry.remove(step)
        reload.report.steps = self._register(reload.loaded, reload.report.errors)
        return removed

    async def finish_reload(self, reload: Reload) -> None:
        """Stop the replaced children (they finish what they run, bounded) and
        announce the reload."""
        for pool in reload.replaced:
            self._pools.pop(pool, None)
        async with anyio.create_task_group() as tg:
            for pool in reload.replaced:
                tg.start_soon(pool.stop)
        await self._stop_idle()
        await self._start_spares()
        if reload.announce:
            self.reloaded.publish(reload.relative)

    async def stop(self, *, now: bool = False) -> None:
        """Stop every child (``now``: without the stages, see :meth:`Child.stop`)."""
        spares, self._keep_spares = self._spares, False
        self._spares = {}
        for _, process in spares.values():
            await discard(process)
        async with anyio.create_task_group() as tg:
            for pool in [*self._pools, *self._hook_pools]:
                tg.start_soon(partial(pool.stop, now=now))

    def _shares(self, language: str) -> bool:
        """Whether the step files of ``language`` share one child."""
        entry = self.settings.languages.get(language)
        return (
            not self.settings.process.isolate_steps
            and entry is not None
            and not any(FILE_PLACEHOLDER in arg for arg in entry.command)
        )

    def _groups(self, files: list[StepFile]) -> list[list[StepFile]]:
        """The files each child hosts."""
        shared: dict[str, list[StepFile]] = {}
        alone: list[list[StepFile]] = []
        for file in files:
            if self._shares(file.language):
                shared.setdefault(file.language, []).append(file)
            else:
                alone.append([file])
        return [*shared.values(), *alone]

    async def _build(
        self, languages: set[str], files: list[StepFile], errors: list[MotiadError]
    ) -> set[str]:
        """Run the registry's ``build`` of each of ``languages`` that has one, one
        after the other (their output stays readable); the languages whose build failed."""
        failed: set[str] = set()
        for language in sorted(languages):
            paths = [file.path for file in files if file.language == language]
            try:
                await build_language(language, self.project, self.settings, paths, self.logs)
            except ConfigError as exc:
                built = [file.relative for file in files if file.language == language]
                errors.append(BuildFailed(exc, built))
                failed.add(language)
        return failed

    async def _start_group(
        self, files: list[StepFile], errors: list[MotiadError], loaded: dict[str, list[_Loaded]]
    ) -> None:
        """Start the children that host ``files``; when several files share them
        and they cannot start, children per file instead (each reports its own
        error). A step that asks for children of its own (``isolated``,
        ``workers``) gets them."""
        language = files[0].language
        workers = self.settings.languages[language].workers
        failure = await self._start_pool(files, workers, errors, loaded)
        if failure is not None:
            if len(files) == 1:
                errors.append(_of_file(failure, files[0]))
                return
            self.logs.log(
                "warn", f"{_label(files)} did not start ({failure}); starting a child per file"
            )
            async with anyio.create_task_group() as tg:
                for file in files:
                    tg.start_soon(self._start_group, [file], errors, loaded)
            return
        for file in files:
            own = _own_workers([entry.config for entry in loaded.get(file.relative, [])])
            if own is not None and (len(files) > 1 or own != workers):
                mine: dict[str, list[_Loaded]] = {}
                failure = await self._start_pool([file], own, errors, mine)
                if failure is None:
                    loaded[file.relative] = mine.get(file.relative, [])
                else:
                    errors.append(failure)

    async def _start_pool(
        self,
        files: list[StepFile],
        workers: int,
        errors: list[MotiadError],
        loaded: dict[str, list[_Loaded]],
    ) -> MotiadError | None:
        """Start ``workers`` children hosting ``files`` and read their steps'
        configs into ``loaded`` (a file's own load error into ``errors``);
        returns why the first child did not start, if it did not. A further
        child that does not start is logged, and the pool runs without it."""
        assert self._tg is not None
        language = files[0].language
        alone = files[0].path if len(files) == 1 else None
        try:
            command = child_command(language, self.project, self.settings, alone)
        except ConfigError as exc:
            return exc
        spec = ChildSpec(_label(files), command, [str(f.path) for f in files])
        first = self._child(spec, await self._take_spare(language, command))
        try:
            result = await self._tg.start(first.run)
        except ChildError as exc:
            return exc
        children = [first]

        async def start_another() -> None:
            assert self._tg is not None
            child = self._child(spec)
            try:
                await self._tg.start(child.run)
            except ChildError as exc:
                self.logs.log("warn", f"a worker did not start: {exc}")
            else:
                children.append(child)

        async with anyio.create_task_group() as tg:
            for _ in range(workers - 1):
                tg.start_soon(start_another)
        pool = ChildPool(children)
        self._pools[pool] = _Hosted(language, tuple(files))
        for file, entry in zip(files, result.steps, strict=True):
            steps = loaded.setdefault(file.relative, [])
            if entry.error is not None:
                error = entry.error
                failed = StepLoadError(file.relative, error.type, error.message, error.stack)
                # a config read beside the error keeps the step's routes known (503s)
                errors.append(UnrunnableStep(failed, KnownStep.of_raw(entry.config)))
                continue
            try:
                configs = parse_step_configs(entry.config or {}, file.relative)
            except ConfigError as exc:  # what could be read of it keeps its routes known
                errors.append(BrokenConfig(exc, KnownStep.of_raw(entry.config)))
            else:
                steps.extend(_Loaded(file, config, pool) for config in configs)
        return None

    def _child(self, spec: ChildSpec, spare: Process | None = None) -> Child:
        spec = replace(spec, log_records_per_s=self.settings.handler.max_log_records_per_s)
        return Child(
            spec,
            methods=self._methods,
            notifications=self._notifications,
            logs=self.logs,
            spare=spare,
        )

    async def _take_spare(self, language: str, command: ChildCommand) -> Process | None:
        """The spare of ``language`` if it still runs and was started with this
        very command (``.env`` or ``motiad.toml`` unchanged); else none (a stale
        one is ended)."""
        held = self._spares.pop(language, None)
        if held is None:
            return None
        started_with, process = held
        if started_with == command and process.returncode is None:
            return process
        await discard(process)
        return None

    async def _start_spares(self) -> None:
        """``motiad dev``: start a spare for each shared language that has none,
        once the load or reload is over (it costs the reload nothing)."""
        if not self._keep_spares:
            return
        languages = {hosted.language for hosted in self._pools.values()}
        for language in sorted(languages - self._spares.keys()):
            if not self._shares(language):
                continue
            try:
                command = child_command(language, self.project, self.settings)
                self._spares[language] = (command, await spawn(command))
            except (ConfigError, OSError):
                continue  # the reload starts its child as usual, and says why it cannot

    async def _load_streams(
        self, files: list[StepFile], errors: list[MotiadError], auth: Path | None = None
    ) -> None:
        """Read the configs of stream files of one language with a child of that
        language (SPEC ``lifecycle.streams``), and register them. The child
        stays when a stream has hooks, or it loaded ``auth`` (the project's
        ``motia.config.ts`` with ``authenticateStream``): it runs them (SPEC
        ``stream.hooks``); otherwise it stops once answered."""
        assert self._tg is not None
        language = files[0].language if files else AUTH_LANGUAGE
        try:
            command = child_command(language, self.project, self.settings)
        except ConfigError as exc:
            errors.append(exc)
            return
        label = f"stream files ({language})"
        spec = ChildSpec(
            label,
            command,
            [],
            stream_files=[str(f.path) for f in files],
            stream_auth=None if auth is None else str(auth),
        )
        child = self._child(spec)
        try:
            result = await self._tg.start(child.run)
        except ChildError as exc:
            errors.append(exc)
            return
        hooked: list[tuple[StepFile, str]] = []
        auth_file: StepFile | None = None
        try:
            if isinstance(result.streams, msgspec.UnsetType):
                sdk = f"{result.sdk.name} {result.sdk.version}"
                errors.extend(
                    ConfigError(f.relative, f"not loaded: {sdk} does not load stream files")
                    for f in files
                )
            else:
                for file, entry in zip(files, result.streams, strict=True):
                    if entry.error is not None:
                        error = entry.error
                        errors.append(
                            StepLoadError(file.relative, error.type, error.message, error.stack)
                        )
                        continue
                    try:
                        definition = parse_stream_config(entry.config or {}, file.relative)
                        self.registry.streams.add(definition)
                    except ConfigError as exc:
                        errors.append(exc)
                    else:
                        if definition.joins or definition.leaves:
                            hooked.append((file, definition.name))
            auth_file = self._stream_auth_loaded(auth, result.stream_auth, errors)
        finally:
            if not hooked and auth_file is None:
                await child.stop()
        if not hooked and auth_file is None:
            await self._stop_unhooked()  # this file's old hooks may be gone
            return
        pool = ChildPool([child])
        self._hook_pools.append(pool)
        for file, name in hooked:
            self.registry.stream_hooks[name] = Step.compile(
                file, NoopStepConfig(name=f"stream {name}"), pool
            )
        if auth_file is not None:
            config = NoopStepConfig(name="authenticateStream")
            self.registry.stream_auth = Step.compile(auth_file, config, pool)
        await self._stop_unhooked()

    def _stream_auth_loaded(
        self, auth: Path | None, entry: LoadedStep | msgspec.UnsetType, errors: list[MotiadError]
    ) -> StepFile | None:
        """The auth file as a step file, when the child loaded it."""
        if auth is None:
            return None
        relative = auth.relative_to(self.project).as_posix()
        if isinstance(entry, msgspec.UnsetType):
            message = "authenticateStream is not run: the Node SDK did not load it"
            errors.append(ConfigError(relative, message))
            return None
        if entry.error is not None:
            error = entry.error
            errors.append(StepLoadError(relative, error.type, error.message, error.stack))
            return None
        return StepFile(auth, relative, AUTH_LANGUAGE)

    async def _stop_unhooked(self) -> None:
        """Forget the hooks of streams no longer declared (``motiad dev``), and
        stop the hook children no hook needs any more."""
        hooks = self.registry.stream_hooks
        definitions = self.registry.streams.definitions
        for name in [n for n, step in hooks.items() if n not in definitions]:
            del hooks[name]
        for name, definition in definitions.items():
            step = hooks.get(name)
            if step is not None and not (definition.joins or definition.leaves):
                del hooks[name]
        used = {step.pool for step in hooks.values()}
        if self.registry.stream_auth is not None:
            used.add(self.registry.stream_auth.pool)
        idle = [pool for pool in self._hook_pools if pool not in used]
        self._hook_pools = [pool for pool in self._hook_pools if pool in used]
        async with anyio.create_task_group() as tg:
            for pool in idle:
                tg.start_soon(pool.stop)

    def _register(self, loaded: dict[str, list[_Loaded]], errors: list[MotiadError]) -> list[Step]:
        """Register the loaded steps, file by file in path order (so of two
        steps claiming one name or route, the first path's wins); returns those
        that run."""
        running = []
        for relative in sorted(loaded):
            for entry in loaded[relative]:
                try:
                    running.append(self.registry.add(entry.file, entry.config, entry.pool))
                except ConfigError as exc:
                    errors.append(BrokenConfig(exc, KnownStep.of_configs([entry.config])))
        return running

    async def _stop_idle(self) -> None:
        """Stop the pools none of whose steps runs (they would only hold memory)."""
        hosting = {step.pool for step in self.registry.steps.values()}
        idle = [pool for pool in self._pools if pool not in hosting]
        for pool in idle:
            del self._pools[pool]
        async with anyio.create_task_group() as tg:
            for pool in idle:
                tg.start_soon(pool.stop)


def _relatives(hosted: _Hosted) -> list[str]:
    return [f.relative for f in hosted.files]


def _own_workers(configs: list[StepConfig]) -> int | None:
    """How many children of its own a file's step asks for (``isolated``: one),
    or ``None`` when it shares its language's."""
    for config in configs:
        handler = config.infrastructure.handler
        if handler.workers is not None:
            return handler.workers
        if handler.isolated:
            return 1
    return None


def _of_file(failure: MotiadError, file: StepFile) -> MotiadError:
    """A child of one file that did not start, as that file's load error (so
    ``motiad dev`` clears it when the file is fixed; the line, when the child's
    last stderr lines name one)."""
    if not isinstance(failure, ChildError):
        return failure
    message = str(failure).removeprefix(f"{file.relative}: ")
    return StepLoadError(file.relative, "ChildError", message, message)


def _label(files: list[StepFile]) -> str:
    """How logs and errors name a child: its file, or its language and files."""
    if len(files) == 1:
        return files[0].relative
    return f"{files[0].language} child of {len(files)} step files"
