"""The assignment's sections and their points, as in the seed (10/30/20/30/10): the one place they are defined.

The hidden checks carry their share with `@pytest.mark.points(section, n)` and a collection-time
guard makes each section's checks add up to its points; the notebook's nbgrader self-check cells
carry the split below, and tests compare both and the README's tables with these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

SECTIONS: dict[str, tuple[str, int]] = {
    "preprocess": ("Dataset & preprocessing", 10),
    "encoder": ("Encoder: double_conv_block and encoder_block", 30),
    "decoder": ("Decoder: decoder_block", 20),
    "unet": ("Full model: make_unet", 30),
    "training": ("Compile, train and final IoU", 10),
}
MAX_POINTS = sum(points for _, points in SECTIONS.values())

# nbgrader grade_id of each self-check cell -> (section, points in the gradebook)
SELF_CHECKS: dict[str, tuple[str, int]] = {
    "check_preprocess": ("preprocess", 10),
    "check_double_conv_block": ("encoder", 15),
    "check_encoder_block": ("encoder", 15),
    "check_decoder_block": ("decoder", 20),
    "check_make_unet": ("unet", 30),
    "check_training": ("training", 10),
}


@dataclass(frozen=True)
class Graded:
    """A function the student writes: its section, and the blocks it calls (the grader gives it its own versions)."""

    name: str
    section: str
    helpers: tuple[str, ...] = ()


# The graded functions, in the order the probe calls them. A function is probed only with the reference versions
# of functions that come before it, so no probe ever holds the reference of the function it grades.
GRADED: tuple[Graded, ...] = (
    Graded("preprocess", "preprocess"),
    Graded("double_conv_block", "encoder"),
    Graded("encoder_block", "encoder", ("double_conv_block",)),
    Graded("decoder_block", "decoder", ("double_conv_block",)),
    Graded("make_unet", "unet", ("double_conv_block", "encoder_block", "decoder_block")),
)
