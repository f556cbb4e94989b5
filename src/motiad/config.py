"""Project settings and step configs, with validation that names the file and
the field of every mistake.

Step configs use Motia's field names (ARCHITECTURE §1) and refuse unknown fields, so
a typo such as ``subscribe`` is reported instead of silently ignored.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from .errors import ConfigError

HTTP_METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


Language = str
"""A language of the runner registry (``[languages.NAME]``): ``python``,
``node``, ``go`` built in, and any a project declares."""


class EmitSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """An ``emits`` entry in object form."""

    topic: str
    label: str | None = None
    conditional: bool = False


Emit = str | EmitSpec


NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]


class QueueSettings(msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True):
    """``infrastructure.queue`` (seconds, as in Motia)."""

    type: Literal["standard", "fifo"] = "standard"
    max_retries: Annotated[int, msgspec.Meta(ge=0)] | None = None
    visibility_timeout: Positive | None = None
    delay_seconds: NonNegative = 0


class HandlerSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``infrastructure.handler`` (``timeout`` in seconds; ``ram``/``cpu`` are
    accepted for Motia compatibility and not enforced)."""

    timeout: Positive | None = None
    ram: int | None = None
    cpu: int | None = None
    workers: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """motiad's addition: a pool of this many children of its own for the step
    (a CPU-bound step on several cores); default: it shares its language's."""
    isolated: bool = False
    """motiad's addition: a child of its own for the step, not shared with the
    other steps of its language."""


