"""Resident memory of the pipeline's processes, read from /proc (Linux), grouped by role.

`intmax up` starts the API and `dagster dev` in their own process groups; `dagster dev` starts the
webserver and the daemon, each of which starts a code server, and runs are `dagster api execute_run`
processes started by the daemon's code server. A role is recognised by its command line, among the
descendants of the children that `intmax up` announced ("started api (pid N)").
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# Most specific first. The webserver and the daemon are given `--code-server-log-level`, so a bare
# "code-server" would match them too: the code server is `dagster api grpc` (or `code-server start`).
ROLE_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # A run the code server launches is a multiprocessing "spawn" child of it (dagster._grpc.server),
    # not a `dagster api execute_run` process; that command is what other launchers run.
    ("run", ("spawn_main", "execute_run", "execute_step")),
    ("daemon", ("dagster-daemon", "dagster._daemon")),
    ("webserver", ("dagster-webserver", "dagster_webserver")),
    ("code server", ("api grpc", "code-server start")),
    ("redis (embedded)", ("redis-server",)),
    ("api", ("intmax_cli.main api", "intmax api", "uvicorn")),
)
LONG_LIVED_ROLES = ("api", "daemon", "webserver", "code server")


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    role: str
    rss_bytes: int


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # The command name in parentheses may contain spaces: the fields after the last ')' are fixed.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(roots: Iterable[int]) -> set[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for pid, parent in _parents().items():
        children[parent].append(pid)
    found: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found.add(pid)
        stack.extend(children.get(pid, ()))
    return found


def command_line(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def rss_bytes(pid: int) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None  # a zombie has no VmRSS


def role_of(cmdline: str) -> str | None:
    for role, markers in ROLE_MARKERS:
        if any(marker in cmdline for marker in markers):
            return role
    return None


def sample(roots: Iterable[int]) -> list[ProcessMemory]:
    """Every recognised process under `roots` with its RSS now (the launcher shells are skipped)."""
    found = []
    for pid in sorted(descendants(roots)):
        role = role_of(command_line(pid))
        rss = rss_bytes(pid) if role else None
        if role and rss is not None and pid != os.getpid():
            found.append(ProcessMemory(pid, role, rss))
    return found


def total_by_role(processes: Iterable[ProcessMemory]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for process in processes:
        totals[process.role] += process.rss_bytes
    return dict(totals)
