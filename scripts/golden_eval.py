"""Run the golden conversations on both CI models and print the pass counts; `--write-baseline` records them.

    ./dev python scripts/golden_eval.py                   # pass counts and regressions against the baseline
    ./dev python scripts/golden_eval.py --write-baseline  # accept the current results as fixtures/evals/baseline.json

The two models are the ones CI uses (tests/evals/test_golden.py): the offline model, and the offline model's
answers served through a local fake of the Anthropic Messages API, so the SDK and adapter path runs on every case.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli.eval.golden import compare, load_baseline, run_golden, write_baseline
from cli.eval.harness import StoreTemplate
from testkit.eval_models import CI_MODELS, ci_target


async def main(write: bool) -> int:
    with tempfile.TemporaryDirectory() as directory:
        store = await StoreTemplate.build(Path(directory))
        reports = {}
        for key in CI_MODELS:
            with ci_target(key) as target:
                reports[key] = await run_golden(target, store=store)
    baseline = load_baseline()
    regressed = False
    for key, report in reports.items():
        print(f"{key} ({report.model}): {report.passed}/{len(report.results)} golden cases pass")
        comparison = compare(report, baseline, model_key=key)
        if comparison.regressions or comparison.fixed:
            print(comparison.explain())
        regressed = regressed or bool(comparison.regressions)
    if write:
        write_baseline(reports)
        print("baseline written")
        return 0
    return 1 if regressed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-baseline", action="store_true")
    raise SystemExit(asyncio.run(main(parser.parse_args().write_baseline)))
