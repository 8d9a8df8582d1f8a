"""What the probe process receives: imports, simple constants and definitions, nothing that runs work."""

from __future__ import annotations

import nbformat
from mutants import RELEASE, SOLUTION

from autograder.extract import extract

GRADED_FUNCTIONS = ("preprocess", "double_conv_block", "encoder_block", "decoder_block", "make_unet")


def _nb(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def test_keeps_imports_constants_and_definitions_in_order() -> None:
    source = (
        "import numpy as np\nfrom keras import layers\nAUTOTUNE = tf.data.AUTOTUNE\nSIZE = (IMG, IMG)\n"
        "scale = lambda x: x / 255\n"
        "@decorate\ndef f(x):\n    return layers.Dense(1)(x)\nclass Helper:\n    pass\nIMG += 2"
    )
    kept = [s for _, s in extract(_nb(source)).statements]
    assert kept[:4] == [
        "import numpy as np",
        "from keras import layers",
        "AUTOTUNE = tf.data.AUTOTUNE",
        "SIZE = (IMG, IMG)",
    ]
    assert (
        kept[4] == "scale = lambda x: x / 255"
        and kept[5].startswith("@decorate\ndef f(x):")
        and kept[6].startswith("class Helper")
    )
    assert kept[7] == "IMG += 2" and len(kept) == 8


def test_leaves_out_work_patches_and_magics() -> None:
    source = (
        "%matplotlib inline\n!pip install x\nmodel = make_unet()\nhistory = model.fit(train)\njson.dump = fake\n"
        "keras.Model = Fake\nos.environ['A'] = 'b'\nfor i in range(3):\n    def g(): pass\nprint('hi')"
    )
    assert extract(_nb(source)).statements == []


def test_cells_with_syntax_errors_are_skipped() -> None:
    found = extract(_nb("def ok():\n    pass", "def oops(:\n  pass", "X = 1"))
    assert found.statements == [(0, "def ok():\n    pass"), (2, "X = 1")]


def test_the_notebooks_graded_functions_are_all_found() -> None:
    for path in (SOLUTION, RELEASE):
        found = extract(nbformat.read(path, as_version=4))
        defined = {
            source.split("(")[0].removeprefix("def ") for _, source in found.statements if source.startswith("def ")
        }
        assert set(GRADED_FUNCTIONS) <= defined
        assert not any(
            "fit(" in source or "tfds.load" in source
            for cell, source in found.statements
            if not source.startswith("def ")
        )
