"""Reading measured layer graphs."""

from __future__ import annotations

from autograder.measuring.facts import Layer


def of_class(layers: list[Layer], name: str) -> list[Layer]:
    """The measured layers of class `name`, in graph order."""
    return [layer for layer in layers if layer.kind == name]


def convs(layers: list[Layer]) -> list[Layer]:
    """The measured Conv2D layers, in graph order."""
    return of_class(layers, "Conv2D")
