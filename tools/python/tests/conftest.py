import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import skipper

REPO = pathlib.Path(__file__).resolve().parents[3]


def _find_cli():
    """The skipper command line: $SKIPPER_CLI (CI sets it), else a build folder's."""
    named = os.environ.get("SKIPPER_CLI")
    if named:
        if not os.access(named, os.X_OK):
            raise FileNotFoundError(f"SKIPPER_CLI={named} is not an executable")
        return named
    for candidate in sorted(REPO.glob("build*/tools/skipper")):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("skipper")


@pytest.fixture(scope="session")
def cli():
    path = _find_cli()
    if path is None:
        pytest.skip("no skipper command line built (set SKIPPER_CLI); .ci/run sets it")
    return path


def run_cli(cli, *args):
    result = subprocess.run([cli, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"skipper {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory, cli):
    """A generated MSSD sample on disk, written by `skipper gen`."""
    folder = tmp_path_factory.mktemp("mssd")
    run_cli(cli, "gen", "--sessions", 300, "--seed", 3, "--out", folder)
    return folder


@pytest.fixture(scope="session")
def seed_rows():
    """The seed task on a small generated sample (no files, no command line needed)."""
    with pytest.warns(UserWarning, match="hist_user_behavior_reason_end"):
        return skipper.read_mssd(task="seed", sessions=300, sample_seed=5)


@pytest.fixture
def small_xy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(np.int64)
    return X, y
