"""Prompt versions: the system prompt and the tool descriptions the model reads, as files, one folder per version.

    agent/routing/prompts/
    ├── released.toml        the id each released version had when it shipped (a test holds them to it)
    ├── v1/system.md         the system prompt, byte for byte
    ├── v1/tools.toml        one description per tool, in the order the model is shown them
    └── v1/notes.md          optional: what changed and why (not shown to the model)

A version's id is a hash of what the model is shown under it: the system prompt and the tool definitions (names,
descriptions, and the argument schemas, which come from the code). The id changes exactly when the cached prompt
prefix changes, so a run that records it says which prompt produced its answer. A released version is not edited:
its prefix must stay byte-stable (it is what the provider caches, and what earlier runs were answered with), so a
change is a new folder.

Which version answers: `SUPPORT_PROMPT_VERSION` (a folder name or an id; default the newest folder), and with
`SUPPORT_PROMPT_CANARY=v4:10` a share of conversations gets another one. The share is chosen by a hash of the
conversation id (salted with the canary's name, so two experiments do not always pick the same customers):
deterministic, so a conversation keeps its version on every turn, across restarts and on every replica, for as
long as the settings stay. Rolling back is changing a setting: a conversation whose version is no longer offered
gets the live one on its next turn.

The files ship inside the `agent` package and are found through `importlib.resources`, so an installed service
needs no checkout; `SUPPORT_PROMPTS_DIR` points at another folder of versions (an operator's own, or a test's).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from agent.errors import ConfigurationError
from tools.registry import ToolRegistry

SYSTEM_FILE = "system.md"
TOOLS_FILE = "tools.toml"
NOTES_FILE = "notes.md"
RELEASED_FILE = "released.toml"
ID_LENGTH = 12
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_CANARY = re.compile(r"(?P<name>[^:\s]+):(?P<share>\d{1,3}(?:\.\d{1,2})?)")


def packaged_directory() -> Path:
    """The versions that ship with the service, inside the installed package."""
    resource = files("agent.routing").joinpath("prompts")
    if not isinstance(resource, Path):
        raise ConfigurationError("the agent package is imported from an archive; install the support-agent wheel")
    return resource


@dataclass(frozen=True, slots=True)
class PromptVersion:
    name: str
    """The folder's name, e.g. `v1`: what people call it and what runs record as `prompt_version`."""
    id: str
    """A hash of what the model is shown (system prompt and tool definitions): what runs record as `prompt_id`."""
    system: str
    tools: list[dict[str, Any]]
    """Tool definitions (`name`, `description`, `input_schema`), built once: the same objects every turn, so the
    request's prefix is byte-identical every turn."""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})"


@dataclass(frozen=True, slots=True)
class Canary:
    version: PromptVersion
    share_percent: float

    def takes(self, conversation_id: str) -> bool:
        return bucket(conversation_id, self.version.name) < self.share_percent


