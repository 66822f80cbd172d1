"""The tool registry: plain async functions, registered with a decorator, described by their type hints.

A tool is `async def name(ctx: ToolContext, args: SomeArgs) -> ...`. Its name is the function's name, its
description the docstring, and its argument schema the pydantic model in the `args` hint: that schema is what
the model is shown and what every call is validated against.

Read tools return the record. Write tools return a `Change`: what the write would do (the amount it moves, the
order it touches) plus an `apply` step. Planning only reads, so the policy engine can preview a write by calling
the tool and not applying it; the executor calls it again inside the write transaction and applies it. The
store's preconditions therefore live in exactly one place, the tool.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, get_type_hints

from pydantic import BaseModel, ValidationError

from tools.context import ToolContext
from tools.errors import InvalidArguments, UnknownTool


class Effect(StrEnum):
    READ = "read"
    WRITE = "write"
    MONEY = "money"


@dataclass(slots=True)
class Change:
    """A planned write. `amount_cents` is what the policy tiers look at; `refund_cents` counts toward refund limits."""

    apply: Callable[[], Awaitable[dict[str, Any]]]
    order_id: str | None = None
    amount_cents: int = 0
    refund_cents: int = 0
    summary: str = ""


ToolFunc = Callable[[ToolContext, Any], Awaitable[Any]]


NEUTRAL_LABEL = "Working on it"
"""The widget's words for a tool that has no label of its own, or for a name that is no tool."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    args_model: type[BaseModel]
    effect: Effect
    func: ToolFunc
    ends_run: bool = False
    input_schema: dict[str, Any] = field(default_factory=dict)
    label: str = NEUTRAL_LABEL
    """What the customer's widget shows while the tool runs: plain words, never the tool's name."""

    @property
    def writes(self) -> bool:
        return self.effect is not Effect.READ

    def parse(self, arguments: object) -> BaseModel:
        """Validate raw arguments; a failure is an `InvalidArguments` the model can correct itself from."""
        if not isinstance(arguments, dict):
            raise InvalidArguments(f"{self.name} takes a JSON object of arguments")
        try:
            return self.args_model.model_validate(arguments)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in err["loc"]) or "(root)", "problem": err["msg"]}
                for err in exc.errors(include_url=False, include_input=False)
            ]
            raise InvalidArguments(f"invalid arguments for {self.name}", details={"problems": problems}) from exc

    def definition(self) -> dict[str, Any]:
        """The tool as a model API sees it: name, description, JSON schema of the input."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}


def _schema_for(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})
    return schema


class ToolRegistry:
    """An ordered set of tools. The order is stable so the tool list a model sees is byte-identical each turn."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}

    def tool(
        self, *, effect: Effect, ends_run: bool = False, label: str = NEUTRAL_LABEL
    ) -> Callable[[ToolFunc], ToolFunc]:
        def register(func: ToolFunc) -> ToolFunc:
            name = func.__name__
            if name in self._tools:
                raise ValueError(f"tool {name} is registered twice")
            if not inspect.iscoroutinefunction(func):
                raise TypeError(f"tool {name} must be an async function")
            hints = get_type_hints(func)
            args_model = hints.get("args")
            if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
                raise TypeError(f"tool {name} needs an `args` parameter annotated with a pydantic model")
            description = inspect.cleandoc(func.__doc__ or "").strip()
            if not description:
                raise ValueError(f"tool {name} needs a docstring: it is the description the model reads")
            self._tools[name] = ToolSpec(
                name=name,
                description=description,
                args_model=args_model,
                effect=effect,
                func=func,
                ends_run=ends_run,
                input_schema=_schema_for(args_model),
                label=label,
            )
            return func

        return register

    def get(self, name: str) -> ToolSpec:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownTool(f"there is no tool named {name!r}") from None

    def label_of(self, name: str) -> str:
        """The tool's label for the widget; a name that is no tool here (a model's invention) gets a neutral one."""
        spec = self._tools.get(name)
        return spec.label if spec is not None else NEUTRAL_LABEL

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def definitions(self) -> list[dict[str, Any]]:
        return [spec.definition() for spec in self]


registry = ToolRegistry()
"""The store's tools. Importing `tools` registers all of them."""
