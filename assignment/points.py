"""The assignment's sections and their points, as in the seed (10/30/20/30/10)."""

from __future__ import annotations

SECTIONS: dict[str, tuple[str, int]] = {
    "preprocess": ("Dataset & preprocessing", 10),
    "encoder": ("Encoder: double_conv_block and encoder_block", 30),
    "decoder": ("Decoder: decoder_block", 20),
    "unet": ("Full model: make_unet", 30),
    "training": ("Compile, train and final IoU", 10),
}
MAX_POINTS = sum(points for _, points in SECTIONS.values())
