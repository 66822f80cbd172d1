"""What `support eval` does, apart from parsing its arguments (`cli.main`): choose the models, play the tasks,
print progress, write the report, compare it with a baseline, and choose the exit code."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from agent import (
    AnthropicModel,
    ConfigurationError,
    Credentials,
    Model,
    ModelHealth,
    RouteSpecs,
    Telemetry,
    build_model,
    build_simple_route,
    parse_routes,
)
from api.model_setup import claude_options
from api.prices import load_prices
from api.settings import Settings
from cli.eval.golden import golden_dataset
from cli.eval.golden_trials import play_golden
from cli.eval.harness import StoreTemplate, Target
from cli.eval.live import LiveRun
from evals.baseline import TOLERANCE, load_baseline, regressions
from evals.cases import GoldenDataset
from evals.cost_cap import CostCap
from evals.report import ANTHROPIC_API, TrialResult, build_report, write_report
from evals.tau2 import DEFAULT_TASKS, load_tasks

EXIT_OK = 0
EXIT_REGRESSION = 1
"""Worse than the baseline."""
EXIT_USAGE = 2
"""The evaluation could not start (argparse uses 2 for bad arguments too)."""
EXIT_CUT_SHORT = 3
"""The cost cap stopped the run before every trial was played; the report covers what was played."""
EXIT_INTERRUPTED = 130
"""Ctrl-C, as shells report it."""


class EvalSetupError(Exception):
    """The evaluation cannot start as asked (no key for the simulated customer, a baseline that cannot be read)."""


@dataclass(frozen=True, slots=True)
class EvalOptions:
    model: str
    tasks: str = "tau2-train"
    trials: int = 1
    concurrency: int = 4
    max_cost_usd: float | None = None
    baseline: Path | None = None
    out: Path = Path("eval-report")
    customer_model: str | None = None
    task_ids: tuple[str, ...] = ()
    tasks_file: Path = DEFAULT_TASKS
    routes: str | None = None
    """SUPPORT_MODEL_ROUTES for the service under test (each route's model built alone, see `target_for`)."""
    service_settings: Mapping[str, str] = field(default_factory=dict)
    """Settings the service under test gets besides its model, e.g. `SUPPORT_PROMPT_VERSION`."""
    compare: str | None = None
    """Two variants to evaluate side by side, e.g. `prompt=v1,prompt=v2` (`cli.eval.compare`)."""
    cases: tuple[Path, ...] = ()
    """Golden case files or folders to play instead of the packaged suite (the desk's reviewed cases)."""


def anthropic_model_id(spec: str) -> str | None:
    return spec.split(":", 1)[1] if spec.startswith("anthropic:") and spec.split(":", 1)[1] else None


def check_target(options: EvalOptions, settings: Settings) -> None:
    """A model that cannot be built stops the evaluation before anything is played."""
    for spec in models_of(options):
        if spec == "offline":
            continue
        if anthropic_model_id(spec) is None:
            raise EvalSetupError(f"a model under evaluation must be offline or anthropic:<model id>, not {spec!r}")
        if settings.anthropic_api_key is None:
            raise EvalSetupError("evaluating an Anthropic model needs ANTHROPIC_API_KEY")


def routes_of(options: EvalOptions) -> RouteSpecs:
    try:
        specs = parse_routes(options.routes or "")
    except ConfigurationError as error:
        raise EvalSetupError(str(error)) from error
    if any(len(links) > 1 for links in (specs.simple, specs.default) if links):
        raise EvalSetupError("an evaluation builds each route's model alone: name one model per route, without '+'")
    return specs


def models_of(options: EvalOptions) -> list[str]:
    """The model of each route under evaluation: `default` first (the `--model`, unless the routes name one)."""
    specs = routes_of(options)
    return [specs.default[0] if specs.default else options.model, *(specs.simple or ())]


def model_label(options: EvalOptions) -> str:
    """The models under evaluation, as the report names them: the default route's, and the simple route's."""
    default, *simple = models_of(options)
    return f"{default} (simple route: {simple[0]})" if simple else default


def target_for(options: EvalOptions, settings: Settings) -> Target:
    """The service under test. A Claude model is built here, alone, and handed to the service: the service's own
    chain would fall back to the offline model when Claude fails, and the report would score the offline
    model's answers as Claude's. With routes, each route's model is built alone the same way; the simple route's
    failures still move a turn to the default model, as in the service."""
    check_target(options, settings)
    default, *simple = models_of(options)
    credentials = Credentials(
        anthropic_api_key=settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None,
        anthropic_base_url=settings.anthropic_base_url,
        openai_api_key=None,
        timeout_s=settings.model_timeout_s,
        max_retries=settings.model_max_retries,
    )
    claude = claude_options(settings)  # the thinking and token settings, as the service gives every Claude link
    try:
        instance = None if default == "offline" else build_model(default, credentials, claude=claude)
        simple_instance: Model | None = None
        if simple:
            telemetry = Telemetry()
            make = partial(build_model, credentials=credentials, claude=claude)
            simple_instance = build_simple_route(simple, make, telemetry, ModelHealth(telemetry))
    except ConfigurationError as error:
        raise EvalSetupError(str(error)) from error
    return Target(
        model=default, instance=instance, simple_instance=simple_instance, settings=dict(options.service_settings)
    )


def customer_model_for(options: EvalOptions, settings: Settings) -> AnthropicModel:
    """The simulated customer's model: `--customer-model`, else the model under test when it is Claude, else
    the service's default Claude model. It always needs a key: without one, only golden cases can run."""
    spec = options.customer_model or (options.model if options.model != "offline" else None)
    model_id = anthropic_model_id(spec) if spec else settings.anthropic_default_model
    if model_id is None:
        raise EvalSetupError(f"--customer-model must be anthropic:<model id>, not {spec!r}")
    if settings.anthropic_api_key is None:
        raise EvalSetupError(
            "the tau2 tasks need a model to play the customer: set ANTHROPIC_API_KEY "
            "(and ANTHROPIC_BASE_URL for a local stand-in), or run --tasks golden"
        )
    return AnthropicModel(
        model_id,
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        max_retries=settings.model_max_retries,
        timeout_s=settings.model_timeout_s,
    )


class ProgressLine:
    """One line per finished trial, with the running totals."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream = total, stream
        self.done = self.passed = 0
        self.spent = 0.0

    def __call__(self, result: TrialResult) -> None:
        self.done += 1
        self.passed += result.passed
        self.spent += result.cost_usd
        verdict = "PASS" if result.passed else result.status.upper() if result.status != "finished" else "FAIL"
        print(
            f"[{self.done}/{self.total}] task {result.task_id} trial {result.trial}: {verdict} "
            f"${result.cost_usd:.4f} | passed {self.passed}/{self.done}, spent ${self.spent:.4f}",
            file=self.stream,
            flush=True,
        )


async def evaluate(
    options: EvalOptions, settings: Settings, stream: TextIO, cap: CostCap | None = None
) -> dict[str, Any]:
    """Everything that can be refused (the model, the key, the task ids) is checked before the store is built.
    `cap`: a cost cap shared with other evaluations (`cli.eval.compare`); by default one of this evaluation's own."""
    check_target(options, settings)
    cap = cap or CostCap(options.max_cost_usd)
    new_target = partial(target_for, options, settings)
    if options.cases and options.tasks != "golden":
        raise EvalSetupError("--cases names golden cases: use it with --tasks golden")
    if options.tasks == "golden":
        dataset = golden_dataset(cases=list(options.cases) or None)
        picked = chosen(options, {case.name or "" for case in dataset.cases})
        dataset = GoldenDataset(
            name=dataset.name, cases=[c for c in dataset.cases if c.name in picked], evaluators=dataset.evaluators
        )
        with tempfile.TemporaryDirectory(prefix="support-eval-") as scratch:
            store = await StoreTemplate.build(Path(scratch))
            progress = ProgressLine(len(dataset.cases) * options.trials, stream)
            results = await play_golden(
                new_target,
                store,
                cap,
                trials=options.trials,
                concurrency=options.concurrency,
                progress=progress,
                dataset=dataset,
            )
    elif options.tasks == "tau2-train":
        tasks = load_tasks(options.tasks_file)
        picked = chosen(options, {task.id for task in tasks})
        tasks = [task for task in tasks if task.id in picked]
        customer = customer_model_for(options, settings)
        try:
            with tempfile.TemporaryDirectory(prefix="support-eval-") as scratch:
                store = await StoreTemplate.build(Path(scratch))
                run = LiveRun(new_target, customer, load_prices(settings), store, cap, concurrency=options.concurrency)
                results = await run.play_all(tasks, options.trials, ProgressLine(len(tasks) * options.trials, stream))
        finally:
            await customer.close()
    else:
        raise EvalSetupError(f"unknown task set {options.tasks!r}: use tau2-train or golden")
    return build_report(
        results,
        model=model_label(options),
        tasks=options.tasks,
        trials=options.trials,
        max_cost_usd=options.max_cost_usd,
        cut_short=any(r.status == "cut_short" for r in results),
        model_api=None if set(models_of(options)) == {"offline"} else settings.anthropic_base_url or ANTHROPIC_API,
    )


def chosen(options: EvalOptions, known: set[str]) -> set[str]:
    """The task (or case) ids `--task` picked, all of them without it; an unknown id stops the run."""
    if not options.task_ids:
        return known
    if unknown := sorted(set(options.task_ids) - known):
        raise EvalSetupError(f"no task has the id(s) {', '.join(unknown)}")
    return set(options.task_ids)


def run_eval(options: EvalOptions, settings: Settings | None = None, stream: TextIO | None = None) -> int:
    """Run the evaluation and return the exit code; the report is written even when the run was cut short.
    (Two variants side by side, `--compare`, are `cli.eval.compare.run_compare`'s.)
    Progress and the verdict go to `stream` (standard error), so standard output stays free for a pipe."""
    settings = settings or Settings()
    stream = stream or sys.stderr
    try:
        baseline = load_baseline(options.baseline, options.tasks) if options.baseline else None
        report = asyncio.run(evaluate(options, settings, stream))
    except (EvalSetupError, OSError, ValueError) as error:
        print(f"support eval: {error}", file=stream)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("support eval: interrupted; no report written", file=stream)
        return EXIT_INTERRUPTED
    as_json, as_html = write_report(report, options.out)
    totals = report["totals"]
    passes = ", ".join(f"pass^{k} {v:.3f}" for k, v in totals["pass_hat_k"].items())
    print(f"{passes}; cost ${totals['cost_usd']:.4f}; report: {as_json} and {as_html}", file=stream)
    code = EXIT_OK
    if report["cut_short"]:
        print(f"cut short: the cost cap of ${options.max_cost_usd} was reached before every trial ran", file=stream)
        code = EXIT_CUT_SHORT
    if baseline is not None:
        worse = regressions(report, baseline)
        for line in worse:
            print(f"regression: {line}", file=stream)
        if worse:
            return EXIT_REGRESSION
        print(f"no regression against {options.baseline} (tolerance {TOLERANCE:.2f})", file=stream)
    return code
