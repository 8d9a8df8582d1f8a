"""Reading measured layer graphs."""

from __future__ import annotations


def of_class(layers: list[dict], name: str) -> list[dict]:
    return [layer for layer in layers if layer["class"] == name]


def convs(layers: list[dict]) -> list[dict]:
    return of_class(layers, "Conv2D")
