"""hepatrial demo-trial, as a newcomer runs it: a new demo database filled with the
simulated trial, then analysed; a second run is refused (exit 2), the data kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def hepatrial(home, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
    env["HEPATRIAL_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "hepatrial.cli", *args], env=env, capture_output=True, text=True, timeout=600)


def test_demo_trial_then_analyze(tmp_path):
    home = tmp_path / "home"
    made = hepatrial(home, "demo-trial", "--subjects", "4", "--seed", "5")
    assert made.returncode == 0, made.stderr
    assert "passwords shown ONCE" in made.stdout and "SIMULATED DATA:" in made.stdout and "4 randomized" in made.stdout
    assert "Subject:" not in made.stdout  # the simulated alerts are not e-mailed to the console
    report = hepatrial(home, "analyze", "--out", str(tmp_path / "report"), "--json")
    assert report.returncode == 0, report.stderr
    numbers = json.loads(report.stdout)
    assert numbers["simulated"] is True and numbers["consort"]["randomized"] == 4
    assert (tmp_path / "report" / "adam" / "define.xml").exists()
    again = hepatrial(home, "demo-trial", "--subjects", "4")
    assert again.returncode == 2 and "fresh demo database" in again.stderr + again.stdout
    recount = hepatrial(home, "analyze", "--out", str(tmp_path / "report2"), "--json")
    assert json.loads(recount.stdout)["consort"]["randomized"] == 4  # nothing added, nothing lost


def test_the_same_seed_on_new_databases_gives_the_same_trial(tmp_path):
    """On a new database the allocation list is made from --seed too: two new homes, one trial."""
    lines = [next(line for line in hepatrial(tmp_path / home, "demo-trial", "--subjects", "3", "--seed", "8").stdout.splitlines()
                  if line.startswith("SIMULATED DATA:")) for home in ("a", "b")]  # fmt: skip
    assert lines[0] == lines[1] and "3 randomized" in lines[0]
