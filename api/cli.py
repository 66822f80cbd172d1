"""The `support` command: serve, seed, token, chat, kb."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import timedelta

import httpx

from api import kb_cli
from api.auth import mint_token
from api.settings import Settings


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from api.app import configure_logging

    configure_logging()
    uvicorn.run(
        "api.app:create_app", factory=True, host=args.host, port=args.port, log_level="info", proxy_headers=True
    )


def seed(_: argparse.Namespace) -> None:
    from api.services import prepare_database
    from tools.store.database import Database

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
    print(mint_token(settings.jwt_secret.get_secret_value(), args.subject, args.role, timedelta(minutes=args.minutes)))


def chat(args: argparse.Namespace) -> None:
    """A terminal chat against a running server, as the customer named on the command line."""
    settings = Settings()
    bearer = args.token or mint_token(
        settings.jwt_secret.get_secret_value(), args.customer, "customer", timedelta(hours=8)
    )
    headers = {"Authorization": f"Bearer {bearer}"}
    with httpx.Client(base_url=args.url, headers=headers, timeout=120) as client:
        created = client.post("/v1/conversations")
        if created.status_code != 201:
            sys.exit(f"could not start a conversation: {created.status_code} {created.text}")
        conversation = created.json()["id"]
        print(f"conversation {conversation} as {args.customer}. Empty line or Ctrl-D to quit.")
        while True:
            try:
                line = input("you> ").strip()
            except EOFError:
                break
            if not line:
                break
            answer = client.post(
                f"/v1/conversations/{conversation}/messages",
                json={"content": line},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            if answer.status_code != 200:
                print(f"[{answer.status_code}] {answer.json().get('error', {}).get('message', answer.text)}")
                continue
            run = answer.json()["run"]
            print(f"support> {run['reply']}")
            if run["status"] != "completed":
                print(f"         [{run['status']}]")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="support", description="Customer-support agent service")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="run the HTTP service")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=serve)

    p = commands.add_parser("seed", help="create the schema and load the store's fixture data")
    p.set_defaults(func=seed)

    p = commands.add_parser("token", help="mint a development JWT (uses SUPPORT_JWT_SECRET)")
    p.add_argument("subject", help="customer user_id (e.g. james_li_5688) or a staff id")
    p.add_argument("--role", default="customer", choices=["customer", "agent", "supervisor"])
    p.add_argument("--minutes", type=int, default=60)
    p.set_defaults(func=token)

    p = commands.add_parser("chat", help="chat with a running server from the terminal")
    p.add_argument("--customer", default="james_li_5688")
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--token", help="use this token instead of minting one")
    p.set_defaults(func=chat)

    kb_cli.add_commands(commands)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
