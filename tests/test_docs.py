"""The repository explains itself: every "ARCHITECTURE §n" that code and docs
cite names a section of docs/ARCHITECTURE.md, and nothing cites a document the
repository does not have (the original DESIGN and STYLE notes live outside it)."""

from __future__ import annotations

import re
import subprocess
import tomllib

from .harness import REPO

CITATION = re.compile(r"ARCHITECTURE §(?P<section>\d+(?:\.\d+)?)")
OUTSIDE = re.compile(r"\b(?:DESIGN|STYLE) §\d")


def tracked_texts() -> dict[str, str]:
    """Every tracked text file of the repository, by path."""
    listed = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    texts = {}
    for name in listed:
        path = REPO / name
        if not path.is_file() or path.suffix in {".png", ".svg", ".db", ".ico"}:
            continue
        try:
            texts[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def test_every_architecture_citation_names_a_section_that_exists() -> None:
    architecture = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", architecture, flags=re.M))
    dangling = [
        f"{name}: ARCHITECTURE §{match['section']}"
        for name, text in tracked_texts().items()
        for match in CITATION.finditer(text)
        if match["section"] not in sections
    ]
    assert dangling == [], f"sections of docs/ARCHITECTURE.md: {sorted(sections)}"


def test_nothing_cites_a_document_outside_the_repository() -> None:
    outside = [
        f"{name}:{text.count(chr(10), 0, match.start()) + 1}"
        for name, text in tracked_texts().items()
        for match in OUTSIDE.finditer(text)
    ]
    assert outside == []


def test_the_layout_table_is_the_layers_contract_and_names_every_module() -> None:
    contract = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in contract["contracts"] if c["type"] == "layers"]
    in_contract = [
        {name.strip().removeprefix("motiad.") for name in layer.split("|")} for layer in layers
    ]
    architecture = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    section = architecture[architecture.index("## 6. ") : architecture.index("## 7. ")]
    rows = re.findall(r"^\| \d+ \| (.*?) \|", section, flags=re.M)
    in_table = [set(re.findall(r"`(\w+)`", row)) for row in rows]
    assert in_table == in_contract
    package = REPO / "src" / "motiad"
    modules = {
        path.stem if path.is_file() else path.name
        for path in package.iterdir()
        if (path.suffix == ".py" and not path.stem.startswith("_"))
        or (path.is_dir() and (path / "__init__.py").is_file())
    }
    assert modules == set().union(*in_contract)
