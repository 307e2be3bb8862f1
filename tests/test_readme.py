"""The README's promises: its Python examples run as written, and its function list is the op table's."""
import re
import textwrap
from pathlib import Path

import agrad

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_python_block_in_the_readme_runs():
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})  # the README's own code, as a reader would run it


def test_the_function_list_is_generated_from_the_op_table():
    listed = re.search(r"```text\n(pow\(a,b\).*?)\n```", README, re.S).group(1)
    assert listed == textwrap.fill(" ".join(agrad.function_signatures()), 72)
    assert "sin" in agrad.function_signatures() and "sum(a[,axis])" in agrad.function_signatures()
