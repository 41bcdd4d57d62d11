"""model=custom: the user's own builder, `model.builder=package.module:function`.

The function is called with the keyword arguments num_words, maxlen and every other
key under `model.` (but family and builder), and returns an uncompiled keras.Model
from (batch, maxlen) integer word ids to (batch, 1) probabilities. `builder_problems`
checks all of that before any run exists: the import, the signature against the keys
given, and one model built and its input and output checked."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Keys of the model group that are ours, not the builder's arguments.
OUR_KEYS = ("family", "builder")
# The arguments every builder gets, whatever the user's keys.
GIVEN_ARGUMENTS = ("num_words", "maxlen")


def builder_arguments(model_config: Any) -> dict[str, Any]:
    """The user's own keys under `model.`, as plain Python values."""
    values = OmegaConf.to_container(model_config, resolve=True) if isinstance(model_config, DictConfig) \
        else dict(model_config)
    assert isinstance(values, Mapping)
    return {str(key): value for key, value in values.items() if key not in OUR_KEYS}


def import_builder(builder: str) -> Callable[..., Any]:
    """`package.module:function` -> the function; ImportError/AttributeError/TypeError say why not."""
    module_name, _, function_name = builder.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    if not callable(function):
        raise TypeError(f"{function_name} in {module_name} is a {type(function).__name__}, not a function")
    return function


def signature_problem(function: Callable[..., Any], arguments: list[str]) -> str | None:
    """Why `function` cannot be called with these keyword arguments, or None."""
    parameters = inspect.signature(function).parameters.values()
    takes_any = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)
    by_keyword = {parameter.name for parameter in parameters
                  if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    required = [parameter.name for parameter in parameters if parameter.default is inspect.Parameter.empty
                and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    unexpected = [] if takes_any else [name for name in arguments if name not in by_keyword]
    missing = [name for name in required if name not in arguments]
    reasons = []
    if unexpected:
        reasons.append("it takes no argument " + ", ".join(unexpected)
                       + " (each key under model. is passed to it by name)")
    if missing:
        reasons.append("it needs " + ", ".join(missing) + " and no key model." + "/model.".join(missing) + " is set")
    return "; ".join(reasons) or None


def shape_problem(model: Any, maxlen: int) -> str | None:
    """Why `model` is not one from (None, maxlen) integer ids to (None, 1), or None."""
    import keras

    if not isinstance(model, keras.Model):
        return f"it returned a {type(model).__name__}, not a keras.Model"
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return f"its model has {len(model.inputs)} input(s) and {len(model.outputs)} output(s), not one each"
    (model_input,), (model_output,) = model.inputs, model.outputs
    reasons = []
    if tuple(model_input.shape) != (None, maxlen) or "int" not in str(model_input.dtype):
        reasons.append(f"its input is {tuple(model_input.shape)} {model_input.dtype}, "
                       f"not (None, {maxlen}) integer word ids (keras.Input(shape=({maxlen},), dtype='int32'))")
    if tuple(model_output.shape) != (None, 1):
        reasons.append(f"its output is {tuple(model_output.shape)}, not (None, 1) probabilities")
    return "; ".join(reasons) or None


def builder_problems(model_config: Any, *, num_words: int, maxlen: int) -> list[str]:
    """Every reason this custom model cannot be trained, each naming model.builder."""
    arguments = builder_arguments(model_config)
    return list(_builder_problems(str(model_config.builder), json.dumps(arguments, sort_keys=True, default=str),
                                  num_words, maxlen))


@functools.cache
def _builder_problems(builder: str, arguments_json: str, num_words: int, maxlen: int) -> tuple[str, ...]:
    """Cached: a sweep checks every job, and many share their builder and keys."""
    arguments = json.loads(arguments_json)

    def problem(why: str) -> tuple[str, ...]:
        return (f"model.builder = {builder!r} is not allowed: {why}",)

    try:
        function = import_builder(builder)
    except Exception as error:  # noqa: BLE001 - any import failure is the user's to see
        return problem(f"it cannot be imported ({type(error).__name__}: {error})")
    reason = signature_problem(function, [*GIVEN_ARGUMENTS, *arguments])
    if reason:
        return problem(reason)
    from imdb_sweep.process.quiet_tensorflow import start_tensorflow

    start_tensorflow()
    try:
        model = function(num_words=num_words, maxlen=maxlen, **arguments)
    except Exception as error:  # noqa: BLE001 - any failure of the user's code is the user's to see
        return problem(f"building the model with {arguments} raised {type(error).__name__}: {error}")
    reason = shape_problem(model, maxlen)
    return problem(reason) if reason else ()


def build(model_config: Any, *, num_words: int, maxlen: int) -> Any:
    function = import_builder(str(model_config.builder))
    return function(num_words=num_words, maxlen=maxlen, **builder_arguments(model_config))
