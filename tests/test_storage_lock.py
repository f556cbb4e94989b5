"""One broker per SQLite database, however the path to it is spelled (issue 19,
D2b: a symlinked ``--storage`` path ran a second broker on the same database,
and every event was handled twice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from motiad.app import broker_is_running, lock_path, project_lock
from motiad.config import Settings
from motiad.errors import MotiadError


@pytest.mark.parametrize("linked", ["file", "folder"])
def test_a_symlinked_storage_path_is_locked_as_the_database_it_points_to(
    tmp_path: Path, linked: str
) -> None:
    real = tmp_path / "data" / "motiad.db"
    real.parent.mkdir()
    real.touch()
    if linked == "file":
        link = tmp_path / "elsewhere" / "link.db"
        link.parent.mkdir()
        link.symlink_to(real)
    else:
        (tmp_path / "elsewhere").symlink_to(real.parent, target_is_directory=True)
        link = tmp_path / "elsewhere" / "motiad.db"
    project = tmp_path / "project"
    first = Settings(storage=f"sqlite:{real}")
    second = Settings(storage=f"sqlite:{link}")
    with (
        project_lock(lock_path(project, first)),
        pytest.raises(MotiadError, match="another motiad is already running"),
        project_lock(lock_path(project, second)),
    ):
        pytest.fail("a second broker locked the same database")
    with project_lock(lock_path(project, second)):  # released: the next one may run
        pass


def test_a_running_broker_is_seen_through_a_symlinked_storage_path(tmp_path: Path) -> None:
    real = tmp_path / "data" / "motiad.db"
    real.parent.mkdir()
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "link.db").symlink_to(real)
    (tmp_path / "project" / "motiad.toml").write_text('storage = "sqlite:link.db"\n')
    with project_lock(lock_path(tmp_path, Settings(storage=f"sqlite:{real}"))):
        assert broker_is_running(tmp_path / "project")
    assert not broker_is_running(tmp_path / "project")
