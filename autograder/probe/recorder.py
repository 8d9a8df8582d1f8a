"""Runs in the student's kernel before the notebook (IPython's exec_files, which runs this file in the notebook's
namespace: it loads itself as a module of its own, so that nothing the notebook defines reaches it, and takes its
names out of that namespace again). It records how the notebook trains, for the grader to weigh against what it
measures itself:

- what it trains on, through model.fit (its data and validation data), train_on_batch, and loops of its own through
  the optimizer (an eager model call with training=True, or a tf.function's arguments, then an optimizer step),
  recognised by content (descriptors.py, loaded from beside this file) against the visible test split's descriptors
  the grader put here (DESCRIPTORS): copied into arrays or preprocessed another way, the test split is still found;
- the optimizer steps it sees taken, per optimizer; the tfrecord files a tf.data pipeline reads.

The record lives beside student code: the grader lets it cost points (a model trained on the test split, a step
counter no training earned), never earn them. Keras is patched where it is loaded already (the pristine process
preloads it), else as it is first imported. Recording never stops the notebook: where it fails, it records less.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import inspect
import os
import sys
import types
import weakref

MODULE = "__tiny_unet_recorder__"
DESCRIPTORS = "test_descriptors.npy"  # the visible test split's descriptors, put beside this file by the grader
PENDING = 64  # eager training calls kept until an optimizer step


def sibling(folder: str, name: str) -> types.ModuleType:
    """The module `name`.py in `folder`, loaded under a name of the grader's own."""
    spec = importlib.util.spec_from_file_location(f"__tiny_unet_{name}__", os.path.join(folder, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _iterations(optimizer) -> int | None:
    try:
        return int(optimizer.iterations.numpy())
    except Exception:  # noqa: BLE001 - no optimizer, or not one of Keras's
        return None


def _taping() -> bool:
    """Whether a gradient tape is recording (a model call inside one is a training step's forward pass)."""
    try:
        from tensorflow.python.eager import record as tapes

        return bool(tapes.could_possibly_record())
    except Exception:  # noqa: BLE001 - a TensorFlow without it: calls with training=True only
        return False


class Record:
    """What the recorder saw: training calls (each fit call, the others gathered by kind), steps per optimizer."""

    def __init__(self, folder: str) -> None:
        self.descriptors = sibling(folder, "descriptors")
        self.path = os.path.join(folder, DESCRIPTORS)
        self._test = None
        self.calls: list[dict] = []
        self.steps = weakref.WeakKeyDictionary()  # optimizer -> steps seen taken
        self.optimizers = weakref.WeakSet()
        self.inside = 0  # > 0 while Keras's own training or a recorded call runs
        self.pending: list = []  # descriptors of eager training calls not yet followed by an optimizer step

    def test(self):
        """The visible test split's descriptors, loaded at first use (none without the grader's file)."""
        if self._test is None:
            import numpy as np

            width = 3 * self.descriptors.GRID**2
            try:
                self._test = np.load(self.path, allow_pickle=False).astype(np.float32).reshape(-1, width)
            except (OSError, ValueError):
                self._test = np.zeros((0, width), np.float32)
        return self._test

    def call(self, how: str, splits: list[str] | None = None, validation: list[str] | None = None) -> dict:
        """The entry of a new fit call, or the one entry of train_on_batch or of custom loops."""
        if how != "fit":
            for entry in self.calls:
                if entry["how"] == how:
                    return entry
        entry = {"how": how, "splits": splits or [], "validation_splits": validation or [], "steps": 0}
        entry.update(test_seen=set(), validation_test_seen=set(), optimizers=weakref.WeakSet())
        if len(self.calls) < 100:
            self.calls.append(entry)
        return entry

    def seen(self, entry: dict, key: str, images: object = None, descriptors: object = None) -> None:
        """Note which visible test examples the `images` (or their `descriptors`) are."""
        with contextlib.suppress(Exception):  # what cannot be described is not recorded
            found = self.descriptors.coarse(images) if descriptors is None else descriptors
            entry[key].update(int(index) for index in self.descriptors.matches(found, self.test()))

    def taken(self, optimizer, before: int | None, entry: dict | None = None) -> int:
        """The steps `optimizer` took since its counter read `before`, added to its count (and `entry`'s)."""
        after = _iterations(optimizer)
        steps = after - before if before is not None and after is not None and after > before else 0
        if steps:
            self.steps[optimizer] = self.steps.get(optimizer, 0) + steps
            entry = self.call("custom loop") if entry is None else entry
            entry["steps"] += steps
            entry["optimizers"].add(optimizer)
        return steps

    def loop_steps(self, steps: int, arguments: list) -> None:
        """Steps of a loop of the notebook's own: on the data of its eager training calls since the last step, and
        on the `arguments` of the compiled function that took them."""
        if steps:
            entry = self.call("custom loop")
            for descriptors in [*self.pending, *(self.descriptors.coarse(value) for value in arguments)]:
                self.seen(entry, "test_seen", descriptors=descriptors)
            self.pending = []

    def summary(self, optimizer) -> dict:
        """The record as recorded.json holds it (facts.Recorded), for `model`'s `optimizer`."""
        calls = [
            {
                **{key: value for key, value in entry.items() if key != "optimizers"},
                "test_seen": len(entry["test_seen"]),
                "validation_test_seen": len(entry["validation_test_seen"]),
                "own": optimizer is not None and optimizer in entry["optimizers"],
            }
            for entry in self.calls
        ]
        steps = self.steps.get(optimizer, 0) if optimizer is not None else None
        return {"calls": calls, "steps": steps, "test_examples": len(self.test())}


def _watched(record: Record, data: object, entry: dict, key: str) -> object:
    """`data` as model.fit will read it, each batch noted as it passes: a tf.data pipeline gets a last step that
    notes its batches; arrays are noted now."""
    import tensorflow as tf

    if isinstance(data, tuple | list) and data:
        return type(data)([_watched(record, data[0], entry, key), *data[1:]])
    if isinstance(data, tf.data.Dataset):
        single = not isinstance(data.element_spec, tuple)

        def note(blocks):
            with contextlib.suppress(Exception):  # a batch that cannot be described is not recorded
                record.seen(entry, key, descriptors=record.descriptors.normalised(blocks.numpy()))
            return 0

        def tap(*element):
            flat = tf.nest.flatten(element)
            found = [t for t in flat if isinstance(t, tf.Tensor) and t.shape.rank in (3, 4) and t.shape[-1] == 3]
            if not found or not (found[0].dtype.is_floating or found[0].dtype.is_integer):
                return element[0] if single else element
            images = found[0] if found[0].shape.rank == 4 else found[0][None]
            grid = (record.descriptors.GRID, record.descriptors.GRID)
            blocks = tf.image.resize(tf.cast(images, tf.float32), grid, method="area")
            done = tf.py_function(note, [blocks], tf.int32)
            with tf.control_dependencies([done]):
                flat = [tf.identity(t) if isinstance(t, tf.Tensor) else t for t in flat]
            packed = tf.nest.pack_sequence_as(element, flat)
            return packed[0] if single else packed

        return data.map(tap)
    record.seen(entry, key, data)
    return data


def _patch(keras: types.ModuleType, record: Record) -> None:
    import tensorflow as tf

    fit = keras.Model.fit
    fit_signature = inspect.signature(fit)
    train_on_batch = keras.Model.train_on_batch
    model_call = keras.Model.__call__
    function_class = type(tf.function(lambda: None))
    function_call = function_class.__call__
    optimizers = [keras.src.optimizers.base_optimizer.BaseOptimizer, keras.optimizers.LossScaleOptimizer]
    applies = {kind: kind.apply for kind in optimizers}
    optimizer_init = optimizers[0].__init__

    def recorded_fit(self, *args, **kwargs):
        try:
            bound = fit_signature.bind(self, *args, **kwargs)
            given = bound.arguments
            entry = record.call(
                "fit",
                record.descriptors.splits(given.get("x")),
                record.descriptors.splits(given.get("validation_data")),
            )
            for name, key in (("x", "test_seen"), ("validation_data", "validation_test_seen")):
                if given.get(name) is not None:
                    given[name] = _watched(record, given[name], entry, key)
            args, kwargs = bound.args[1:], bound.kwargs
        except Exception:  # noqa: BLE001 - arguments Keras will refuse, or data the recorder cannot read
            entry = record.call("fit")
        return _stepping(self, entry, lambda: fit(self, *args, **kwargs))

    def recorded_train_on_batch(self, *args, **kwargs):
        entry = record.call("train_on_batch")
        record.seen(entry, "test_seen", args[0] if args else kwargs.get("x"))
        return _stepping(self, entry, lambda: train_on_batch(self, *args, **kwargs))

    def _stepping(model, entry: dict, run):
        optimizer = getattr(model, "optimizer", None)
        before = _iterations(optimizer)
        record.inside += 1
        try:
            return run()
        finally:
            record.inside -= 1
            record.taken(optimizer, before, entry)

    def recorded_call(self, *args, **kwargs):
        if not record.inside and args and tf.executing_eagerly() and (kwargs.get("training") is True or _taping()):
            with contextlib.suppress(Exception):  # what cannot be described is not recorded
                record.pending = [*record.pending[-PENDING + 1 :], record.descriptors.coarse(args[0])]
        return model_call(self, *args, **kwargs)

    def recorded_apply(self, *args, **kwargs):
        apply = applies[next(kind for kind in type(self).__mro__ if kind in applies)]
        if record.inside or not tf.executing_eagerly():
            return apply(self, *args, **kwargs)
        before = _iterations(self)
        record.inside += 1
        try:
            return apply(self, *args, **kwargs)
        finally:
            record.inside -= 1
            record.loop_steps(record.taken(self, before), [])

    def recorded_function_call(self, *args, **kwargs):
        if record.inside or not record.optimizers or not tf.executing_eagerly():
            return function_call(self, *args, **kwargs)
        before = {optimizer: _iterations(optimizer) for optimizer in list(record.optimizers)}
        record.inside += 1
        try:
            return function_call(self, *args, **kwargs)
        finally:
            record.inside -= 1
            steps = sum(record.taken(optimizer, start) for optimizer, start in before.items())
            record.loop_steps(steps, [value for value in tf.nest.flatten((args, kwargs)) if hasattr(value, "shape")])

    def registered_init(self, *args, **kwargs):
        optimizer_init(self, *args, **kwargs)
        record.optimizers.add(self)

    keras.Model.fit = recorded_fit
    keras.Model.train_on_batch = recorded_train_on_batch
    keras.Model.__call__ = recorded_call
    function_class.__call__ = recorded_function_call
    for kind in optimizers:
        kind.apply = recorded_apply
    optimizers[0].__init__ = registered_init


class _PatchOnImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `keras` once, lets its own loader run it, then patches it."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.spec = None

    def find_spec(self, name, path, target=None):
        if name != "keras" or self.spec is not None:
            return None
        sys.meta_path.remove(self)
        self.spec = importlib.util.find_spec(name)
        if self.spec is None or self.spec.loader is None:
            return None
        self.loader, self.spec.loader = self.spec.loader, self
        return self.spec

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        with contextlib.suppress(Exception):  # a Keras the recorder does not know: the notebook runs unrecorded
            _patch(module, self.record)


def install(folder: str) -> Record:
    """A record of the training, with Keras patched now if it is loaded (a kernel forked from the pristine process,
    which preloads it), else as it is first imported."""
    record = Record(folder)
    if "keras" in sys.modules:
        with contextlib.suppress(Exception):  # a Keras the recorder does not know: the notebook runs unrecorded
            _patch(sys.modules["keras"], record)
    else:
        sys.meta_path.insert(0, _PatchOnImport(record))
    return record


def _load_as_module(namespace: dict) -> None:
    """Run by exec_files in the notebook's namespace: load this file as the module MODULE, install its record, and
    take every name this file defined out of the notebook's namespace again."""
    folder = os.path.dirname(_load_as_module.__code__.co_filename)
    module = sibling(folder, "recorder")
    module.record = module.install(folder)
    for name in [name for name in vars(module) if not name.startswith("__")]:
        namespace.pop(name, None)


if __name__ == "__main__" and MODULE not in sys.modules:
    _load_as_module(globals())
