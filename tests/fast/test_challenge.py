"""Probe challenges: fresh each run, repeatable by seed, and always holding every trimap label."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from autograder import challenge
from autograder.challenge import draw, unet_params


def _nearest(trimap: np.ndarray, size: int) -> np.ndarray:
    h, w = trimap.shape[:2]
    rows = np.arange(size) * h // size
    cols = np.arange(size) * w // size
    return trimap[rows][:, cols]


def test_each_draw_differs_and_a_seed_repeats_it() -> None:
    first = draw()
    second = draw()
    assert first.seed != second.seed and first.double_conv != second.double_conv
    again = draw(first.seed)
    assert again.unet == first.unet and all(
        np.array_equal(a, b) for a, b in zip(again.trimaps, first.trimaps, strict=True)
    )


def test_every_label_survives_downsizing_and_sizes_fit_the_unet() -> None:
    for seed in range(40):
        drawn = draw(seed)
        assert drawn.img_size in challenge.PROBE_IMG_SIZES
        for trimap in drawn.trimaps:
            resized = _nearest(trimap, min(challenge.PROBE_IMG_SIZES))
            assert {int(v): int(np.sum(resized == v)) >= 4 for v in (1, 2, 3)} == {1: True, 2: True, 3: True}
        assert all(h % 2 == 0 and w % 2 == 0 for h, w, _, _ in drawn.encoder)
        assert all(h % 16 == 0 and w % 16 == 0 for h, w, _, _ in drawn.unet) and drawn.unet[0][2:] == (3, 32)


def test_the_seeds_parameter_count() -> None:
    assert unet_params(3, 32) == 7_760_097


def test_the_probe_gets_inputs_but_no_answers(tmp_path: Path) -> None:
    drawn = draw(5)
    challenge.write(drawn, tmp_path, ("test[:10]", 32))
    sent = json.loads((tmp_path / "challenge.json").read_text())
    assert set(sent) == {
        "img_size",
        "examples",
        "double_conv_block",
        "encoder_block",
        "decoder_block",
        "make_unet",
        "test_split",
        "stages",
        "helpers",
        "outputs",
    }
    assert sent["outputs"]["make_unet"] == ["make_unet-0.json", "make_unet-1.json"]
    assert sent["helpers"]["make_unet"] == ["double_conv_block", "encoder_block", "decoder_block"], (
        "names, never sources"
    )
    assert "params" not in json.dumps(sent) and sorted(np.load(tmp_path / "inputs.npz").files) == [
        "image0",
        "image1",
        "image2",
        "trimap0",
        "trimap1",
        "trimap2",
    ]
