"""One terminal width for every test: rich follows $COLUMNS, which pytest-xdist's workers set to 80."""
import pytest


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")


pytest_plugins = ["pytester"]  # tests of agrad's own pytest plugin run pytest in a subprocess
