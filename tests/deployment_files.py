"""Readers for the deployment files: the Dockerfile, .dockerignore and the Helm chart's values.

They do what `docker build` and `helm install` do with these files, as far as the tests need it:
Dockerfile instructions with their line continuations, .dockerignore exclusions, Helm's merge of
the chart's default values with ours, and the chart's JSON schema loaded for offline validation.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from intmax_core.config import ENV_PREFIX, Settings

INTMAX_VARIABLE = re.compile(r"\bINTMAX_[A-Z0-9_]+\b")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    arguments: str


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Instructions in order; comments and blank lines dropped, backslash continuations joined."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split())))
    return instructions


def copy_sources(instruction: Instruction) -> list[str]:
    """The build-context paths a COPY takes (not the destination, not --from= stages)."""
    words = [word for word in instruction.arguments.split() if not word.startswith("--")]
    return words[:-1]


def dockerignore_patterns(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def is_ignored(context_path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `context_path` out of the build context: a pattern excludes the
    paths it matches and everything under them, `!` re-includes, and the last match wins."""
    parts = context_path.strip("/").split("/")
    prefixes = ["/".join(parts[:count]) for count in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").strip("/")
        if any(_matches(prefix, glob) for prefix in prefixes):
            ignored = not negated
    return ignored


def _matches(path: str, glob: str) -> bool:
    if glob.startswith("**/"):  # at any depth
        parts = path.split("/")
        return any(fnmatch.fnmatchcase("/".join(parts[start:]), glob[3:]) for start in range(len(parts)))
    return fnmatch.fnmatchcase(path, glob)


def helm_merge(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values over a chart's: maps merge key by key, lists and scalars
    replace, and a null removes the chart's key."""
    merged = dict(defaults)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def without_remote_refs(node: Any) -> Any:
    """The schema minus its `$ref`s to documents outside it (the Kubernetes object definitions,
    which are not vendored and must not be fetched); the siblings of such a `$ref` stay in force."""
    if isinstance(node, dict):
        return {
            key: without_remote_refs(value)
            for key, value in node.items()
            if not (key == "$ref" and isinstance(value, str) and not value.startswith("#"))
        }
    if isinstance(node, list):
        return [without_remote_refs(value) for value in node]
    return node


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def setting_variables() -> set[str]:
    """Every environment variable the pipeline's settings read."""
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def intmax_variables(path: Path) -> set[str]:
    """Every INTMAX_* name a file mentions, in values or in comments."""
    return set(INTMAX_VARIABLE.findall(path.read_text()))
