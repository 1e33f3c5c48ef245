"""The README's Python example must run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(capsys) -> None:
    block = re.search(r"## Python API\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None, "README lost its Python API example"
    exec(compile(block.group(1), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "subset_accuracy" in out and "Verdict." in out


def test_readme_names_exactly_two_setup_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert first_block is not None
    commands = [ln for ln in first_block.group(1).splitlines() if ln.strip()]
    assert [c.split("#")[0].strip() for c in commands] == ["make run", "make test"]
