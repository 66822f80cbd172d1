"""The `support` command: serve, migrate, seed, token, chat, kb, eval; the staff commands of `cli.staff`, and
`support insights` (`cli.insights`)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import socket
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from api.errors import ConfigurationError
from api.identity import mint_token
from api.service_url import DEFAULT_HOST, DEFAULT_PORT, listen_host, listen_port
from api.settings import Settings
from cli import insights as insights_cli
from cli import kb as kb_cli
from cli import staff as staff_cli
from cli.staff import add_url_option, url_of


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from agent import ConfigurationError as SettingRefused
    from api.identity import check_identity_settings
    from api.model_setup import check_route_models, load_prompt_versions
    from api.ops.capacity import plan_workers
    from api.ops.logs import configure_logging, logging_config
    from api.ops.worker_pool import BALANCES_CONNECTIONS, WorkerPool, serve_worker
    from api.prices import load_prices

    settings = Settings()
    configure_logging(settings.log_format)
    try:
        # Settings that would fail the start-up, and a port that is taken, are reported before the database is
        # touched: a second `support serve` must not migrate or seed anything on its way to failing.
        check_identity_settings(settings)
        load_prices(settings)
        load_prompt_versions(settings)
        check_route_models(settings)
        workers = plan_workers(
            args.workers, sqlite=settings.database_url.startswith("sqlite"), connections=settings.connection_budget()
        )
        ensure_port_free(args.host, args.port)
    except (ConfigurationError, SettingRefused) as error:
        sys.exit(f"support serve: {error}")
    options: dict[str, Any] = {
        "app": "api.ops.serving:create_served_app",
        "factory": True,
        "host": args.host,
        "port": args.port,
        "log_level": "info",
        "log_config": logging_config(settings.log_format),  # applied again in each worker process
        "access_log": False,  # `api.ops.logs` writes the access log, inside each request's trace
        "proxy_headers": True,
        "timeout_graceful_shutdown": DRAIN_S,
        "timeout_keep_alive": KEEP_ALIVE_S,
    }
    if workers == 1:
        serve_worker(options, share_port=False)  # on a socket of its own making: `::` serves IPv4 too
        return
    if BALANCES_CONNECTIONS:
        WorkerPool(options, workers).run()  # a socket per worker: connections spread evenly (`api/ops/worker_pool.py`)
        return
    uvicorn.run(
        **options,
        workers=workers,
        # uvicorn's default of 5 s takes a worker still importing and migrating on a busy machine for a hung one,
        # kills it and starts another, which is just as slow: a restart loop that never serves
        timeout_worker_healthcheck=WORKER_STARTUP_S,
    )


DRAIN_S = 30
"""How long a stopping server lets requests in flight finish; compose's stop_grace_period must be longer."""
KEEP_ALIVE_S = 75
"""How long an idle client connection stays open. uvicorn's default (5 s) is shorter than the idle timeout of the
load balancers and client pools in front of it (60 s is common): a request sent on a connection just as the server
closes it fails with a reset, not an HTTP error (seen as a `ReadError` in `benchmarks/throughput.py` at 200
conversations). A server's keep-alive should outlast its clients'."""
WORKER_STARTUP_S = 60
"""Where uvicorn's supervisor runs the workers (one worker, or several off Linux): how long it waits for a worker to
answer its ping before killing it. Its default (5 s) is shorter than a worker's start on a busy machine (the
spawned process imports the whole service before it can answer), so with several workers on a loaded host every
worker was killed while starting, forever."""


def ensure_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # as uvicorn binds: SO_REUSEADDR ignores connections in TIME_WAIT but not another listener
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigurationError(
                f"cannot listen on {host}:{port} ({error.strerror}); is another server running there? "
                "Choose another port with --port N or PORT=N."
            ) from None


def migrate_command(_: argparse.Namespace) -> None:
    from api import migrate
    from basics.database import Database

    async def run() -> None:
        database = Database(Settings().database_url)
        try:
            await migrate.upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(run())
    print("schema at the current revision")


def seed(_: argparse.Namespace) -> None:
    from api.services import prepare_database
    from basics.database import Database

    async def run() -> None:
        database = Database(Settings().database_url)
        try:
            await prepare_database(database, seed=True)
        finally:
            await database.dispose()

    asyncio.run(run())
    print("store ready")


