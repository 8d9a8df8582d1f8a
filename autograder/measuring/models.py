"""What the probe built for each graded block and for make_unet: rebuilt from its saved configs and measured
(output shapes, parameter counts, the layer graph), and the probe's account of each call."""

from __future__ import annotations

import json
from pathlib import Path

from . import configs, files
from .facts import Block, Built, Call, Layer, LayerConfig


def call(out: Path, name: str) -> Call:
    """Whether the probe's call of `name` worked, and the student's error and traceback when not."""
    try:
        status = json.loads(files.read(out / f"{name}.json", 1 << 20))
        ok = status.get("ok") is True
        problems = status.get("problems") if isinstance(status.get("problems"), list) else []
        return Call(
            ok=ok,
            error="" if ok else files.text(status.get("error", ""), 2000),
            traceback=files.text(status.get("traceback", ""), 4000, end=True),
            problems=[files.text(p, 300) for p in problems[:10]],
        )
    except (files.Refused, ValueError, AttributeError, RecursionError):
        return Call(ok=False)


def _ints(value: object) -> list[int] | None:
    values = list(value) if isinstance(value, list | tuple) else None
    return [int(v) for v in values] if values is not None and all(isinstance(v, int) for v in values) else None


def _source(tensor) -> str | None:
    history = getattr(tensor, "_keras_history", None)
    return history.operation.name if history else None


def _shape(shape) -> list[int | None]:
    return [None if size is None else int(size) for size in shape]


def built(model, case: list[int]) -> Built:
    """Output shapes, parameter count and layer graph of a rebuilt model."""
    layers = []
    for layer in model.layers:
        found = layer.get_config()
        text = {key: found[key] if isinstance(found.get(key), str) else None for key in ("padding", "activation")}
        config = LayerConfig(
            filters=found.get("filters") if isinstance(found.get("filters"), int) else None,
            kernel_size=_ints(found.get("kernel_size")),
            strides=_ints(found.get("strides")),
            pool_size=_ints(found.get("pool_size")),
            **text,
        )
        inputs = layer.input if isinstance(layer.input, list | tuple) else [layer.input]
        layers.append(
            Layer(
                name=layer.name,
                kind=type(layer).__name__,
                config=config,
                inputs=[_source(t) for t in inputs],
                output_shape=_shape(layer.output.shape),
                params=int(layer.count_params()),
            )
        )
    return Built(
        case=list(case),
        shapes=[_shape(t.shape) for t in model.outputs],
        params=int(model.count_params()),
        layers=layers,
        input_names=[_source(t) for t in model.inputs],
    )


def _inputs(name: str, case: list[int]) -> list[list[int | None]]:
    """The input shapes the probe gave `name` for `case`."""
    if name == "decoder_block":
        h, w, c, s, _ = case
        return [[None, h, w, c], [None, 2 * h, 2 * w, s]]
    return [[None, *case[:3]]]


def block(out: Path, name: str, cases: list[list[int]]) -> Block:
    """One block (or make_unet) over the challenge's cases; a model built for other inputs is refused."""
    called = call(out, name)
    if not called.ok:
        return Block(call=called)
    measured = []
    try:
        for i, case in enumerate(cases):
            model = configs.rebuild(out / f"{name}-{i}.json")
            if [_shape(t.shape) for t in model.inputs] != _inputs(name, case):
                given = [tuple(t.shape) for t in model.inputs]
                raise configs.Refused(f"its inputs {given} are not the ones the grader gave")
            measured.append(built(model, case))
    except Exception as error:  # noqa: BLE001 - whatever the probe saved, it is the submission's
        problem = files.text(f"the grader could not rebuild the model it built: {error}", 600)
        return Block(call=Call(ok=False, error=problem, traceback=called.traceback, problems=called.problems))
    return Block(call=called, cases=measured)
