"""The published contract: `docs/openapi.json` is the app's spec, every operation in it meets the team's bar, and
a client generated from it type-checks a front-end's use of the API (and refuses a misspelled field).

The bar is checked on the app's live spec, so a route added later is held to it before anyone regenerates the
committed file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sse_starlette import EventSourceResponse

from agent.models.scripted import ScriptedModel, call, say
from api.app import create_app, operation_id
from api.auth import AnyPrincipal
from api.openapi import COMMITTED_SPEC, REGENERATE, current_spec, render
from api.schemas import error_responses
from api.schemas.streams import event_stream_response
from testkit.service import bearer, running_service, service_settings

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).parent / "client_programs"
PUBLIC = {"/healthz", "/livez", "/readyz", "/metrics", "/openapi.json", "/docs", "/widget.js", "/demo"}
"""Operations anyone may call: no security requirement expected. Everything else takes the bearer token."""
NON_JSON_SUCCESS = {"text/event-stream", "text/plain", "text/html", "text/javascript", "application/javascript"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
SMALL = "#W6247578"  # pending, $53.27: the policy lets its cancellation run once the customer confirms
SMALL_OWNER = "yusuf_rossi_9620"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return current_spec()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def untyped(schema: dict[str, Any] | None) -> bool:
    """No schema, `{}`, or a bare object of anything: what a generated client can only call `unknown`."""
    if not schema:
        return True
    return schema.get("type") == "object" and "properties" not in schema and "$ref" not in schema


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    """The component name a `$ref` points at."""
    return str(schema.get("$ref", "")).rsplit("/", 1)[-1]


def test_the_committed_spec_is_the_apps(spec: dict[str, Any]) -> None:
    committed = (ROOT / COMMITTED_SPEC).read_text(encoding="utf-8")
    assert committed == render(spec), (
        f"{COMMITTED_SPEC} differs from the app's spec: the HTTP contract changed. Review the change, then run "
        f"`{REGENERATE}` and commit the file."
    )


def test_the_regeneration_command_writes_the_apps_spec(tmp_path: Path, spec: dict[str, Any]) -> None:
    """`support openapi --write PATH` (what `./dev support openapi --write` runs, to docs/openapi.json)."""
    target = tmp_path / "openapi.json"
    written = subprocess.run(
        [sys.executable, "-m", "cli.main", "openapi", "--write", str(target)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert written.returncode == 0, written.stderr
    assert target.read_text(encoding="utf-8") == render(spec)


def test_every_operation_meets_the_bar(spec: dict[str, Any]) -> None:
    problems = below_the_bar(spec)
    assert not problems, "\n".join(problems)
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }


def test_the_bar_catches_a_route_that_misses_it() -> None:
    """The checker itself: an untyped, unauthenticated route with FastAPI's defaults fails it on each count, and
    a stream declared the way `api.schemas.streams` says passes."""
    app = FastAPI(generate_unique_id_function=operation_id)

    @app.post("/v1/things/{thing_id}")
    async def Make_Thing(thing_id: str) -> dict[str, Any]:  # a name no client should get
        return {}

    @app.get(
        "/v1/things/{thing_id}/events",
        tags=["things"],
        response_class=EventSourceResponse,
        responses={**event_stream_response("The thing's events."), **error_responses(401, 404, 422)},
    )
    async def thing_events(thing_id: str, _: AnyPrincipal) -> None:
        return None

    problems = below_the_bar(app.openapi())
    assert problems == [
        "POST /v1/things/{thing_id}: operationId 'Make_Thing' is not a readable snake_case name",
        "POST /v1/things/{thing_id}: no tag",
        "POST /v1/things/{thing_id}: the 2xx application/json body is untyped",
        "POST /v1/things/{thing_id}: 422 does not declare the error body",
        "POST /v1/things/{thing_id}: no bearer security requirement",
    ]


def below_the_bar(spec: dict[str, Any]) -> list[str]:
    """Each operation: a readable unique id, a tag, a typed 2xx body (or a stream), errors in the one error
    body, the bearer scheme unless public, and never FastAPI's own 422 shape."""
    problems: list[str] = []
    seen: set[str] = set()
    for path, method, operation in operations(spec):
        where = f"{method.upper()} {path}"
        operation_id = operation.get("operationId", "")
        if not operation_id or not operation_id.replace("_", "").isalnum() or not operation_id.islower():
            problems.append(f"{where}: operationId {operation_id!r} is not a readable snake_case name")
        if operation_id in seen:
            problems.append(f"{where}: operationId {operation_id!r} is used twice")
        seen.add(operation_id)
        if not operation.get("tags"):
            problems.append(f"{where}: no tag")
        responses: dict[str, Any] = operation["responses"]
        success = [r for status, r in responses.items() if status.startswith("2") and status != "204"]
        bodies = [(media, body) for r in success for media, body in r.get("content", {}).items()]
        if not bodies and len(success) == len([s for s in responses if s.startswith("2")]):
            problems.append(f"{where}: no 2xx response with a body")
        for media, body in bodies:
            if media.split(";")[0] not in NON_JSON_SUCCESS and untyped(body.get("schema")):
                problems.append(f"{where}: the 2xx {media} body is untyped")
        for status, r in responses.items():
            if not status.startswith(("4", "5")):
                continue
            schema = r.get("content", {}).get("application/json", {}).get("schema", {})
            if resolve(spec, schema) not in ("ErrorOut", "HealthOut"):
                problems.append(f"{where}: {status} does not declare the error body")
            if status == "429" and "Retry-After" not in r.get("headers", {}):
                problems.append(f"{where}: 429 does not declare Retry-After")
        secured = operation.get("security") == [{"bearer": []}]
        if path not in PUBLIC and not secured:
            problems.append(f"{where}: no bearer security requirement")
        if secured and "401" not in responses:
            problems.append(f"{where}: takes a token but does not declare 401")
        if (operation.get("parameters") or operation.get("requestBody")) and "422" not in responses:
            problems.append(f"{where}: takes input but does not declare 422")
    return problems


