"""Every derivation file in samples/ runs through the CLI, and every case in it passes."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agrad.cli.main import cli

SAMPLES = sorted((Path(__file__).parent.parent / "samples").glob("*.toml"))


def test_there_are_samples():
    assert len(SAMPLES) >= 2


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_file_passes(path):
    r = CliRunner().invoke(cli, ["check", str(path), "--json"])
    data = json.loads(r.stdout)
    failed = [(c["name"], c["messages"]) for c in data["cases"] if c["status"] != "pass"]
    assert failed == []
    assert r.exit_code == 0
    assert data["summary"]["cases"] == len(data["cases"]) > 0
