"""The setup scripts leave the working tree as they found it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

NPM_TIMEOUT_SECONDS = 180
ANVIL = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")


def _tracked_files(root: Path) -> dict[str, bytes]:
    """Every file outside node_modules (which git ignores), with its contents."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and "node_modules" not in path.relative_to(root).parts
    }


def _ensure_npm_tools(root: Path) -> None:
    subprocess.run(
        ["bash", "-c", "set -euo pipefail; source scripts/setup.sh; ensure_npm_tools"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_SECONDS,
    )


@pytest.mark.timeout(2 * NPM_TIMEOUT_SECONDS + 30)
def test_ensure_npm_tools_installs_the_lock_and_never_rewrites_it(tmp_path: Path) -> None:
    """`npm install` would add the other platforms' optional anvil packages to package-lock.json
    (`git status` dirty after every setup); the install must use the lock without writing it."""
    (tmp_path / "scripts").mkdir()
    for name in ("package.json", "package-lock.json", "scripts/setup.sh"):
        shutil.copy2(PROJECT_ROOT / name, tmp_path / name)
    before = _tracked_files(tmp_path)

    _ensure_npm_tools(tmp_path)  # a fresh checkout: installs
    assert (tmp_path / ANVIL).is_file()
    # A newer lock (e.g. after a pull) makes the next run install again: the second real install.
    lock = tmp_path / "package-lock.json"
    stamp = (tmp_path / "node_modules" / ".package-lock.json").stat().st_mtime + 10
    os.utime(lock, (stamp, stamp))
    _ensure_npm_tools(tmp_path)

    assert _tracked_files(tmp_path) == before, "the npm install changed files git tracks"
    installed = (tmp_path / "node_modules" / ".package-lock.json").read_text()
    assert '"node_modules/@foundry-rs/anvil-darwin-arm64"' not in installed  # only this platform's package
