"""Prompt versions: folders of files with a content hash for an id, the live one chosen by a setting, a canary share
chosen by a hash of the conversation id, and what each run, span and metric records of them."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from agent.errors import ConfigurationError
from agent.models.base import ModelRequest
from agent.models.scripted import ScriptedModel, Step, call, say
from agent.routing.prompt_versions import PromptVersions, load_all, packaged_directory, released_ids
from basics.ids import new_id
from cli.main import main
from testkit.fakes.anthropic_api import FakeMessagesAPI, ReceivedRequest
from testkit.fakes.anthropic_api import say as fake_say
from testkit.service import anthropic_settings, running_service
from testkit.telemetry import recording
from tools import registry

JAMES = "james_li_5688"
CHANGED = "- Be brief, friendly and precise. Amounts in US dollars.\n"
"""The one instruction the test's second version changes."""


def with_second_version(root: Path, instruction: str = "- Be warm and thorough. Amounts in US dollars.\n") -> Path:
    """A folder of versions: the packaged v1, and v2 that differs from it in one instruction."""
    shutil.copytree(packaged_directory() / "v1", root / "v1")
    (root / "v2").mkdir()
    shutil.copy(root / "v1" / "tools.toml", root / "v2" / "tools.toml")
    system = (root / "v1" / "system.md").read_text()
    assert CHANGED in system
    (root / "v2" / "system.md").write_text(system.replace(CHANGED, instruction))
    return root


def test_every_released_version_still_hashes_to_the_id_it_shipped_with() -> None:
    """A released version is the cached prefix and what earlier runs were answered with: a change to it must be a
    new folder. (Its id covers the tool schemas too, which come from the code: a schema change shows up here.)"""
    found = load_all(packaged_directory(), registry)
    released = released_ids()
    assert released, "released.toml lists no version"
    for name, shipped in released.items():
        assert name in found, f"released prompt version {name} is gone: it can no longer be rolled back to"
        assert found[name].id == shipped, (
            f"prompt version {name} changed after it was released (id {shipped} -> {found[name].id}); "
            "put the change in a new version folder instead"
        )


def test_the_newest_version_is_live_unless_a_setting_names_another(tmp_path: Path) -> None:
    root = with_second_version(tmp_path)
    shutil.copytree(root / "v2", root / "v10")  # v10 is newer than v2: numbers compare as numbers
    (root / "v10" / "system.md").write_text((root / "v10" / "system.md").read_text() + "- One more rule.\n")
    versions = PromptVersions.load(registry, directory=root)
    assert versions.live.name == "v10"
    assert PromptVersions.load(registry, directory=root, live="v2").live.name == "v2"
    by_id = versions.versions["v1"].id
    assert PromptVersions.load(registry, directory=root, live=by_id[:8]).live.name == "v1"
    assert len({v.id for v in versions.versions.values()}) == 3  # one instruction apart is another id


def test_the_packaged_version_is_what_a_bare_service_sends(tmp_path: Path) -> None:
    live = PromptVersions.load(registry).live
    assert live.name == max(released_ids(), key=lambda name: int(name.lstrip("v")))
    assert [tool["name"] for tool in live.tools] == [tool["name"] for tool in registry.definitions()]
    assert all(tool["input_schema"] == registry.get(tool["name"]).input_schema for tool in live.tools)


@pytest.mark.parametrize(
    ("broken", "said"),
    [
        (lambda v: (v / "system.md").write_text("  \n"), "system.md is empty"),
        (lambda v: (v / "tools.toml").write_text("[get_order_details]\ndescription = 'x'\n"), "does not describe"),
        (
            lambda v: (v / "tools.toml").write_text((v / "tools.toml").read_text() + "\n[fly]\ndescription = 'x'\n"),
            "tools the service does not have",
        ),
        (lambda v: (v / "draft.txt").write_text("notes"), "unexpected files draft.txt"),
        (lambda v: (v / "tools.toml").write_text("[get_order_details\n"), "prompt version v1:"),
    ],
)
def test_a_broken_version_stops_the_start_with_what_is_wrong(tmp_path: Path, broken: object, said: str) -> None:
    shutil.copytree(packaged_directory() / "v1", tmp_path / "v1")
    broken(tmp_path / "v1")  # type: ignore[operator]
    with pytest.raises(ConfigurationError, match=said):
        PromptVersions.load(registry, directory=tmp_path)


