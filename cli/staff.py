"""`support approvals ...`, `support handoffs ...` and `support desk-link`: the desk's work for operators without a
browser. The first two talk HTTP to a running service with a staff token, exactly as the desk's API users do;
errors are printed as the API's code and message, with exit status 1."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from urllib.parse import quote

import httpx

from agent import ANY_OPEN, ApprovalStatus, HandoffFilterName
from api.auth import mint_token
from api.desk.session import mint_link_token
from api.service_url import BadServiceAddress, service_url
from api.settings import Settings


def add_url_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", help="the service (default: SUPPORT_URL, else http://HOST:PORT as `support serve` listens)"
    )


def url_of(args: argparse.Namespace) -> str:
    """`--url`, else where `support serve` would listen in this environment (`api.service_url`)."""
    if args.url:
        return str(args.url).rstrip("/")
    try:
        return service_url()
    except BadServiceAddress as error:
        sys.exit(f"support {args.command}: {error}")


def client(args: argparse.Namespace) -> httpx.Client:
    token = args.token or os.environ.get("SUPPORT_TOKEN")
    if not token:  # development: mint one with the service's secret
        token = mint_token(Settings().jwt_secret.get_secret_value(), args.staff, args.role, timedelta(minutes=10))
    return httpx.Client(base_url=url_of(args), headers={"Authorization": f"Bearer {token}"}, timeout=120)


def call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    with client(args) as http:
        try:
            response = http.request(method, path, json=body)
        except httpx.TransportError as error:
            sys.exit(f"cannot reach the service at {http.base_url}: {error}")
    if response.status_code >= 400:
        try:
            problem = response.json()["error"]
            detail = f"{problem['code']}: {problem['message']}"
        except (ValueError, KeyError, TypeError):
            detail = response.text
        sys.exit(f"error {response.status_code} {detail}")
    return response.json()


def time_left(expires_at: str) -> str:
    seconds = int((datetime.fromisoformat(expires_at) - datetime.now(UTC)).total_seconds())
    return "expired" if seconds <= 0 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def approvals_list(args: argparse.Namespace) -> None:
    query = f"/v1/approvals?status={args.status}" + ("&decidable=true" if args.mine else "")
    for a in call(args, "GET", query):
        print(
            f"{a['id']}  {a['status']:<8}  {a['tool']:<30}  ${a['amount']:>9,.2f}  {a['customer_id']:<24}  "
            f"{a['approver_role']:<10}  {time_left(a['expires_at'])}"
        )


def approvals_show(args: argparse.Namespace) -> None:
    print(json.dumps(call(args, "GET", f"/v1/approvals/{quote(args.id)}"), indent=2, ensure_ascii=False))


def approvals_approve(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {"note": args.note}
    if args.amount is not None:
        held = call(args, "GET", f"/v1/approvals/{quote(args.id)}")
        body["arguments"] = {**held["arguments"], "amount": args.amount}
    settled(call(args, "POST", f"/v1/approvals/{quote(args.id)}/approve", body))


def approvals_reject(args: argparse.Namespace) -> None:
    settled(call(args, "POST", f"/v1/approvals/{quote(args.id)}/reject", {"note": args.note}))


def settled(result: dict[str, Any]) -> None:
    approval, run = result["approval"], result["run"]
    print(f"{approval['id']} {approval['status']}")
    if run:
        print(f"reply to the customer: {run['reply']}")


def handoffs_list(args: argparse.Namespace) -> None:
    for h in call(args, "GET", f"/v1/handoffs?status={args.status}"):
        owner = f" by {h['claimed_by']}" if h["claimed_by"] else ""
        print(f"{h['id']}  {h['status']}{owner}  {h['customer_id']}  {h['created_at']}  {h['summary']}")


def handoffs_claim(args: argparse.Namespace) -> None:
    print(f"{call(args, 'POST', f'/v1/handoffs/{quote(args.id)}/claim')['id']} claimed")


def handoffs_reply(args: argparse.Namespace) -> None:
    sent = call(args, "POST", f"/v1/handoffs/{quote(args.id)}/messages", {"content": args.message})
    print(f"sent at {sent['message']['created_at']}")


def handoffs_close(args: argparse.Namespace) -> None:
    closed = call(args, "POST", f"/v1/handoffs/{quote(args.id)}/close", {"outcome": args.outcome})
    print(f"{closed['id']} closed ({closed['outcome']})")


def desk_link(args: argparse.Namespace) -> None:
    """A one-time sign-in link for development: 15 minutes, one use."""
    token = mint_link_token(Settings().jwt_secret.get_secret_value(), args.staff_id, args.role)
    print(f"{url_of(args)}/desk/sign-in/link?token={token}")


def _staff_options(parser: argparse.ArgumentParser) -> None:
    add_url_option(parser)
    parser.add_argument("--token", help="a staff JWT (or SUPPORT_TOKEN); without one, a dev token is minted")
    parser.add_argument("--as", dest="staff", default="operator", help="staff id for a minted dev token")
    parser.add_argument("--role", default="agent", choices=["agent", "supervisor"])


def register(commands: Any) -> None:
    """Add the staff commands to the `support` parser's subcommands."""
    p = commands.add_parser("desk-link", help="print a one-time desk sign-in link (development)")
    p.add_argument("staff_id")
    p.add_argument("--role", default="agent", choices=["agent", "supervisor"])
    add_url_option(p)
    p.set_defaults(func=desk_link)

    approvals = commands.add_parser("approvals", help="list, show and decide held actions").add_subparsers(
        dest="action", required=True
    )
    p = approvals.add_parser("list", help="the queue, oldest first")
    p.add_argument("--status", default=ApprovalStatus.PENDING.value)
    p.add_argument("--mine", action="store_true", help="only what my role may decide")
    p.set_defaults(func=approvals_list)
    p = approvals.add_parser("show", help="one approval with its context, as JSON")
    p.add_argument("id")
    p.set_defaults(func=approvals_show)
    p = approvals.add_parser("approve", help="approve, optionally with a smaller amount")
    p.add_argument("id")
    p.add_argument("--note", default="")
    p.add_argument("--amount", type=float, help="amend the amount (tools that take one)")
    p.set_defaults(func=approvals_approve)
    p = approvals.add_parser("reject", help="reject with a note the customer is told")
    p.add_argument("id")
    p.add_argument("--note", required=True)
    p.set_defaults(func=approvals_reject)

    handoffs = commands.add_parser("handoffs", help="answer conversations handed to the team").add_subparsers(
        dest="action", required=True
    )
    p = handoffs.add_parser("list", help="open hand-offs, oldest first")
    p.add_argument("--status", default=ANY_OPEN, choices=get_args(HandoffFilterName))
    p.set_defaults(func=handoffs_list)
    p = handoffs.add_parser("claim", help="take a hand-off")
    p.add_argument("id")
    p.set_defaults(func=handoffs_claim)
    p = handoffs.add_parser("reply", help="write to the customer")
    p.add_argument("id")
    p.add_argument("message")
    p.set_defaults(func=handoffs_reply)
    p = handoffs.add_parser("close", help="close: back to the assistant (bot) or resolved")
    p.add_argument("id")
    p.add_argument("--outcome", required=True, choices=["bot", "resolved"])
    p.set_defaults(func=handoffs_close)

    for sub in (approvals, handoffs):
        for parser in sub.choices.values():
            _staff_options(parser)
