"""The grader's private evaluation examples: a stable cut of the test list, both parts non-empty, lists for tfds's
builder, and a folder that only the grader may open."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from assignment import private
from assignment.data import SHARED_SAMPLE

NAMES = [f"{breed}_{n}" for breed in ("Abyssinian", "beagle", "Bengal", "pug") for n in range(100, 400)]


def test_the_cut_depends_on_the_names_alone() -> None:
    visible, hidden = private.split_test(NAMES)
    again_visible, again_hidden = private.split_test(list(reversed(NAMES)))
    assert set(visible) == set(again_visible) and set(hidden) == set(again_hidden), "the order of the list matters"
    assert set(visible).isdisjoint(hidden) and set(visible) | set(hidden) == set(NAMES)
    assert visible == [n for n in NAMES if n in set(visible)], "each part keeps the list's order"
    _, subset_hidden = private.split_test(NAMES[::3])
    assert set(subset_hidden) == set(hidden) & set(NAMES[::3]), "an example's side does not depend on the others"


def test_the_private_share_is_about_half() -> None:
    _, hidden = private.split_test(NAMES)
    assert abs(len(hidden) / len(NAMES) - private.PRIVATE_SHARE) < 0.05


def test_the_real_sample_cut_is_the_recorded_one() -> None:
    if not SHARED_SAMPLE.is_dir():
        pytest.skip(f"the real sample is not at {SHARED_SAMPLE}")
    _, visible, hidden = private.test_lines(SHARED_SAMPLE / "annotations")
    assert (len(visible), len(hidden)) == (65, 64), "README's Data section and the calibration record 65 / 64"


@pytest.mark.parametrize("names", [["a", "b"], ["x", "y", "z"], NAMES[:2]])
def test_small_lists_keep_both_parts(names: list[str]) -> None:
    visible, hidden = private.split_test(names)
    assert visible and hidden and sorted(visible + hidden) == sorted(names)


def test_a_single_test_example_is_refused() -> None:
    with pytest.raises(private.PrivateError, match="at least two"):
        private.split_test(["Abyssinian_1"])


def test_lists_for_the_builder_link_the_annotations(tmp_path: Path) -> None:
    source = tmp_path / "annotations"
    (source / "trimaps").mkdir(parents=True)
    (source / "xmls").mkdir()
    lines = [f"{name} 1 1 1" for name in NAMES[:10]]
    (source / "trainval.txt").write_text("Bengal_1 6 1 6\n")
    (source / "test.txt").write_text("\n".join(lines) + "\n\n")
    trainval, visible, hidden = private.test_lines(source)
    assert trainval == ["Bengal_1 6 1 6"] and sorted(visible + hidden) == sorted(lines)
    answer = private.write_lists(source, tmp_path / "lists", hidden[:1], hidden)
    written = answer / "annotations"
    assert (written / "test.txt").read_text().splitlines() == hidden
    assert (written / "trainval.txt").read_text().splitlines() == hidden[:1]
    assert (written / "trimaps").resolve() == (source / "trimaps").resolve()


def test_the_private_folder_is_beside_the_data_dir(tmp_path: Path) -> None:
    assert private.private_dir(tmp_path / "tfds") == tmp_path / "tfds.private"
    assert not private.private_dir(tmp_path / "tfds").is_relative_to(tmp_path / "tfds")


def test_close_makes_the_folder_the_graders_alone(tmp_path: Path) -> None:
    folder = tmp_path / "tfds.private"
    folder.mkdir(mode=0o755)
    private.close(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_close_refuses_a_link_or_another_users_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(private.PrivateError, match="not a link"):
        private.close(tmp_path / "link")
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)
    with pytest.raises(private.PrivateError, match="another user's"):
        private.close(tmp_path / "real")
