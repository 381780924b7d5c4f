"""The package is as its formatter writes it (pyproject.toml's [tool.ruff]; the version is pinned in the test
extra, since formatters change their output between versions): no hand-kept exceptions to drift."""

import subprocess
import sys
from pathlib import Path

import cnn_vs_vit


def test_the_package_is_formatted():
    package = Path(cnn_vs_vit.__file__).parent
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", str(package)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
