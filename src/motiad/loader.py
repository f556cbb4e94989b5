"""Loading a project's steps: discover the step and stream files, build the
languages that need it, start a warm child per step file, read the configs
its ``initialize`` returns into the registry, and do it again for one file
when ``motiad dev`` sees it change. The loader owns the children."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import msgspec
from anyio.abc import TaskGroup

from .builds import build_language
from .config import Settings, StepConfig, parse_step_config
from .discovery import StepFile, discover_steps, discover_streams, language_of, stream_language_of
from .errors import ChildError, ConfigError, MotiadError, StepLoadError
from .registry import StepRegistry
from .rpc import Method
from .runners import child_command
from .steps import Step
from .streams import StreamDefinition, parse_stream_config
from .supervisor import Child, ChildSpec
from .tracing import Bus, LogBus


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
    child: Child


class StepLoader:
    """Starts the children of a project's step files and registers their steps.

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
        self._children: list[Child] = []

    async def load(self, tg: TaskGroup) -> LoadReport:
        """Discover the step files and start one warm child for each, in ``tg``.

        A file that fails to load, or whose config is invalid or conflicts with
        another step, is reported and left out; the others run.
        """
        self._tg = tg
        report = LoadReport()
        loaded: dict[str, list[_Loaded]] = {}
        files = discover_steps(self.project, self.settings.languages)
        failed = await self._build({file.language for file in files}, files, report.errors)
        async with anyio.create_task_group() as starting:
            for file in files:
                if file.language not in failed:
                    starting.start_soon(self._start_file, file, report.errors, loaded)
            by_language: dict[str, list[StepFile]] = {}
            for stream_file in discover_streams(self.project):
                by_language.setdefault(stream_file.language, []).append(stream_file)
            for stream_files in by_language.values():
                starting.start_soon(self._load_streams, stream_files, report.errors)
        for relative in sorted(loaded):
            await self._register_file(relative, loaded[relative], report.errors)
        report.steps = list(self.registry.steps.values())
        streams = self.registry.streams.definitions.values()
        report.streams = sorted(streams, key=lambda d: d.name)
        return report

    async def reload_file(self, relative: str) -> LoadReport:
        """``motiad dev``: a step file changed, appeared or went away. Its steps
        are unregistered, its child stops, and if the file is still there it
        starts again; the report's steps are the file's new ones. Every other
        step keeps serving."""
        report = LoadReport()
        path = self.project / relative
        stream_language = stream_language_of(Path(relative))
        if stream_language is not None:
            streams = self.registry.streams
            streams.remove_file(relative)
            if path.is_file():
                await self._load_streams([StepFile(path, relative, stream_language)], report.errors)
            report.streams = [d for d in streams.definitions.values() if d.file == relative]
            return report
        for step in self.registry.in_file(relative):
            self.registry.remove(step)
        for child in [c for c in self._children if c.spec.label == relative]:
            self._children.remove(child)
            await child.stop()
        try:
            language = language_of(Path(relative), self.settings.languages)
            files = discover_steps(self.project, self.settings.languages)
        except ConfigError as exc:
            report.errors.append(exc)
            return report
        if language is not None and path.is_file():
            if await self._build({language}, files, report.errors):
                return report
            loaded: dict[str, list[_Loaded]] = {}
            await self._start_file(StepFile(path, relative, language), report.errors, loaded)
            report.steps = await self._register_file(
                relative, loaded.get(relative, []), report.errors
            )
        self.reloaded.publish(relative)
        return report

    async def stop(self) -> None:
        """Stop every child."""
        async with anyio.create_task_group() as tg:
            for child in self._children:
                tg.start_soon(child.stop)

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
                errors.append(exc)
                failed.add(language)
        return failed

    async def _start_file(
        self, file: StepFile, errors: list[MotiadError], loaded: dict[str, list[_Loaded]]
    ) -> None:
        """Start the child for ``file`` and read its steps' configs into ``loaded``."""
        assert self._tg is not None
        try:
            command = child_command(file.language, self.project, self.settings, file.path)
        except ConfigError as exc:
            errors.append(exc)
            return
        child = self._child(ChildSpec(file.relative, command, [str(file.path)]))
        try:
            result = await self._tg.start(child.run)
        except ChildError as exc:
            errors.append(exc)
            return
        self._children.append(child)
        steps = loaded.setdefault(file.relative, [])
        for entry in result.steps:
            if entry.error is not None:
                error = entry.error
                errors.append(StepLoadError(file.relative, error.type, error.message, error.stack))
                continue
            try:
                steps.append(
                    _Loaded(file, parse_step_config(entry.config or {}, file.relative), child)
                )
            except ConfigError as exc:
                errors.append(exc)

    def _child(self, spec: ChildSpec) -> Child:
        return Child(spec, methods=self._methods, notifications=self._notifications, logs=self.logs)

    async def _load_streams(self, files: list[StepFile], errors: list[MotiadError]) -> None:
        """Read the configs of stream files of one language with a short-lived
        child of that language (SPEC ``lifecycle.streams``), and register them."""
        assert self._tg is not None
        try:
            command = child_command(files[0].language, self.project, self.settings)
        except ConfigError as exc:
            errors.append(exc)
            return
        label = f"stream files ({files[0].language})"
        spec = ChildSpec(label, command, [], stream_files=[str(f.path) for f in files])
        child = self._child(spec)
        try:
            result = await self._tg.start(child.run)
        except ChildError as exc:
            errors.append(exc)
            return
        finally:
            await child.stop()
        if isinstance(result.streams, msgspec.UnsetType):
            sdk = f"{result.sdk.name} {result.sdk.version}"
            errors.extend(
                ConfigError(f.relative, f"not loaded: {sdk} does not load stream files")
                for f in files
            )
            return
        for file, entry in zip(files, result.streams, strict=True):
            if entry.error is not None:
                error = entry.error
                errors.append(StepLoadError(file.relative, error.type, error.message, error.stack))
                continue
            try:
                self.registry.streams.add(parse_stream_config(entry.config or {}, file.relative))
            except ConfigError as exc:
                errors.append(exc)

    async def _register_file(
        self, relative: str, loaded: list[_Loaded], errors: list[MotiadError]
    ) -> list[Step]:
        """Register the steps of one file; returns those that run. The file's
        child is stopped when none does (it would only hold memory)."""
        running = []
        for entry in loaded:
            try:
                running.append(self.registry.add(entry.file, entry.config, entry.child))
            except ConfigError as exc:
                errors.append(exc)
        child = next((c for c in self._children if c.spec.label == relative), None)
        if child is not None and not running:
            self._children.remove(child)
            await child.stop()
        return running
