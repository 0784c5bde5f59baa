"""A task's parameter schema, read from its signature.

Type-hinted keyword parameters (defaults, `Annotated[..., Field(...)]`, enums, dates) become a
Pydantic model with unknown keys forbidden. The API validates against it before enqueueing and
publishes its JSON Schema; the worker validates again, so a task always receives typed values.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model, field_validator

from background.processors.progress import Progress
from config.repository_factory import RepositoryFactory

# Parameters of these types are supplied by the toolbox at run time, never by the caller.
INJECTED_TYPES: tuple[type, ...] = (RepositoryFactory, Progress)


# Task arguments travel as JSON through the broker (orjson) and into the registry (jsonb):
# integers must fit in 64 bits and text cannot hold NUL characters.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _storable(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return INT_MIN <= value <= INT_MAX
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_storable(key) and _storable(item) for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return all(_storable(item) for item in value)
    return True


class TaskParams(BaseModel):
    """Base of every generated parameter model."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_as_json(cls, value: Any) -> Any:
        if not _storable(value):
            raise ValueError(f"integers must lie between {INT_MIN} and {INT_MAX}, and text cannot contain NUL")
        return value


def _hints(fun: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fun, include_extras=True)
    except Exception:  # noqa: BLE001 - an unresolvable hint falls back to the raw annotation
        return dict(getattr(fun, "__annotations__", {}))


def _base_type(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def split_parameters(fun: Callable[..., Any], *, bound: bool) -> tuple[dict[str, Any], dict[str, type]]:
    """(user parameters as pydantic field definitions, injected parameters by name and type)."""
    hints = _hints(fun)
    fields: dict[str, Any] = {}
    injected: dict[str, type] = {}
    params = list(inspect.signature(fun).parameters.values())
    if bound and params:
        params = params[1:]
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param.name, Any)
        base = _base_type(annotation)
        if isinstance(base, type) and issubclass(base, INJECTED_TYPES):
            injected[param.name] = base
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    return fields, injected


def caller_check(fun: Callable[..., Any], *, bound: bool) -> Callable[..., None]:
    """Celery's send-time argument check (`Task.__header__`) over the caller's parameters only.

    Celery builds its check from the raw signature (`celery.utils.functional.head_from_fun`),
    where injected parameters are required, so `apply_async`/`delay` and Beat would refuse every
    task that takes a RepositoryFactory or a Progress. This check knows only the caller's
    parameters, all keyword-only: the worker passes positional arguments straight to the function,
    where they would land on the injected ones. Values are validated by the worker (the params model).
    """
    fields, _ = split_parameters(fun, bound=bound)
    signature = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                          default=inspect.Parameter.empty if default is ... else default)
        for name, (_, default) in fields.items()
    ])
    name = getattr(fun, "__name__", "task")

    def check(*args: Any, **kwargs: Any) -> None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}(): {exc} (task parameters are keyword-only: {list(fields) or 'none'})") from None

    return check


def build_params_model(task_name: str, fun: Callable[..., Any], *, bound: bool) -> tuple[type[TaskParams], dict[str, type]]:
    """The parameter model of a task function and the names of its injected parameters."""
    fields, injected = split_parameters(fun, bound=bound)
    model_name = "".join(part.capitalize() for part in task_name.replace("-", "_").replace(".", "_").split("_")) + "Params"
    model = create_model(model_name, __base__=TaskParams, **fields)
    return model, injected


class ParameterTypeError(TypeError):
    """A task parameter whose type the API can neither validate from JSON nor publish as JSON Schema."""


def _type_name(annotation: Any) -> str:
    base = _base_type(annotation)
    return getattr(base, "__qualname__", None) or repr(base)


def check_parameter_types(fun: Callable[..., Any], *, bound: bool) -> None:
    """ParameterTypeError naming the first caller parameter whose type has no JSON Schema."""
    fields, _ = split_parameters(fun, bound=bound)
    for name, (annotation, _default) in fields.items():
        try:
            TypeAdapter(annotation).json_schema()
        except Exception as exc:  # noqa: BLE001 - pydantic raises several kinds for an unusable type
            raise ParameterTypeError(
                f"parameter {name!r} has type {_type_name(annotation)}, which has no JSON Schema: callers could "
                "not send it; use str, int, float, bool, Decimal, date, datetime, an Enum, a pydantic model, "
                "or a list or dict of those"
            ) from exc