@pytest.mark.parametrize(
    ("live", "canary", "said"),
    [
        ("v9", None, "SUPPORT_PROMPT_VERSION='v9' names no prompt version; there are v1 .*, v2 "),
        (None, "v2", "use <version>:<percent of new conversations>"),
        (None, "v2:0", "more than 0 and at most 100"),
        (None, "v2:101", "more than 0 and at most 100"),
        (None, "v3:10", "SUPPORT_PROMPT_CANARY='v3' names no prompt version"),
        ("v2", "v2:10", "names the live version v2 itself"),
    ],
)
def test_settings_naming_a_version_that_is_not_there_are_refused(
    tmp_path: Path, live: str | None, canary: str | None, said: str
) -> None:
    root = with_second_version(tmp_path)
    with pytest.raises(ConfigurationError, match=said):
        PromptVersions.load(registry, directory=root, live=live, canary=canary)


def new_conversation_ids(count: int) -> list[str]:
    """Conversation ids as the service makes them (`basics.ids.new_id`), from a seeded generator: the split of
    random ids varies by more than the ±2% asked of it one time in thirty, and a test must not."""
    draw = random.Random(28)
    ids = [f"conv_{uuid.UUID(int=draw.getrandbits(128), version=4).hex}" for _ in range(count)]
    assert all(len(i) == len(new_id("conv")) for i in ids)
    return ids


def test_the_canary_takes_its_share_of_new_conversations_and_each_keeps_its_version(tmp_path: Path) -> None:
    versions = PromptVersions.load(registry, directory=with_second_version(tmp_path), live="v1", canary="v2:10")
    conversations = new_conversation_ids(1000)
    chosen = {conversation: versions.for_conversation(conversation).name for conversation in conversations}
    on_canary = sum(name == "v2" for name in chosen.values())
    print(f"{on_canary} of 1000 new conversations on the canary")
    assert 80 <= on_canary <= 120, on_canary  # 10% ± 2%
    # Asked again (a later turn), each conversation gets the same version.
    assert all(versions.for_conversation(c).name == name for c, name in chosen.items())
    # Ramping up keeps the conversations already on the canary there.
    wider = PromptVersions.load(registry, directory=tmp_path, live="v1", canary="v2:30")
    assert all(wider.for_conversation(c).name == "v2" for c, name in chosen.items() if name == "v2")