def token(args: argparse.Namespace) -> None:
    settings = Settings()
    try:
        minted = mint_token(
            settings.jwt_secret.get_secret_value(), args.subject, args.role, timedelta(minutes=args.minutes)
        )
    except ValueError as error:  # a subject the service would refuse: say so instead of minting a useless token
        sys.exit(f"support token: {error}")
    print(minted)


def chat(args: argparse.Namespace) -> None:
    """A terminal chat against a running server, as the customer named on the command line."""
    from cli.chat import ChatFailed, run_chat

    settings = Settings()
    bearer = args.token or mint_token(
        settings.jwt_secret.get_secret_value(), args.customer, "customer", timedelta(hours=8)
    )
    try:
        run_chat(url_of(args), bearer, args.customer, args.poll_seconds)
    except ChatFailed as error:
        sys.exit(f"support chat: {error}")
    except KeyboardInterrupt:
        print()


def openapi(args: argparse.Namespace) -> None:
    from api.openapi import COMMITTED_SPEC, current_spec, render

    text = render(current_spec())
    if args.write is None:
        sys.stdout.write(text)
        return
    target = Path(args.write)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}" + ("" if target == COMMITTED_SPEC else f" (the committed spec is {COMMITTED_SPEC})"))


def prompts(_: argparse.Namespace) -> None:
    """The prompt versions on offer: each one's id, and which is live, newest, on canary, and released."""
    from agent import ConfigurationError as SettingRefused
    from agent import PromptVersions, released_ids
    from tools import registry

    settings = Settings()
    try:
        offered = PromptVersions.load(
            registry, directory=settings.prompts_dir, live=settings.prompt_version, canary=settings.prompt_canary
        )
    except SettingRefused as error:
        sys.exit(f"support prompts: {error}")
    released = released_ids(settings.prompts_dir)
    for version in offered.versions.values():
        marks = [
            *(["live"] if version is offered.live else []),
            *(
                [f"canary {offered.canary.share_percent:g}%"]
                if offered.canary and version is offered.canary.version
                else []
            ),
            *(["newest"] if version is offered.newest else []),
            "released" if released.get(version.name) == version.id else "not released",
        ]
        print(f"{version.name:<12} {version.id}  {', '.join(marks)}")


EVALS_EXTRA_MISSING = (
    "support eval: the evaluation is an optional extra; install it with pip install 'support-agent[evals]' "
    "(for the image: docker build --build-arg EXTRAS=evals .)"
)
EXIT_EVAL_CANNOT_START = 2
"""`support eval`'s code for an evaluation that could not start (`cli.eval.command.EXIT_USAGE`)."""


