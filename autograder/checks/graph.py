"""Reading measured layer graphs."""

from __future__ import annotations


def of_class(layers: list[dict], name: str) -> list[dict]:
    """The measured layers of class `name`, in graph order."""
    return [layer for layer in layers if layer["class"] == name]


def convs(layers: list[dict]) -> list[dict]:
    """The measured Conv2D layers, in graph order."""
    return of_class(layers, "Conv2D")
