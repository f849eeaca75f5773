import pytest
import torch

from evohebb.run_io import progress_bar, read_results, write_results


def test_results_roundtrip(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        read_results(tmp_path)
    path = write_results(tmp_path, {"accuracy": torch.tensor(0.75), "per_task": [0.5, 1.0]})
    assert path == tmp_path / "results.json"
    assert read_results(tmp_path) == {"accuracy": 0.75, "per_task": [0.5, 1.0]}


def test_progress_bar_env_disables(monkeypatch):
    monkeypatch.setenv("EVOHEBB_PROGRESS", "0")
    with progress_bar(range(5), desc="x", disable=False) as bar:
        assert bar.disable
        assert list(bar) == [0, 1, 2, 3, 4]
    monkeypatch.delenv("EVOHEBB_PROGRESS")
    bar = progress_bar(total=10, initial=4, unit="gen", disable=False)
    try:
        assert not bar.disable and bar.n == 4 and bar.total == 10 and bar.mininterval == 0.5
        bar.update(2)
        assert bar.n == 6
    finally:
        bar.close()
