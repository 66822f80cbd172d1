"""What model routing costs on the golden cases: every case with routing off, then on, through the fake Messages API.

The figures are prices (`agent/limits/prices.toml`) times the token counts the fake reports: they measure the routing,
not any model's answers. What answers is the offline model's rules behind the fake Messages API
(`testkit.fakes.offline_brain`), so both sides give the same answers and pass the same cases; what differs is which
model id each call names, and so its price and its prompt cache. Three scenarios:

* the issue's pair, Claude Haiku 4.5 for `simple` and Claude Sonnet 4.6 for `default`, with the tokens the fake's
  brain counts (system prompt and conversation, 4 characters a token; no prompt cache);
* the same pair with the fake's prompt-cache accounting (`testkit.fakes.prompt_cache`: caches per model, and nothing
  cached under a model's minimum, 4096 tokens on Haiku 4.5, 1024 on Sonnet 4.6; the service's prefix, tools and
  system prompt, is about 3,000 tokens);
* Haiku 4.5 with Claude Opus 4.6 for `default` (minimum 4096 too: neither caches the prefix), with the cache.

    python benchmarks/routing_cost.py            # all three
    python benchmarks/routing_cost.py --quick    # the first only

Exits non-zero when routing changes a case's outcome, or when it does not cost less in the first scenario.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.settings import Settings
from cli.eval.command import EvalOptions, run_eval
from testkit.fakes.offline_brain import OfflineBrainAPI


@dataclass(frozen=True)
class Scenario:
    simple: str
    default: str
    prompt_cache: bool

    @property
    def name(self) -> str:
        cache = "prompt cache modelled" if self.prompt_cache else "no prompt cache"
        return f"simple {self.simple}, default {self.default}, {cache}"


SCENARIOS = (
    Scenario("claude-haiku-4-5", "claude-sonnet-4-6", prompt_cache=False),
    Scenario("claude-haiku-4-5", "claude-sonnet-4-6", prompt_cache=True),
    Scenario("claude-haiku-4-5", "claude-opus-4-6", prompt_cache=True),
)


def compare(scenario: Scenario, out: Path) -> dict[str, object]:
    """`support eval --tasks golden --compare routes=off,routes=simple=...` against a fresh fake."""
    with OfflineBrainAPI(prompt_cache=scenario.prompt_cache) as api:
        os.environ.update(
            {"ANTHROPIC_API_KEY": "benchmark", "ANTHROPIC_BASE_URL": api.base_url, "SUPPORT_MODEL_MAX_RETRIES": "0"}
        )
        options = EvalOptions(
            model=f"anthropic:{scenario.default}",
            tasks="golden",
            out=out,
            compare=f"routes=off,routes=simple=anthropic:{scenario.simple}",
        )
        code = run_eval(options, Settings(), io.StringIO())
        api.assert_done()
    report: dict[str, object] = json.loads((out / "report.json").read_text())
    report["exit_code"] = code
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the first scenario only")
    scenarios = SCENARIOS[:1] if parser.parse_args().quick else SCENARIOS
    failed = False
    with tempfile.TemporaryDirectory() as directory:
        for index, scenario in enumerate(scenarios):
            report = compare(scenario, Path(directory) / str(index))
            off, on = report["current"], report["candidate"]
            assert isinstance(off, dict) and isinstance(on, dict)
            change = (on["agent_cost_usd"] - off["agent_cost_usd"]) / off["agent_cost_usd"]
            print(f"{scenario.name}:")
            print(
                f"  routing off ${off['agent_cost_usd']:.4f}, on ${on['agent_cost_usd']:.4f} ({change:+.1%}); "
                f"cases passed {off['passed']}/{off['tasks']} and {on['passed']}/{on['tasks']}; "
                f"runs on simple {on['simple_runs']}/{on['runs']}, moved to default {on['escalated_runs']}; "
                f"changed cases {len(report['changed'])}"  # type: ignore[arg-type]
            )
            failed = failed or bool(report["changed"]) or report["exit_code"] != 0
            if index == 0 and change >= 0:
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