def test_the_chat_answer_is_typed_down_to_the_confirmation(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    answer = spec["paths"]["/v1/conversations/{conversation_id}/messages"]["post"]["responses"]["200"]
    assert resolve(spec, answer["content"]["application/json"]["schema"]) == "SendMessageOut"
    assert "text/event-stream" in answer["content"]
    run = schemas["RunOut"]
    assert set(run["properties"]["status"]["enum"]) >= {"completed", "awaiting_confirmation", "awaiting_approval"}
    assert set(schemas["PendingConfirmationOut"]["required"]) == {"id", "tool", "arguments", "summary", "expires_at"}
    assert schemas["PendingConfirmationOut"]["properties"]["summary"]["description"].startswith("What will happen")
    limited = spec["paths"]["/v1/conversations/{conversation_id}/messages"]["post"]["responses"]["429"]
    assert limited["headers"]["Retry-After"]["schema"] == {"type": "integer"}


async def test_the_errors_the_service_sends_are_the_declared_body(sqlite_url: str, spec: dict[str, Any]) -> None:
    """The declared ErrorOut is what really comes back: a 401, a 404 and a framework 422 all fit it."""
    declared = spec["components"]["schemas"]["ErrorOut"]
    detail = spec["components"]["schemas"]["ErrorDetail"]
    async with running_service(sqlite_url, ScriptedModel()) as service:
        conversation = await service.new_conversation(SMALL_OWNER)
        answers = [
            await service.http.post("/v1/conversations"),
            await service.http.get("/v1/conversations/conv_missing", headers=bearer(SMALL_OWNER)),
            await service.http.post(
                f"/v1/conversations/{conversation}/messages", json={"text": "hi"}, headers=bearer(SMALL_OWNER)
            ),
        ]
    assert [a.status_code for a in answers] == [401, 404, 422]
    for answered in answers:
        body = answered.json()
        assert set(body) == set(declared["required"]) == {"error"}
        assert set(detail["required"]) <= set(body["error"]) <= set(detail["properties"])


@pytest.fixture(scope="module")
def generated_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A client generated from the committed spec, once for the module (the generator takes about a second)."""
    home = tmp_path_factory.mktemp("client")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # it formats with ruff
    generated = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(ROOT / COMMITTED_SPEC),
            "--output-path",
            str(home / "generated"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout + generated.stderr
    (home / "mypy.ini").write_text(
        "[mypy]\nstrict = True\n"
        # The generator's fixed client template forwards `*args: object` to httpx's `__exit__`; that is its code,
        # not our contract. Everything generated from the spec (models, operations) is checked strictly.
        "[mypy-generated.client]\nignore_errors = True\n"
    )
    for program in PROGRAMS.glob("*.py"):
        shutil.copy(program, home / program.name)
    return home


def type_check(home: Path, program: str) -> subprocess.CompletedProcess[str]:
    """mypy --strict on `program` and the generated client it imports. Its cache stays in the module's tmp dir,
    so the second program is checked in a fraction of the first's time."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", program],
        capture_output=True,
        text=True,
        cwd=home,
        check=False,
    )


def test_a_generated_client_type_checks_a_front_ends_use(generated_client: Path) -> None:
    checked = type_check(generated_client, "uses_the_client.py")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_misspelled_field_does_not_type_check(generated_client: Path) -> None:
    checked = type_check(generated_client, "misspells_a_field.py")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert '"PendingConfirmationOut" has no attribute "sumary"' in checked.stdout, checked.stdout


async def test_the_generated_client_reads_the_real_answers(generated_client: Path, sqlite_url: str) -> None:
    """The type-checked program, run against the service: every body it parses fits the spec it came from."""
    sys.path.insert(0, str(generated_client))
    try:
        from generated.client import AuthenticatedClient  # type: ignore[import-not-found]
        from uses_the_client import cancel_with_confirmation  # type: ignore[import-not-found]

        model = ScriptedModel(
            [call("cancel_pending_order", {"order_id": SMALL, "reason": "no longer needed"}), say("Cancelled.")]
        )
        app = create_app(service_settings(sqlite_url), model=model)
        async with app.router.lifespan_context(app):
            token = bearer(SMALL_OWNER)["Authorization"].removeprefix("Bearer ")
            api = AuthenticatedClient(
                base_url="http://service.test", token=token, httpx_args={"transport": httpx.ASGITransport(app=app)}
            )
            async with api:
                asked, summary, confirmation, resumed = await cancel_with_confirmation(api, f"cancel {SMALL}")
    finally:
        sys.path.remove(str(generated_client))
    assert asked == "awaiting_confirmation"
    assert SMALL in summary and "$53.27" in summary
    assert (confirmation, resumed) == ("executed", "completed")
    model.assert_done()
