"""ARCHITECTURE §11.2: every MUST of ``protocol/SPEC.md`` has an ID, and a test cites it.

Citations are looked for in the broker tests, the SDK tests, the conformance
cases (each names the requirement it checks) and the golden vectors (each
lists its requirements, and all three implementations run them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from motiad.conformance.cases import all_cases

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "protocol" / "SPEC.md"
REQUIREMENT = re.compile(
    r"^- \*\*`(?P<id>[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+)`\*\*"
    r" \((?P<level>MUST|SHOULD|MAY)(?:, (?P<profile>core|full))?\)",
    re.M,
)
CITING = [
    (REPO / "tests", "*.py"),
    (REPO / "sdk-python" / "tests", "*.py"),
    (REPO / "sdk-node" / "test", "*.mjs"),
    (REPO / "protocol" / "vectors", "*.json"),
]
CONFORMANCE = REPO / "src" / "motiad" / "conformance"


def requirements() -> dict[str, str]:
    """Every requirement ID of the spec and its level."""
    found = [(rid, level) for rid, level, _ in _requirements()]
    return dict(found)


def profiles() -> dict[str, str | None]:
    """Every requirement ID of the spec and its profile (``None``: not said)."""
    return {rid: profile for rid, _, profile in _requirements()}


def _requirements() -> list[tuple[str, str, str | None]]:
    found = [
        (m.group("id"), m.group("level"), m.group("profile"))
        for m in REQUIREMENT.finditer(SPEC.read_text("utf-8"))
    ]
    ids = [requirement for requirement, _, _ in found]
    assert len(ids) == len(set(ids)), (
        f"duplicate IDs: {sorted({i for i in ids if ids.count(i) > 1})}"
    )
    return found


def citing_text() -> str:
    """Everything that may cite a requirement, this file excluded."""
    parts = [path.read_text("utf-8") for path in sorted(CONFORMANCE.rglob("*.py"))]
    for folder, pattern in CITING:
        parts.extend(
            path.read_text("utf-8")
            for path in sorted(folder.rglob(pattern))
            if path != Path(__file__).resolve() and "node_modules" not in path.parts
        )
    return "\n".join(parts)


def cites(text: str, requirement: str) -> bool:
    """Whether ``text`` names ``requirement`` itself (not a longer ID it prefixes)."""
    pattern = rf"(?<![A-Za-z0-9.-]){re.escape(requirement)}(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
    return re.search(pattern, text) is not None


def test_every_must_requirement_is_cited_by_a_test() -> None:
    text = citing_text()
    uncited = [
        rid for rid, level in requirements().items() if level == "MUST" and not cites(text, rid)
    ]
    assert uncited == [], f"MUST requirements no test cites: {', '.join(uncited)}"


def test_the_spec_has_the_requirements_of_every_area() -> None:
    ids = requirements()
    areas = {rid.split(".")[0] for rid in ids}
    assert {"framing", "rpc", "lifecycle", "invoke", "errors", "runner"} <= areas
    assert sum(level == "MUST" for level in ids.values()) >= 30


def test_what_tests_cite_exists_in_the_spec() -> None:
    """A cited ID that the spec does not define is a typo or a stale citation."""
    ids = requirements()
    text = citing_text()
    cited = set(re.findall(r"SPEC `([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+)`", text))
    cited |= set(re.findall(r'@case\(\s*"([^"]+)"', text))
    for folder, pattern in CITING[3:]:
        for path in folder.glob(pattern):
            for vector in json.loads(path.read_text("utf-8"))["vectors"]:
                cited |= set(vector["requirements"])
    assert sorted(cited - set(ids)) == []


def test_every_requirement_says_its_profile() -> None:
    """SPEC §0.1: each ID is core or full."""
    assert [rid for rid, profile in profiles().items() if profile is None] == []
    assert {"core", "full"} == set(profiles().values())


def test_a_core_case_cites_a_core_requirement() -> None:
    """A child of the core profile is never failed for a full requirement; every
    case, hand-written or generated from a vector, cites a requirement that exists."""
    known = profiles()
    cases = all_cases()
    assert [c.requirement for c in cases if c.requirement not in known] == []
    assert [c.title for c in cases if c.profile == "core" and known[c.requirement] != "core"] == []
    assert {"core", "full"} == {c.profile for c in cases}
