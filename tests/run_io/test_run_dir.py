import re

import pytest

from evohebb.run_io import RunExistsError, create_run_dir, default_run_name


def test_create_refuse_overwrite_resume(tmp_path):
    run = create_run_dir(tmp_path, "exp")
    assert run == tmp_path / "exp"
    assert (run / "checkpoints").is_dir() and (run / "figures").is_dir()
    (run / "metrics.jsonl").write_text("{}\n")

    with pytest.raises(RunExistsError) as info:
        create_run_dir(tmp_path, "exp")
    assert "--resume" in str(info.value) and "--overwrite" in str(info.value)
    assert isinstance(info.value, FileExistsError)

    resumed = create_run_dir(tmp_path, "exp", resume=True)
    assert (resumed / "metrics.jsonl").exists()

    fresh = create_run_dir(tmp_path, "exp", overwrite=True)
    assert not (fresh / "metrics.jsonl").exists() and (fresh / "checkpoints").is_dir()


def test_resume_missing_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_run_dir(tmp_path, "missing", resume=True)
    with pytest.raises(ValueError):
        create_run_dir(tmp_path, "x", resume=True, overwrite=True)
    with pytest.raises(ValueError):
        create_run_dir(tmp_path, "../escape")


def test_default_run_name():
    assert re.fullmatch(r"evolve-\d{8}-\d{6}", default_run_name("evolve"))
