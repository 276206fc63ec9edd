"""The examples in the README run and print what the README says."""

import contextlib
import io
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_python_example_prints_what_it_shows():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
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
