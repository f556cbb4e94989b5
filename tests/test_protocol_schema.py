"""``protocol/schema/`` is generated from the broker's Structs and must not drift."""

from __future__ import annotations

import json
from pathlib import Path

from motiad.protocol.messages import METHODS
from motiad.protocol.schema import REGENERATE, method_file, render, schema_documents

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "protocol" / "schema"


def test_the_checked_in_schema_matches_what_the_structs_generate() -> None:
    """ARCHITECTURE §11.1: one source of truth; regenerate instead of editing by hand."""
    wanted = render()
    present = {path.name: path.read_text(encoding="utf-8") for path in SCHEMA_DIR.glob("*.json")}
    drifted = sorted(
        name for name in wanted.keys() | present.keys() if wanted.get(name) != present.get(name)
    )
    assert not drifted, (
        f"protocol/schema/ is out of date ({', '.join(drifted)}): run `.venv/bin/{REGENERATE}`"
    )


def test_every_method_has_a_params_document_and_requests_a_result_document() -> None:
    documents = schema_documents()
    for name, spec in METHODS.items():
        assert f"{method_file(name)}.params.schema.json" in documents
        assert (f"{method_file(name)}.result.schema.json" in documents) == (spec.kind == "request")


def test_the_documents_are_self_contained_json_schema() -> None:
    """Every ``$ref`` points into the document's own ``$defs``."""
    for name, document in schema_documents().items():
        if name == "index.json":
            continue
        text = json.dumps(document)
        for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
            assert ref.removeprefix("#/$defs/") in document.get("$defs", {}), (name, ref)
