"""Zoo files store their genome's layout: a file whose layout differs from the network its config builds is
refused naming the slice; first-format files are converted by `evohebb zoo-upgrade`; a wrong file or a bad
option given to `evohebb evaluate` gets one clear error and exit status 2, not a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evohebb.cli import main
from evohebb.config import config_from_dict
from evohebb.pipelines.evolve import evaluation_task
from evohebb.pipelines.evolve_config import EvolveConfig
from evohebb.pipelines.zoo import FORMAT, FORMAT_1, ZooFileError, check_layout, read_zoo_genome, upgrade_zoo_file

REPO = Path(__file__).resolve().parents[2]
PIXELS = REPO / "zoo" / "carracing_pixels.json"


def _evaluate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evohebb.cli", "evaluate", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_every_committed_zoo_file_holds_the_layout_its_config_builds():
    paths = [p for p in sorted((REPO / "zoo").glob("*.json")) if ".evaluation" not in p.name]
    assert paths
    for path in paths:
        zoo = read_zoo_genome(path)
        cfg = config_from_dict(EvolveConfig, zoo["config"])
        check_layout(path, zoo["layout"], evaluation_task(cfg).build_network().genome_spec())


def test_a_scrambled_layout_is_refused_naming_the_slice(tmp_path, caplog):
    data = json.loads(PIXELS.read_text())
    names = [name for name, _ in data["layout"]]
    i, j = names.index("out.B"), names.index("out.C")      # two slices of the same shape, swapped
    data["layout"][i], data["layout"][j] = data["layout"][j], data["layout"][i]
    scrambled = tmp_path / "scrambled.json"
    scrambled.write_text(json.dumps(data))
    assert main(["evaluate", str(scrambled), "--episodes", "1", "--max-steps", "5"]) == 2
    err = caplog.text
    assert f"genome slice {i} is 'out.C'" in err and "'out.B'" in err and "scrambled" in err

    data = json.loads(PIXELS.read_text())
    data["layout"][-1][1] = [3, 32]                         # out.W: a shape the genome does not hold
    (tmp_path / "short.json").write_text(json.dumps(data))
    with pytest.raises(ZooFileError, match="holds 208 numbers, its layout 112"):
        read_zoo_genome(tmp_path / "short.json")


def test_a_first_format_file_is_refused_until_upgraded(tmp_path):
    data = json.loads(PIXELS.read_text())
    layout = data.pop("layout")
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**data, "format": FORMAT_1}))
    with pytest.raises(ZooFileError, match=r"first format .*`evohebb zoo-upgrade"):
        read_zoo_genome(old)
    assert main(["zoo-upgrade", str(old)]) == 0
    upgraded = json.loads(old.read_text())
    assert upgraded["format"] == FORMAT and upgraded["layout"] == layout and upgraded["genome"] == data["genome"]
    assert upgrade_zoo_file(old) == layout                  # converting twice changes nothing


def test_evaluate_refuses_a_report_and_a_bad_episode_count_with_one_line_and_status_2(tmp_path):
    report = REPO / "zoo" / "carracing_pixels.evaluation.json"
    done = _evaluate(str(report))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "is an evaluation report (of zoo/carracing_pixels.json), not a genome" in done.stderr
    done = _evaluate(str(PIXELS), "--episodes", "0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--episodes: 0 is not allowed; allowed: an integer >= 1" in done.stderr


def test_no_command_prints_a_warning_on_every_run(tmp_path):
    """evotorch's "logger is already configured" and Ray's token-authentication notice used to appear on every
    command; a short evaluation (Ray is not needed) and `--help` must print no WARNING line."""
    zoo = tmp_path / "pixels.json"
    shutil.copy(PIXELS, zoo)
    done = _evaluate(str(zoo), "--episodes", "1", "--max-steps", "5", "--as-trained")
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr and "already configured" not in done.stderr
