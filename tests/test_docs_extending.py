"""The worked examples of docs/extending.md run as written."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import gymnasium as gym

from envs import ENVIRONMENTS

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def _python_blocks(section: str) -> list[str]:
    """The ```python blocks of the ``## <section>`` section of docs/extending.md, in order."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end if end != -1 else None], flags=re.S)


def test_add_an_environment_runs_as_written(tmp_path, monkeypatch):
    blocks = _python_blocks("Add an environment")
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("extending_example")   # as if the example were a script's module
    monkeypatch.setitem(sys.modules, module.__name__, module)
    try:
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), module.__dict__)
    finally:
        ENVIRONMENTS.pop("reach", None)
        gym.registry.pop("Reach-v0", None)
    for run, task in (("reach", "gymnasium"), ("reach-entry", "reach")):
        results = json.loads((tmp_path / "runs" / run / "results.json").read_text())
        assert results["completed"] and results["generations_done"] == 2 and results["task"] == task
    report = json.loads((tmp_path / "runs" / "reach-entry" / "evaluation-best.json").read_text())
    assert len(report["returns"]) == len(report["random_returns"]) == len(report["push_right_returns"]) == 3