class Infrastructure(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``infrastructure`` (Motia's name for per-step queue and handler settings)."""

    queue: QueueSettings = msgspec.field(default_factory=QueueSettings)
    handler: HandlerSettings = msgspec.field(default_factory=HandlerSettings)


class _StepConfigBase(
    msgspec.Struct,
    tag_field="type",
    rename="camel",
    forbid_unknown_fields=True,
    omit_defaults=True,
    kw_only=True,
):
    name: str
    description: str | None = None
    emits: list[Emit] = []
    virtual_emits: list[Emit] = []
    virtual_subscribes: list[str] = []
    flows: list[str] = []
    include_files: list[str] = []
    infrastructure: Infrastructure = msgspec.field(default_factory=Infrastructure)

    @property
    def emitted_topics(self) -> list[str]:
        """Topics in ``emits``, whichever form each entry has."""
        return [e if isinstance(e, str) else e.topic for e in self.emits]


class ApiStepConfig(_StepConfigBase, tag="api"):
    """An HTTP route."""

    path: str
    method: str
    body_schema: dict[str, Any] | None = None
    response_schema: dict[str, dict[str, Any]] | None = None
    query_params: list[dict[str, Any]] = []
    middleware: list[Any] = []
    stream_body: bool = False
    """motiad's addition (``streamBody``): the handler reads the request body
    as a stream (``http.read``, SPEC ``http.body-stream``) instead of getting
    it whole and parsed; ``request.body`` is then ``null``."""


class EventStepConfig(_StepConfigBase, tag="event"):
    """A subscriber to one or more topics."""

    subscribes: list[str]
    input: dict[str, Any] | None = None


class CronStepConfig(_StepConfigBase, tag="cron"):
    """A scheduled step."""

    cron: str
    skip_if_running: bool = False
    """motiad's addition: skip a tick while the previous run is still going
    (by default every tick fires, as in Motia)."""


class NoopStepConfig(_StepConfigBase, tag="noop"):
    """Drawn in the flow graph, never run."""


StepConfig = ApiStepConfig | EventStepConfig | CronStepConfig | NoopStepConfig
_STEP_CONFIGS: dict[str, type] = {
    "api": ApiStepConfig,
    "event": EventStepConfig,
    "cron": CronStepConfig,
    "noop": NoopStepConfig,
}
STEP_TYPES = tuple(_STEP_CONFIGS)

RESERVED_PATH_PREFIX = "/__motiad"
"""The workbench and its JSON API live here; API steps may not use it."""

_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_PARAM_SEGMENT = re.compile(r"^:[A-Za-z_][A-Za-z0-9_]*$")


def parse_step_config(raw: Mapping[str, Any], source: Path | str) -> StepConfig:
    """Validate a config object a child reported for ``source``.

    Raises :class:`ConfigError` naming the file and the field, for example
    ``steps/send.step.ts: config.path: missing (required for api steps)``.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(source, f"config must be an object, got {type(raw).__name__}")
    step_type = raw.get("type")
    if step_type not in STEP_TYPES:
        raise ConfigError(
            source,
            f"unknown step type {step_type!r}; expected one of {', '.join(STEP_TYPES)}",
            field="config.type",
        )
    raw = dict(raw)
    if step_type == "api" and isinstance(raw.get("method"), str):
        raw["method"] = raw["method"].upper()
    try:
        config: StepConfig = msgspec.convert(raw, StepConfig)
    except msgspec.ValidationError as exc:
        raise config_error(
            exc,
            source,
            target=_STEP_CONFIGS[step_type],
            root="config",
            missing=f"missing (required for {step_type} steps)",
            unknown=f"unknown field of {step_type} steps",
        ) from None
    check_step(config, source)
    return config


def config_error(
    exc: msgspec.ValidationError,
    source: Path | str,
    *,
    target: type,
    root: str = "",
    missing: str = "missing",
    unknown: str = "unknown setting",
) -> ConfigError:
    """A msgspec error converting a user's ``source`` to ``target`` as a
    :class:`ConfigError` naming the field (``root`` + its path, e.g.
    ``config.path`` or ``languages.ruby.command``); ``missing`` and ``unknown``
    say what a missing or an unknown field means there, and an unknown one
    names the field it likely misspells (``did you mean subscribes?``)."""
    text = str(exc)
    match = _AT_PATH.search(text)
    path = match.group("path") if match else ""
    field = root + path
    message = text[: match.start()] if match else text
    missing_field = re.match(r"Object missing required field `(?P<name>\w+)`", message)
    unknown_field = re.match(r"Object contains unknown field `(?P<name>[^`]+)`", message)
    if missing_field:
        field, message = f"{field}.{missing_field.group('name')}", missing
    elif unknown_field:
        name = unknown_field.group("name")
        field, message = f"{field}.{name}", unknown + _hint(name, _keys_at(target, path))
    return ConfigError(source, message, field=field.lstrip(".") or None)


def check_step(config: StepConfig, source: Path | str) -> None:
    """Refuse what a config's types allow but a step cannot use (a bad method,
    path or empty name), naming the field."""
    if not config.name.strip():
        raise ConfigError(source, "must not be empty", field="config.name")
    if isinstance(config, ApiStepConfig):
        if config.method not in HTTP_METHODS:
            raise ConfigError(
                source,
                f"unknown method {config.method!r}; expected one of {', '.join(HTTP_METHODS)}",
                field="config.method",
            )
        if config.path.startswith(RESERVED_PATH_PREFIX):
            raise ConfigError(
                source,
                f"{RESERVED_PATH_PREFIX} is reserved for motiad's workbench; choose another path",
                field="config.path",
            )
        if not config.path.startswith("/"):
            raise ConfigError(
                source, f"must start with '/', got {config.path!r}", field="config.path"
            )
        for segment in config.path.strip("/").split("/"):
            if segment.startswith(":") and not _PARAM_SEGMENT.match(segment):
                raise ConfigError(
                    source, f"invalid path parameter {segment!r}", field="config.path"
                )
    elif isinstance(config, EventStepConfig) and not config.subscribes:
        raise ConfigError(source, "must name at least one topic", field="config.subscribes")


# --- project settings -------------------------------------------------------


class QueueDefaults(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[queue]`` in motiad.toml: defaults for every event step."""

    max_retries: Annotated[int, msgspec.Meta(ge=0)] = 3
    backoff_initial_ms: Annotated[int, msgspec.Meta(ge=0)] = 1000
    backoff_max_ms: Annotated[int, msgspec.Meta(ge=0)] = 300_000
    visibility_timeout_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    """How long a delivery may run before it counts as lost; default: the
    handler timeout plus a margin (see ``Step.lease_s``)."""


LOG_RECORDS_PER_S = 1000
"""``log`` records a child may send per second: a handler logging a few lines
per request at a thousand requests a second fits; a loop logging as fast as it
can (tens of thousands a second) is cut to this, which the log, the workbench
and trace storage keep up with. The rest are counted and reported."""


class HandlerDefaults(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[handler]`` in motiad.toml."""

    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    max_log_records_per_s: Annotated[int, msgspec.Meta(ge=1)] = LOG_RECORDS_PER_S
    """``log`` records each child may send per second; the rest are counted and
    reported in the log, not handled."""


class TraceRetention(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[traces]`` in motiad.toml: how much history storage keeps for the
    workbench and ``motiad traces``/``logs``. Older entries are deleted as new
    ones come, so a busy project's file stops growing (about 1 KiB a span or
    log record: some tens of MiB with the defaults, for traces of a few spans)."""

    max_traces: Annotated[int, msgspec.Meta(ge=1)] = 1000
    """Newest traces kept, with their spans and logs."""
    max_logs: Annotated[int, msgspec.Meta(ge=1)] = 20_000
    """Newest log records kept, in traces or not (broker and stderr lines)."""


class MetricsSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[metrics]`` in motiad.toml: the Prometheus page (README "Production")."""

    enabled: bool = True
    path: Annotated[str, msgspec.Meta(pattern="^/")] = f"{RESERVED_PATH_PREFIX}/metrics"
    """Where it answers; guarded as the workbench is wherever it is."""


class TelemetrySettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[telemetry]`` in motiad.toml: OpenTelemetry export over OTLP/HTTP
    (README "Production"; needs ``pip install motiad[otel]``)."""

    otlp_endpoint: str | None = None
    """The collector's OTLP/HTTP base URL (``http://collector:4318``); unset:
    ``OTEL_EXPORTER_OTLP_ENDPOINT``, else no export."""
    service_name: str | None = None
    """``service.name`` of what is sent; unset: ``OTEL_SERVICE_NAME``, else ``motiad``."""
    sample_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    """The share of traces whose spans are sent (decided by the trace id, so a
    trace is whole or absent); unset: ``OTEL_TRACES_SAMPLER_ARG`` with
    ``OTEL_TRACES_SAMPLER=traceidratio``, else all. Log records are all sent."""


class LogSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[log]`` in motiad.toml: how ``motiad run`` and ``dev`` write log records."""

    format: Literal["human", "json"] = "human"
    """``json``: one JSON object per line for a log shipper (README "Production");
    ``--log-format`` overrides it."""


class ProcessModel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[process]`` in motiad.toml: which steps share a child."""

    isolate_steps: bool = False
    """A child per step file, as motiad did before children were shared. By
    default one child per language hosts every step of that language (a
    runner whose ``command`` takes ``{file}`` hosts one file per child)."""


class HttpSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[http]`` in motiad.toml: which browser pages may use the server, and
    per-connection limits (README "Security model")."""

    allowed_origins: list[str] = []
    """Origins (``https://app.example.com``, or ``*`` for any) whose pages may
    use the stream WebSocket and the workbench besides loopback and same-origin
    pages, and the only ones API steps answer CORS to. Empty: API steps answer
    any origin (``Access-Control-Allow-Origin: *``, as Motia does)."""
    allowed_hosts: list[str] = []
    """Host names (besides loopback ones) the workbench and the streams answer
    to on a loopback bind: a reverse proxy's public name when it passes its own
    Host header on. Beyond loopback the token decides, not the name."""
    allowed_methods: list[str] = msgspec.field(default_factory=lambda: ["*"])
    """``Access-Control-Allow-Methods`` of API steps."""
    allowed_headers: list[str] = msgspec.field(default_factory=lambda: ["*"])
    """``Access-Control-Allow-Headers`` of API steps."""
    allow_credentials: bool = False
    """Let listed origins send cookies to API steps (the origin is echoed then,
    as ``*`` does not allow credentials)."""
    cors_max_age_s: Annotated[int, msgspec.Meta(ge=0)] = 600
    """How long a browser may reuse a preflight answer (Motia's 600)."""
    reuse_port: bool = False
    """Listen with ``SO_REUSEPORT``, so several ``motiad run`` instances on one
    Redis share one port and the kernel spreads connections among them: one
    machine's cores serve one project without a load balancer (docs/SCALING.md).
    Linux and the BSDs; one instance per SQLite file still."""
    max_subscriptions: Annotated[int, msgspec.Meta(ge=1)] = 1000
    """Subscriptions one stream WebSocket may hold (a join beyond is refused with
    an error message): bounds the broker's memory per connection; a page
    follows a few items and groups, not thousands."""


_ORIGIN = re.compile(r"^(\*|[a-z][a-z0-9+.-]*://[^/?#\s]+)$")


def _check_http(source: Path, http: HttpSettings) -> None:
    """Refuse an origin that is not one, naming its key; keep them lower-case."""
    for index, origin in enumerate(http.allowed_origins):
        normal = origin.lower().rstrip("/")
        if not _ORIGIN.match(normal):
            raise ConfigError(
                source,
                f"{origin!r} is not an origin: write scheme://host[:port], or * for any",
                field=f"http.allowed_origins[{index}]",
            )
        http.allowed_origins[index] = normal
    http.allowed_hosts = [host.lower().rstrip(".") for host in http.allowed_hosts]


DEFAULT_STEP_DIRS = ("steps", "src")
"""Where Motia 0.17 looks for step and stream files (snap's generate-locked-data.ts)."""


class ProjectLayout(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[project]`` in motiad.toml: where the step files are and what their
    children inherit."""

    step_dirs: Annotated[list[str], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: list(DEFAULT_STEP_DIRS)
    )
    """Folders searched (any depth) for step and stream files, relative to the
    project. Motia 0.17 discovers both ``steps/`` and ``src/``; either may be absent."""
    inherit_env: bool = True
    """Children inherit the broker's whole environment, as Motia's do (a key
    exported in the shell reaches the steps). ``false``: only the short list of
    ``runners.PASSED_ENV``, for a step environment that depends on nothing but
    the project's ``.env``."""


PLACEHOLDERS = ("{file}", "{project}", "{sdk}", "{python}")
"""What a runner's ``command``, ``build`` and ``env`` may contain: the step file
(``command`` only), the project root, the SDK folder (``sdk``), and the Python
interpreter motiad picks (the ``python`` setting, the project's .venv, or its own)."""
FILE_PLACEHOLDER = "{file}"
"""A ``command`` argument naming the one step file the child hosts (the
runner then gets a child per file)."""
FILES_PLACEHOLDER = "{files}"
"""A ``build`` argument that stands for every step file of the language, one argument each."""
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_LANGUAGE_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class LanguageSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[languages.NAME]`` in motiad.toml: one entry of the runner registry, how
    motiad finds the step files of a language and starts a child for them."""

    patterns: list[str]
    """File-name globs of its step files in the step folders (``*.step.go``)."""
    stream_patterns: list[str] = []
    """File-name globs of the stream definition files its SDK loads (sent in
    ``initialize.streams``); none: the language defines no streams."""
    command: list[str]
    """argv of one child; the child gets the file's path in ``initialize`` too."""
    build: list[str] | None = None
    """Run once before the children start (and again when a file changes in
    ``motiad dev``) when the project has step files of this language."""
    env: dict[str, str] = {}
    """Added to the child's environment; a variable ending in ``PATH`` is
    prepended to the one the child would otherwise get."""
    sdk: str | None = None
    """What ``{sdk}`` names: an SDK bundled with motiad (``sdk-go``) or a folder
    (relative to the project)."""
    install_hint: str | None = None
    """Said when ``command``'s program is not on PATH."""
    workers: Annotated[int, msgspec.Meta(ge=1)] = 1
    """Children started for each child of this language, each hosting the same
    steps; an invocation goes to the least busy (CPU-bound steps use more cores)."""


BUILTIN_LANGUAGES: dict[str, dict[str, Any]] = {
    "python": {
        "patterns": ["*_step.py", "*.step.py"],
        "stream_patterns": ["*_stream.py", "*.stream.py"],
        "command": ["{python}", "-m", "motiad_sdk"],
        "env": {"PYTHONPATH": "{sdk}", "PYTHONUNBUFFERED": "1"},
        "sdk": "sdk-python",
    },
    "node": {
        "patterns": [
            "*.step.ts",
            "*.step.js",
            "*.step.mjs",
            "*.step.cjs",
            "*.step.mts",
            "*.step.cts",
        ],
        "stream_patterns": ["*.stream.ts", "*.stream.js", "*.stream.mjs", "*.stream.cjs"],
        "command": ["node", "{sdk}/src/runner.mjs"],
        "sdk": "sdk-node",
        "install_hint": "install Node.js 20 or newer to run TypeScript/JavaScript steps",
    },
    "go": {
        "patterns": ["*.step.go"],
        "build": ["sh", "{sdk}/build.sh", "{project}", "{files}"],
        "command": ["{project}/.motiad/go/steps", "{file}"],
        "sdk": "sdk-go",
    },
    "ruby": {
        "patterns": ["*.step.rb", "*_step.rb"],
        "command": ["ruby", "{sdk}/runner.rb"],
        "sdk": "sdk-ruby",
        "install_hint": "install Ruby 3.1 or newer to run Ruby steps",
    },
}
"""The registry's built-in entries, in the form a project writes its own
(README "Runner registry"); a project's ``[languages.NAME]`` overrides them key
by key."""


def builtin_languages() -> dict[str, LanguageSettings]:
    """The built-in registry, as :class:`Settings` has it without a motiad.toml."""
    return msgspec.convert(BUILTIN_LANGUAGES, dict[str, LanguageSettings])


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Project-wide settings (ARCHITECTURE §7). All optional."""

    host: str = "127.0.0.1"
    port: int = 3000
    storage: str = "sqlite:.motiad/motiad.db"
    python: str | None = None
    """Interpreter for Python steps; default: the project's .venv, else the broker's."""
    shutdown_grace_s: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    """How long in-flight work may run after SIGINT/SIGTERM before children are stopped."""
    shutdown_delay_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    """After SIGINT/SIGTERM, how long ``/__motiad/ready`` answers 503 before the
    listener closes: at least a load balancer's probe interval, so it stops
    sending first (0: close at once, for a lone instance)."""
    max_body_bytes: Annotated[int, msgspec.Meta(gt=0)] = 16_000_000
    """Largest request body accepted (413 beyond): 16 MB, room for the base64
    images Motia's users post (Motia itself allows 1 GB), and a JSON body this
    size still fits the protocol's 16 MiB line to the step."""

    workbench: bool = True
    """Serve the workbench and its JSON API under ``/__motiad/``."""
    workbench_token: str | None = None
    """The token the workbench requires. Default: none on a loopback ``host``,
    else a random one printed at start (the workbench can read state and emit)."""

    project: ProjectLayout = msgspec.field(default_factory=ProjectLayout)
    queue: QueueDefaults = msgspec.field(default_factory=QueueDefaults)
    handler: HandlerDefaults = msgspec.field(default_factory=HandlerDefaults)
    traces: TraceRetention = msgspec.field(default_factory=TraceRetention)
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    telemetry: TelemetrySettings = msgspec.field(default_factory=TelemetrySettings)
    process: ProcessModel = msgspec.field(default_factory=ProcessModel)
    http: HttpSettings = msgspec.field(default_factory=HttpSettings)
    languages: dict[str, LanguageSettings] = msgspec.field(default_factory=builtin_languages)
    """The runner registry: the built-in entries with the project's merged in."""

    @property
    def uses_redis(self) -> bool:
        """True when ``storage`` is a Redis URL (several brokers may share it)."""
        return self.storage.startswith(REDIS_SCHEMES)

    def sqlite_path(self, project: Path) -> Path:
        """The database file for a ``sqlite:`` storage URL, relative to the project."""
        if not self.storage.startswith("sqlite:"):
            raise ConfigError("storage", f"unsupported storage {self.storage!r}", field="storage")
        path = Path(self.storage.removeprefix("sqlite:"))
        return path if path.is_absolute() else project / path


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
"""URL schemes of a Redis storage (redis-py's ``from_url``)."""
SETTINGS_FILE = "motiad.toml"
_ENV_PREFIX = "MOTIAD_"


def load_settings(
    project: Path,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings with precedence: ``overrides`` (CLI) > ``MOTIAD_*`` > ``motiad.toml`` > defaults."""
    merged: dict[str, Any] = {}
    source = project / SETTINGS_FILE
    if source.exists():
        try:
            merged.update(tomllib.loads(source.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, f"not valid TOML: {exc}") from None
    languages = _merge_languages(source, merged.pop("languages", {}))
    env = os.environ if environ is None else environ
    for field in msgspec.structs.fields(Settings):
        if field.name in ("languages", "project", "log", "metrics", "telemetry"):
            continue  # tables: motiad.toml only (MOTIAD_PROJECT often names a folder)
        value = env.get(_ENV_PREFIX + field.name.upper())
        if value is not None:
            merged[field.name] = value
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        settings = msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise config_error(exc, source, target=Settings) from None
    if not (settings.storage.startswith("sqlite:") or settings.uses_redis):
        raise ConfigError(
            source,
            f"expected sqlite:PATH or redis://HOST:PORT/DB, got {settings.storage!r}",
            field="storage",
        )
    _check_http(source, settings.http)
    _check_project(source, settings.project)
    settings.languages = languages
    return settings


def _check_project(source: Path, project: ProjectLayout) -> None:
    """Refuse a step folder outside the project, naming its key."""
    for index, folder in enumerate(project.step_dirs):
        path = Path(folder)
        if not folder.strip() or path.is_absolute() or ".." in path.parts:
            raise ConfigError(
                source,
                f"{folder!r}: a folder inside the project, such as 'steps' or 'src'",
                field=f"project.step_dirs[{index}]",
            )


def _keys_at(target: type, path: str) -> list[str]:
    """The keys the table at ``path`` (``.queue``) of a ``target`` takes."""
    for part in path.split(".")[1:]:
        fields = {f.encode_name: f.type for f in msgspec.structs.fields(target)}
        target = fields.get(part, object)
    if not (isinstance(target, type) and issubclass(target, msgspec.Struct)):
        return []
    return [f.encode_name for f in msgspec.structs.fields(target)]


def _hint(name: str, keys: list[str]) -> str:
    """``; did you mean port?`` for a misspelt key, else the keys there are."""
    close = difflib.get_close_matches(name, keys, n=1)
    if close:
        return f"; did you mean {close[0]}?"
    return f" (expected one of: {', '.join(keys)})" if keys else ""


def _merge_languages(source: Path, declared: Any) -> dict[str, LanguageSettings]:
    """The built-in entries with the project's ``[languages.*]`` merged in, key by
    key, each converted and checked."""
    if not isinstance(declared, Mapping):
        raise ConfigError(source, "expected a table of [languages.NAME] entries", field="languages")
    raw: dict[str, Any] = {name: dict(entry) for name, entry in BUILTIN_LANGUAGES.items()}
    for name, entry in declared.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(source, "expected a table", field=f"languages.{name}")
        raw[name] = {**raw.get(name, {}), **entry}
    languages: dict[str, LanguageSettings] = {}
    for name, entry in raw.items():
        try:
            languages[name] = msgspec.convert(entry, LanguageSettings)
        except msgspec.ValidationError as exc:
            raise config_error(
                exc, source, target=LanguageSettings, root=f"languages.{name}"
            ) from None
        _check_language(source, name, languages[name])
    return languages


def _check_language(source: Path, name: str, language: LanguageSettings) -> None:
    """Refuse a registry entry that cannot work, naming its key."""
    key = f"languages.{name}"
    if not _LANGUAGE_NAME.match(name):
        raise ConfigError(
            source, "a language name is lower-case letters, digits, '-' and '_'", field=key
        )
    if not language.patterns:
        raise ConfigError(source, "must name at least one pattern", field=f"{key}.patterns")
    for part, patterns in (
        ("patterns", language.patterns),
        ("stream_patterns", language.stream_patterns),
    ):
        for index, pattern in enumerate(patterns):
            if not pattern or "/" in pattern:
                raise ConfigError(
                    source,
                    f"{pattern!r}: a pattern matches file names, such as '*.step.rb'",
                    field=f"{key}.{part}[{index}]",
                )
    lists = [("command", language.command), ("build", language.build or [])]
    for part, argv in lists:
        if not argv and (part == "command" or language.build is not None):
            raise ConfigError(source, "must not be empty", field=f"{key}.{part}")
        for index, arg in enumerate(argv):
            if part == "build" and arg == FILES_PLACEHOLDER:
                continue
            _check_placeholders(source, arg, f"{key}.{part}[{index}]", language, part)
    for variable, value in language.env.items():
        _check_placeholders(source, value, f"{key}.env.{variable}", language, "env")


def _check_placeholders(
    source: Path, text: str, field: str, language: LanguageSettings, part: str
) -> None:
    allowed = PLACEHOLDERS if part == "command" else tuple(p for p in PLACEHOLDERS if p != "{file}")
    for placeholder in _PLACEHOLDER.findall(text):
        if placeholder not in allowed:
            extra = f", or {FILES_PLACEHOLDER} as a whole argument" if part == "build" else ""
            raise ConfigError(
                source,
                f"unknown placeholder {placeholder}; expected {', '.join(allowed)}{extra}",
                field=field,
            )
        if placeholder == "{sdk}" and language.sdk is None:
            raise ConfigError(
                source,
                "uses {sdk}, so the entry needs `sdk = ...` naming the SDK folder",
                field=field,
            )