def test_another_process_puts_each_conversation_on_the_same_version(tmp_path: Path) -> None:
    """Nothing in the choice depends on the process (no salted built-in hash): a restart or another replica
    gives every conversation the version it had."""
    root = with_second_version(tmp_path)
    conversations = new_conversation_ids(200)
    here = PromptVersions.load(registry, directory=root, live="v1", canary="v2:50")
    script = (
        "import sys; from pathlib import Path; from agent.routing.prompt_versions import PromptVersions; "
        "from tools import registry; "
        "v = PromptVersions.load(registry, directory=Path(sys.argv[1]), live='v1', canary='v2:50'); "
        "print(''.join(v.for_conversation(c).name[-1] for c in sys.argv[2:]))"
    )
    there = subprocess.run(
        [sys.executable, "-c", script, str(root), *conversations],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout.strip()
    assert there == "".join(here.for_conversation(c).name[-1] for c in conversations)
    assert set(there) == {"1", "2"}


def sees(version: str, root: Path) -> Step:
    """A scripted answer that checks the request carried `version`'s system prompt and labels."""
    system = (root / version / "system.md").read_text()

    def check(request: ModelRequest) -> None:
        assert request.system == system
        assert request.labels["support.prompt.version"] == version

    return Step(response=say(f"answered with {version}"), check=check)


async def test_a_conversation_keeps_its_version_across_turns_and_a_restart_and_rolls_back_by_a_setting(
    sqlite_url: str, tmp_path: Path
) -> None:
    root = with_second_version(tmp_path)
    settings = {
        "SUPPORT_PROMPTS_DIR": str(root),
        "SUPPORT_PROMPT_VERSION": "v1",
        "SUPPORT_PROMPT_CANARY": "v2:50",
        "SUPPORT_CONVERSATIONS_PER_HOUR": "0",  # 40 new conversations from one customer: past the default cap
    }
    versions = PromptVersions.load(registry, directory=root, live="v1", canary="v2:50")
    model = ScriptedModel()
    async with running_service(sqlite_url, model, **settings) as service:
        opened = [await service.new_conversation(JAMES) for _ in range(40)]
        canary = next(c for c in opened if versions.for_conversation(c).name == "v2")
        live = next(c for c in opened if versions.for_conversation(c).name == "v1")
        model.add(sees("v2", root), sees("v1", root), sees("v2", root))
        first = (await service.say(JAMES, canary, "Where is my order #W2611340?")).json()["run"]
        assert (await service.say(JAMES, live, "Where is my order #W2611340?")).json()["run"]["prompt_version"] == "v1"
        second = (await service.say(JAMES, canary, "Thanks!")).json()["run"]
    assert (first["prompt_version"], first["prompt_id"]) == ("v2", versions.versions["v2"].id)
    assert second["prompt_id"] == first["prompt_id"]

    model.add(sees("v2", root))
    async with running_service(sqlite_url, model, **settings) as restarted:
        third = (await restarted.say(JAMES, canary, "And my address?")).json()["run"]
    assert third["prompt_id"] == first["prompt_id"]

    # Rolling back: without the canary setting, the canary's conversation is answered with the live version.
    model.add(sees("v1", root))
    rolled_back = {k: v for k, v in settings.items() if k != "SUPPORT_PROMPT_CANARY"}
    async with running_service(sqlite_url, model, **rolled_back) as service:
        fourth = (await service.say(JAMES, canary, "Where is it now?")).json()["run"]
    assert fourth["prompt_version"] == "v1"
    model.assert_done()


async def test_spans_and_metrics_carry_the_prompt_version(sqlite_url: str) -> None:
    live = PromptVersions.load(registry).live
    model = ScriptedModel([call("get_order_details", {"order_id": "#W2611340"}), say("It is on its way.")])
    with recording() as recorded:
        async with running_service(sqlite_url, model, telemetry=recorded.telemetry) as service:
            conversation = await service.new_conversation(JAMES)
            answered = await service.say(JAMES, conversation, "Where is my order #W2611340?")
            assert answered.json()["run"]["prompt_version"] == live.name
        spans = [*recorded.named("invoke_agent"), *recorded.named("chat"), *recorded.named("execute_tool")]
        points = recorded.points()
    assert len(spans) == 4
    for span in spans:
        assert span.attributes is not None
        assert (span.attributes["support.prompt.version"], span.attributes["support.prompt.id"]) == (live.name, live.id)
        assert span.attributes["support.route"] == "default"
    for metric in (
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "support.tool.calls",
        "support.runs",
        "support.run.cost",
    ):
        assert {p.attributes["support.prompt.version"] for p in points[metric]} == {live.name}, metric


def prefix_bytes(sent: ReceivedRequest) -> bytes:
    """The bytes of `system` and `tools` as the SDK sent them (they come last in the body)."""
    _, marker, rest = sent.raw_body.partition(b'"system":')
    assert marker
    return rest


async def test_each_versions_prefix_is_byte_identical_on_every_turn_through_the_sdk(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The system prompt and tools are the cached prefix: each version's bytes are the same on every call of every
    conversation on it, and the two versions' differ."""
    root = with_second_version(tmp_path)
    versions = PromptVersions.load(registry, directory=root, live="v1", canary="v2:50")
    with FakeMessagesAPI() as api:
        settings = {
            **anthropic_settings(api.base_url),
            "SUPPORT_PROMPTS_DIR": str(root),
            "SUPPORT_CONVERSATIONS_PER_HOUR": "0",  # 40 new conversations from one customer: past the default cap
        }
        async with running_service(
            sqlite_url, SUPPORT_PROMPT_VERSION="v1", SUPPORT_PROMPT_CANARY="v2:50", **settings
        ) as service:
            opened = [await service.new_conversation(JAMES) for _ in range(40)]
            on = {name: [c for c in opened if versions.for_conversation(c).name == name][:2] for name in ("v1", "v2")}
            for name, conversations in on.items():
                for conversation in conversations:
                    for text in ("Where is my order #W2611340?", "Thanks!"):
                        api.add(fake_say(f"answered with {name}"))
                        assert (await service.say(JAMES, conversation, text)).json()["run"]["prompt_version"] == name
        sent = api.requests
        api.assert_done()
    by_version = {name: {prefix_bytes(r) for r in sent[i * 4 : i * 4 + 4]} for i, name in enumerate(on)}
    assert all(len(prefixes) == 1 for prefixes in by_version.values())
    assert by_version["v1"] != by_version["v2"]


def test_support_prompts_lists_the_versions_with_their_ids_and_roles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = with_second_version(tmp_path)
    for name, value in {"SUPPORT_PROMPTS_DIR": str(root), "SUPPORT_PROMPT_VERSION": "v1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SUPPORT_PROMPT_CANARY", "v2:10")
    main(["prompts"])
    versions = PromptVersions.load(registry, directory=root)
    assert capsys.readouterr().out.splitlines() == [
        f"v1           {versions.versions['v1'].id}  live, not released",
        f"v2           {versions.versions['v2'].id}  canary 10%, newest, not released",
    ]


def test_support_serve_refuses_a_prompt_setting_before_touching_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "never.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("SUPPORT_PROMPT_VERSION", "v99")
    with pytest.raises(SystemExit, match="SUPPORT_PROMPT_VERSION='v99' names no prompt version"):
        main(["serve", "--port", "0"])
    assert not database.exists()
