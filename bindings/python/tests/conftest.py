"""Fixtures shared by the Python tests: fresh copies of the scenario's workspaces.

The fixtures live in `tests/scenario/` of the repository: found through `BUILDNET_REPO` when
it is set (scripts/test-python.sh sets it, running pytest outside the source tree so that the
installed wheel is what gets imported), else relative to this file.
"""

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from buildnet import BuildNetClient

# Type-checker inputs, run by scripts/test-python.sh through mypy; not tests.
collect_ignore = ["typecheck_usage.py", "typecheck_wrong.py"]


def repo_root() -> Path:
    configured = os.environ.get("BUILDNET_REPO")
    if configured:
        return Path(configured).resolve()
    return Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def scenario_dir() -> Path:
    path = repo_root() / "tests" / "scenario"
    assert (path / "workspace" / "buildnet.yaml").is_file(), f"no scenario fixtures in {path}"
    return path


@pytest.fixture
def workspace(scenario_dir: Path, tmp_path: Path) -> Path:
    """A fresh copy of tests/scenario/workspace; returns its folder."""
    dest = tmp_path / "workspace"
    shutil.copytree(scenario_dir / "workspace", dest)
    return dest


@pytest.fixture
def config(workspace: Path) -> Path:
    return workspace / "buildnet.yaml"


@pytest.fixture
def cycle_config(scenario_dir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "cycle"
    shutil.copytree(scenario_dir / "cycle", dest)
    return dest / "buildnet.yaml"


@pytest.fixture
def client(config: Path) -> Iterator[BuildNetClient]:
    """A started client over a fresh workspace, stopped at the end of the test."""
    with BuildNetClient(config) as bn:
        yield bn


@pytest.fixture
def slow_config(tmp_path: Path) -> Path:
    """A workspace whose one target, `slow`, takes a second and is never cached."""
    dest = tmp_path / "slow"
    dest.mkdir()
    (dest / "buildnet.yaml").write_text(
        "server:\n"
        "  port: 0\n"
        "targets:\n"
        "  slow:\n"
        '    command: "sleep 1"\n'
        "    cache: false\n"
    )
    return dest / "buildnet.yaml"