def bucket(conversation_id: str, salt: str) -> float:
    """Where a conversation falls in [0, 100): the same place on every turn, process and replica."""
    digest = hashlib.sha256(f"{salt}\x00{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


def prompt_id(system: str, tools: list[dict[str, Any]]) -> str:
    payload = json.dumps({"system": system, "tools": tools}, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:ID_LENGTH]


def natural_key(name: str) -> tuple[Any, ...]:
    """`v2` before `v10`: numbers inside a name compare as numbers."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def load_version(folder: Path, registry: ToolRegistry) -> PromptVersion:
    """One version folder, checked: its system prompt is not empty, and it describes every tool the service has
    and no other (a description without its tool, or a tool the model would see undescribed, is a mistake)."""
    name = folder.name
    if not _NAME.fullmatch(name):
        raise ConfigurationError(f"prompt version folder {folder}: a name is letters, digits, '.', '_' or '-'")
    unknown = sorted(p.name for p in folder.iterdir() if p.name not in (SYSTEM_FILE, TOOLS_FILE, NOTES_FILE))
    if unknown:
        raise ConfigurationError(f"prompt version {name}: unexpected files {', '.join(unknown)}")
    try:
        system = (folder / SYSTEM_FILE).read_text(encoding="utf-8")
        described = tomllib.loads((folder / TOOLS_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"prompt version {name}: {error}") from error
    if not system.strip():
        raise ConfigurationError(f"prompt version {name}: {SYSTEM_FILE} is empty")
    known = {spec.name for spec in registry}
    if missing := sorted(known - set(described)):
        raise ConfigurationError(f"prompt version {name} does not describe the tools {', '.join(missing)}")
    if extra := sorted(set(described) - known):
        raise ConfigurationError(f"prompt version {name} describes tools the service does not have: {extra}")
    tools = []
    for tool, entry in described.items():
        description = entry.get("description") if isinstance(entry, dict) else None
        if not isinstance(description, str) or not description.strip():
            raise ConfigurationError(f"prompt version {name}: tool {tool} needs a non-empty description")
        schema = registry.get(tool).input_schema
        tools.append({"name": tool, "description": description, "input_schema": schema})
    return PromptVersion(name=name, id=prompt_id(system, tools), system=system, tools=tools)


def load_all(directory: Path, registry: ToolRegistry) -> dict[str, PromptVersion]:
    """Every version in `directory`, oldest first (by name, numbers compared as numbers)."""
    if not directory.is_dir():
        raise ConfigurationError(f"no prompt versions at {directory}: it is not a folder")
    folders = sorted((p for p in directory.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))), key=_by_name)
    versions = {folder.name: load_version(folder, registry) for folder in folders}
    if not versions:
        raise ConfigurationError(f"no prompt versions in {directory}: add a folder with {SYSTEM_FILE} and {TOOLS_FILE}")
    return versions


def _by_name(folder: Path) -> tuple[Any, ...]:
    return natural_key(folder.name)


class PromptVersions:
    """The versions on offer and which conversation gets which."""

    def __init__(self, versions: dict[str, PromptVersion], *, live: str | None = None, canary: str | None = None):
        self.versions = versions
        self.newest = versions[max(versions, key=natural_key)]
        self.live = self.find(live, "SUPPORT_PROMPT_VERSION") if live else self.newest
        self.canary = self._canary(canary) if canary else None

    @classmethod
    def load(
        cls,
        registry: ToolRegistry,
        *,
        directory: Path | None = None,
        live: str | None = None,
        canary: str | None = None,
    ) -> PromptVersions:
        return cls(load_all(directory or packaged_directory(), registry), live=live, canary=canary)

    def find(self, wanted: str, setting: str) -> PromptVersion:
        """A version by folder name or by id (or an id's first characters, at least 6)."""
        wanted = wanted.strip()
        if wanted in self.versions:
            return self.versions[wanted]
        by_id = [v for v in self.versions.values() if len(wanted) >= 6 and v.id.startswith(wanted.lower())]
        if len(by_id) == 1:
            return by_id[0]
        offered = ", ".join(v.label for v in self.versions.values())
        raise ConfigurationError(f"{setting}={wanted!r} names no prompt version; there are {offered}")

    def _canary(self, setting: str) -> Canary:
        match = _CANARY.fullmatch(setting.strip())
        if match is None:
            raise ConfigurationError(
                f"SUPPORT_PROMPT_CANARY={setting!r}: use <version>:<percent of new conversations>, e.g. v4:10"
            )
        share = float(match["share"])
        if not 0 < share <= 100:
            raise ConfigurationError(f"SUPPORT_PROMPT_CANARY={setting!r}: the share is more than 0 and at most 100")
        version = self.find(match["name"], "SUPPORT_PROMPT_CANARY")
        if version.name == self.live.name:
            raise ConfigurationError(f"SUPPORT_PROMPT_CANARY names the live version {version.name} itself")
        return Canary(version, share)

    def for_conversation(self, conversation_id: str) -> PromptVersion:
        if self.canary is not None and self.canary.takes(conversation_id):
            return self.canary.version
        return self.live

    def describe(self) -> str:
        """One line for the start-up log."""
        line = f"prompt {self.live.label} live"
        if self.canary is not None:
            line += f", {self.canary.version.label} for {self.canary.share_percent:g}% of conversations"
        return line


def released_ids(directory: Path | None = None) -> dict[str, str]:
    """The ids the released versions had when they shipped (`released.toml`)."""
    path = (directory or packaged_directory()) / RELEASED_FILE
    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {str(name): str(value) for name, value in data.items()}
