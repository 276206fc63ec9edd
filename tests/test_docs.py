"""The examples in the README run and print what the README says."""

import contextlib
import io
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.timeout(240)
@pytest.mark.parametrize("number", [0, 1])
def test_readme_python_example_prints_what_it_shows(number):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 2, "the README has two Python examples"
    block = blocks[number]
    expected = []
    for line in block.splitlines():
        # An output is shown as a comment after the print or on the next line.
        comment = line.partition("#")[2].strip()
        if comment:
            expected.append(comment)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "README.md", "exec"), {})
    assert printed.getvalue().splitlines() == expected


def test_the_neural_model_table_gives_the_configs_defaults():
    from engram_actors.config import NeuralConfig

    text = (ROOT / "docs" / "model.md").read_text()
    section = text.split("## The neural model")[1].split("### One gamma cycle")[0]
    rows = re.findall(r"^\| [^|]+ \| [^|]+ \| `(\w+)` \| ([^|]+) \|", section, re.M)
    assert len(rows) == 18
    defaults = NeuralConfig()
    for name, shown in rows:
        value = getattr(defaults, name)
        number = float(re.match(r"[-\d.]+", shown.strip()).group())
        assert number == value, name