def evaluate(args: argparse.Namespace) -> None:
    """A live evaluation (see `cli.eval.command`); its exit code tells a regression from a run cut short."""
    if importlib.util.find_spec("pydantic_evals") is None:  # the extra's dependencies are not installed
        print(EVALS_EXTRA_MISSING, file=sys.stderr)
        sys.exit(EXIT_EVAL_CANNOT_START)

    from cli.eval.command import EvalOptions, run_eval
    from cli.eval.compare import run_compare

    options = EvalOptions(
        model=args.model,
        tasks=args.tasks,
        trials=args.trials,
        concurrency=args.concurrency,
        max_cost_usd=args.max_cost_usd,
        baseline=Path(args.baseline) if args.baseline else None,
        out=Path(args.out),
        customer_model=args.customer_model,
        task_ids=tuple(args.task or ()),
        compare=args.compare,
        cases=tuple(Path(path) for path in args.cases or ()),
    )
    if options.compare is not None:
        sys.exit(run_compare(options, Settings(), sys.stderr))
    sys.exit(run_eval(options))


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def positive_usd(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="support", description="Customer-support agent service")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="run the HTTP service (Ctrl-C or SIGTERM stops it, after a drain)")
    p.add_argument("--host", default=listen_host(), help=f"address to listen on (HOST; {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=listen_port(), help=f"port to listen on (PORT; {DEFAULT_PORT})")
    p.add_argument(
        "--workers",
        type=int,
        default=os.environ.get("SUPPORT_WORKERS", "0"),  # a string: argparse converts it, and reports a bad one
        help="worker processes (SUPPORT_WORKERS). Default: one per CPU this process may use (affinity mask and "
        "cgroup quota) on PostgreSQL, as many as fit SUPPORT_DB_MAX_CONNECTIONS; 1 on SQLite, which takes one "
        "writer at a time, so more workers would only wait on the database file",
    )
    p.set_defaults(func=serve)

    p = commands.add_parser("migrate", help="bring the database schema to the current revision, then exit")
    p.set_defaults(func=migrate_command)

    p = commands.add_parser("seed", help="create the schema and load the store's fixture data")
    p.set_defaults(func=seed)

    p = commands.add_parser("token", help="mint a development JWT (uses SUPPORT_JWT_SECRET)")
    p.add_argument("subject", help="customer user_id (e.g. james_li_5688) or a staff id")
    p.add_argument("--role", default="customer", choices=["customer", "agent", "supervisor"])
    p.add_argument("--minutes", type=int, default=60)
    p.set_defaults(func=token)

    p = commands.add_parser("chat", help="chat with a running server from the terminal")
    p.add_argument("--customer", default="james_li_5688")
    add_url_option(p)
    p.add_argument("--token", help="use this token instead of minting one")
    p.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for replies that come later")
    p.set_defaults(func=chat)

    p = commands.add_parser("openapi", help="print the HTTP API's OpenAPI document, or write it with --write")
    p.add_argument(
        "--write",
        nargs="?",
        const="docs/openapi.json",
        metavar="PATH",
        help="write it to PATH (default docs/openapi.json, the committed copy the tests compare with)",
    )
    p.set_defaults(func=openapi)
    p = commands.add_parser(
        "prompts",
        help="list the prompt versions (SUPPORT_PROMPTS_DIR, or the packaged ones) with their ids, and which is live "
        "(SUPPORT_PROMPT_VERSION) and on canary (SUPPORT_PROMPT_CANARY)",
    )
    p.set_defaults(func=prompts)
    p = commands.add_parser(
        "eval",
        help="evaluate the agent on the tau2 tasks (simulated customer) or the golden cases; writes report.json/.html",
        description="Exit codes: 0 done, 1 worse than --baseline (or, with --compare, the candidate fails a case the "
        "current version passed), 2 could not start, 3 cut short by --max-cost-usd.",
    )
    p.add_argument("--model", required=True, help="offline or anthropic:<model id> (needs ANTHROPIC_API_KEY)")
    p.add_argument(
        "--tasks",
        default="tau2-train",
        choices=["tau2-train", "golden"],
        help="tau2-train: the 74 tau2 retail tasks with a simulated customer (needs ANTHROPIC_API_KEY); "
        "golden: the scripted golden conversations (no key needed with --model offline)",
    )
    p.add_argument("--task", action="append", help="play only this task id or golden case name (repeatable)")
    p.add_argument(
        "--cases",
        action="append",
        metavar="PATH",
        help="with --tasks golden: play the cases in this YAML file or folder instead of the packaged golden suite, "
        "e.g. the desk's SUPPORT_GOLDEN_CASES_DIR (repeatable)",
    )
    p.add_argument("--trials", type=positive_int, default=1, help="plays per task, for pass^k (default 1)")
    p.add_argument("--concurrency", type=positive_int, default=4, help="trials played at once (default 4)")
    p.add_argument("--max-cost-usd", type=positive_usd, help="stop starting trials once this much is spent")
    p.add_argument("--baseline", help="a previous report.json: exit 1 when this run is worse")
    p.add_argument("--out", default="eval-report", help="folder for report.json and report.html")
    p.add_argument("--customer-model", help="anthropic:<model id> playing the customer (default: the one tested)")
    p.add_argument(
        "--compare",
        metavar="CURRENT,CANDIDATE",
        help="evaluate two variants side by side, the current one first: prompt=<version> (SUPPORT_PROMPT_VERSION), "
        "model=<model>, or routes=<SUPPORT_MODEL_ROUTES or off>, e.g. prompt=v1,prompt=v2 or "
        "routes=off,routes=simple=anthropic:claude-haiku-4-5; --model is the rest of the service under test",
    )
    p.set_defaults(func=evaluate)

    staff_cli.register(commands)
    insights_cli.register(commands)
    kb_cli.add_commands(commands)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
