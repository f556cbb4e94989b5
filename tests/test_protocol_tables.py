"""Every SDK's protocol tables are generated from ``protocol/schema/`` and must not drift."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import motiad_sdk.tables as python_tables

from motiad.protocol import ErrorCode
from motiad.protocol.messages import (
    DEFAULT_MAX_LINE_BYTES,
    MAX_ERROR_MESSAGE_CHARS,
    METHODS,
    PROTOCOL_VERSION,
    SHUTDOWN_GRACE_MS,
)
from motiad.protocol.schema import schema_documents
from motiad.protocol.tables import INDEX, REGENERATE, RENDERERS, drifted, render_from

REPO = Path(__file__).resolve().parents[1]

SDK_SOURCES = {
    "python": ("sdk-python/motiad_sdk", "*.py"),
    "node": ("sdk-node/src", "*.mjs"),
    "go": ("sdk-go/motiad", "*.go"),
    "ruby": ("sdk-ruby/lib", "**/*.rb"),
}
"""Where each SDK's own code lives (its tests aside)."""

_TABLE_ROWS = re.compile(r"(\w+\s*[:=]\s*-32\d{3}\b.*\n\s*){2}")
"""Two lines in a row that each give a name an error code: a table's shape."""


def test_every_sdks_table_file_is_what_the_schema_generates() -> None:
    """ARCHITECTURE §11.1, one source of truth: Structs → protocol/schema → each SDK's tables."""
    assert set(RENDERERS) == set(SDK_SOURCES)
    stale = drifted(REPO)
    assert not stale, f"SDK tables out of date ({', '.join(stale)}): run `.venv/bin/{REGENERATE}`"


def test_the_drift_check_sees_an_edited_table_and_a_changed_schema(tmp_path: Path) -> None:
    (tmp_path / INDEX).parent.mkdir(parents=True)
    shutil.copy(REPO / INDEX, tmp_path / INDEX)
    for path, text in render_from(tmp_path).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    assert drifted(tmp_path) == []

    go_file = tmp_path / RENDERERS["go"][0]
    go_file.write_text(go_file.read_text().replace("-32700", "-32701"))
    assert drifted(tmp_path) == [RENDERERS["go"][0]]

    index = json.loads((tmp_path / INDEX).read_text())
    index["errorCodes"]["-32008"] = "SOMETHING_NEW"
    (tmp_path / INDEX).write_text(json.dumps(index))
    assert drifted(tmp_path) == sorted(path for path, _ in RENDERERS.values())


def test_the_generated_tables_carry_the_brokers_values() -> None:
    """What the Python SDK imports is the broker's, value for value."""
    assert python_tables.PROTOCOL_VERSION == PROTOCOL_VERSION
    assert python_tables.DEFAULT_MAX_LINE_BYTES == DEFAULT_MAX_LINE_BYTES
    assert python_tables.MAX_ERROR_MESSAGE_CHARS == MAX_ERROR_MESSAGE_CHARS
    assert python_tables.SHUTDOWN_GRACE_MS == SHUTDOWN_GRACE_MS
    assert {code.name: int(code) for code in python_tables.ErrorCode} == {
        code.name: int(code) for code in ErrorCode
    }
    methods = {
        value for name, value in vars(python_tables.Method).items() if not name.startswith("_")
    }
    assert methods == set(METHODS)
    assert schema_documents()["index.json"] == json.loads((REPO / INDEX).read_text())


def test_no_sdk_keeps_a_hand_written_copy_of_the_tables() -> None:
    """The SDKs import their tables; a second copy would drift unseen."""
    copies = []
    for language, (folder, pattern) in SDK_SOURCES.items():
        generated = REPO / RENDERERS[language][0]
        for path in sorted((REPO / folder).glob(pattern)):
            if path == generated or path.name.endswith("_test.go"):
                continue
            text = path.read_text(encoding="utf-8")
            if _TABLE_ROWS.search(text) or re.search(r"16 ?\* ?1024 ?\* ?1024|16777216", text):
                copies.append(str(path.relative_to(REPO)))
    assert not copies, f"tables kept by hand in {copies}: import them from the generated file"
