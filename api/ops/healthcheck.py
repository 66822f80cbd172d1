"""The image's HEALTHCHECK: `python -m api.ops.healthcheck` exits 0 when `/readyz` answers 200 where the server listens.

It reads the same `HOST` and `PORT` as `support serve`. A wildcard address is reached through loopback: `0.0.0.0`
at 127.0.0.1, `::` at 127.0.0.1 and then ::1 (a dual-stack socket takes IPv4 too, and a container whose network
has IPv6 switched off has no ::1 at all). It imports only the standard library: the engine runs it every
interval, and importing the service would cost more than the check.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 2.0
"""Under the HEALTHCHECK's --timeout (3 s), so a hung server is reported as unhealthy, not as a timed-out check."""
WILDCARDS = {
    "0.0.0.0": ["127.0.0.1"],  # noqa: S104 - an address the server may listen on, not one this binds
    "": ["127.0.0.1"],
    "::": ["127.0.0.1", "::1"],
    "[::]": ["127.0.0.1", "::1"],
}


def addresses(host: str) -> list[str]:
    return WILDCARDS.get(host.strip(), [host.strip().strip("[]")])


def url(address: str, port: str) -> str:
    return f"http://[{address}]:{port}/readyz" if ":" in address else f"http://{address}:{port}/readyz"


def ready(host: str, port: str) -> bool:
    for address in addresses(host):
        try:
            with urllib.request.urlopen(url(address, port), timeout=TIMEOUT_S) as answer:  # noqa: S310 - http only
                return bool(answer.status == 200)
        except urllib.error.HTTPError:
            return False  # the server answered: not ready
        except OSError:
            continue  # nothing listening on this address: try the next
    return False


def main() -> None:
    sys.exit(0 if ready(os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")) else 1)


if __name__ == "__main__":
    main()
