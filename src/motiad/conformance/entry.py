"""What to check: one of our SDKs, by its runner registry entry, or any command;
and running the checker with a report of one line per case."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..builds import build_language
from ..config import Settings
from ..runners import PASSED_ENV, ChildCommand, child_command, sdk_dir
from ..tracing import LogBus
from .cases import all_cases
from .cases.vectors import protocol_dir
from .checker import HANDSHAKE_S, Checker, Profile


def _absolute(arg: str) -> str:
    """``arg`` made absolute when it names an existing path relative to the current
    folder: the command runs in a temporary project, not here."""
    if arg.startswith("-") or os.path.isabs(arg) or not os.path.exists(arg):
        return arg
    return os.path.abspath(arg)


def minimal_env() -> dict[str, str]:
    """The environment the broker gives children (SPEC `runner.command`)."""
    return {k: v for k, v in os.environ.items() if k in PASSED_ENV}


def checker_for(
    sdk: str | None,
    command: list[str],
    steps: Path | None,
    *,
    handshake_s: float = HANDSHAKE_S,
    logs: LogBus | None = None,
    profile: Profile = "full",
) -> Checker:
    """A checker for one of our SDKs (started by its built-in registry entry, built
    first when the entry has a ``build``), or for any ``command``, running the
    cases of ``profile``."""
    cases = all_cases()
    if sdk is not None:
        language = sdk
        fixtures = steps or protocol_dir() / "conformance" / sdk
        settings = Settings()
        node_modules = None
        if sdk == "node":
            node_modules = next(
                (
                    path
                    for path in (sdk_dir("sdk-node") / "node_modules", Path.cwd() / "node_modules")
                    if path.is_dir()
                ),
                None,
            )

        async def build(project: Path, files: list[Path]) -> None:
            await build_language(language, project, settings, files, logs or LogBus())

        return Checker(
            lambda project: child_command(language, project, settings),
            fixtures,
            handshake_s=handshake_s,
            node_modules=node_modules,
            build=build,
            cases=cases,
            profile=profile,
        )
    argv = [_absolute(arg) for arg in command]
    return Checker(
        lambda project: ChildCommand(argv, minimal_env(), project),
        steps,
        handshake_s=handshake_s,
        cases=cases,
        profile=profile,
    )


async def run_conformance(checker: Checker, emit: Callable[[str], None]) -> int:
    """Run the cases of the checker's profile, print each line and the summary
    (which names the profile); the exit status."""
    results = await checker.run(lambda result: emit(result.line()))
    passed = sum(result.passed for result in results)
    failed = len(results) - passed
    verdict = "failed" if failed else "passed"
    emit(f"{passed} passed, {failed} failed: profile {checker.profile} {verdict}")
    return 1 if failed else 0
