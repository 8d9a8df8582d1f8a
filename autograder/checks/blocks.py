"""Expected sizes of the U-Net's blocks, and helpers to read probed layer graphs."""

from __future__ import annotations

from collections.abc import Callable


def conv_params(c_in: int, filters: int, kernel: int) -> int:
    return kernel * kernel * c_in * filters + filters


def double_conv_params(c_in: int, filters: int) -> int:
    return conv_params(c_in, filters, 3) + conv_params(filters, filters, 3)


def decoder_params(c_in: int, c_skip: int, filters: int) -> int:
    return conv_params(c_in, filters, 2) + double_conv_params(filters + c_skip, filters)


def unet_params(c_in: int, base: int) -> int:
    widths = [base, 2 * base, 4 * base, 8 * base]
    total, previous = 0, c_in
    for width in widths:
        total += double_conv_params(previous, width)
        previous = width
    total += double_conv_params(previous, 16 * base)
    previous = 16 * base
    for width in reversed(widths):
        total += decoder_params(previous, width, width)
        previous = width
    return total + conv_params(base, 1, 1)


def of_class(layers: list[dict], name: str) -> list[dict]:
    return [layer for layer in layers if layer["class"] == name]


def convs(layers: list[dict]) -> list[dict]:
    return of_class(layers, "Conv2D")


Facts = Callable[[str], dict]  # the `facts` fixture: probe name -> its JSON
