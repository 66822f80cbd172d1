"""How long the offline model takes over the worst messages a customer can send, at the maximum message size.

    python benchmarks/offline_reading.py [--top 10]

Prints the slowest of its regular expressions (each on every pathological input of the test suite's pattern
check: long runs of whitespace, punctuation, digits and its own keywords), then the time of a whole decision
(reading the message and planning the reply) on each generic pathological message. Targets: every pattern
under 50 ms; a whole decision a few tens of milliseconds, linear in the message's length.
"""

from __future__ import annotations

import argparse
import time

from agent.models.base import Message, ModelRequest
from agent.models.offline.model import decide
from agent.models.offline.reading import patterns
from testkit.pathological_text import GENERIC, MAX_BYTES, cost_ms, keyword_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    worst = []
    for compiled in patterns.registered():
        cases = [*GENERIC.items(), *keyword_inputs(compiled)]
        spent, name = max((cost_ms(compiled, text), name) for name, text in cases)
        worst.append((spent, name, compiled.pattern))
    worst.sort(reverse=True)
    print(f"{len(worst)} patterns, each on its pathological inputs of {MAX_BYTES} bytes; the slowest:")
    for spent, name, source in worst[: args.top]:
        print(f"  {spent:7.2f} ms  on {name!r:42}  {source[:60]!r}")
    print("a whole decision (read the message, plan the reply):")
    for name, text in GENERIC.items():
        request = ModelRequest(system="", tools=[], messages=[Message.user_text(text)])
        started = time.perf_counter()
        decide(request)
        print(f"  {(time.perf_counter() - started) * 1000:7.2f} ms  {name}")


if __name__ == "__main__":
    main()
