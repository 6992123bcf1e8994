"""README's Python API example is what docs/quickstart.ipynb runs (and CI runs the notebook)."""

import json
import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def code_lines(text: str) -> list[str]:
    """Lines of code without comments or blank lines, as the notebook and README share them."""
    lines = (line.split("  # ")[0].rstrip() for line in text.splitlines())
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_readme_example_lines_all_run_in_the_notebook():
    readme = (REPOSITORY / "README.md").read_text()
    section = readme.split("## Python API\n", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    notebook = json.loads((REPOSITORY / "docs" / "quickstart.ipynb").read_text())
    cells = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    ran = {line.strip() for cell in cells for line in code_lines(cell)}
    # An expression the notebook shows is a line of its own there, or one it assigns and asserts.
    missing = [
        line
        for line in code_lines(example)
        if line.strip() not in ran and not any(line.strip() in other for other in ran)
    ]
    assert missing == []
