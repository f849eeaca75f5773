"""docs/extending.md, "Add a competition to a SoftHebb layer": its worked example runs as written."""

import re
from pathlib import Path

from evohebb.plasticity.competition_registry import COMPETITIONS

EXTENDING = Path(__file__).resolve().parents[2] / "docs" / "extending.md"
SECTION = "## Add a competition to a SoftHebb layer"


def python_blocks(markdown: str, heading: str) -> list[str]:
    """The ```python blocks of the section under ``heading`` (up to the next ``## `` heading)."""
    section = markdown.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_competition_example_runs():
    blocks = python_blocks(EXTENDING.read_text(encoding="utf-8"), SECTION)
    assert len(blocks) == 1
    before = set(COMPETITIONS)
    try:
        namespace: dict = {"__name__": "extending_competition"}
        exec(compile(blocks[0], f"{EXTENDING}:{SECTION}", "exec"), namespace)
        assert set(COMPETITIONS) - before == {"conscience"}
    finally:
        for name in set(COMPETITIONS) - before:   # the registry is global: leave it as the other tests expect
            COMPETITIONS.pop(name)
