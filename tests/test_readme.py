"""The README's lists that the code knows better are made from the code: a probe added or changed shows up."""

from pathlib import Path

from typer.testing import CliRunner

from cnn_vs_vit.cli import app
from cnn_vs_vit.probes import PROBES
from cnn_vs_vit.probes.plugin import catalogue_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_lists_every_probe_as_the_registry_does():
    text = README.read_text()
    generated = text.split("<!-- probes: generated -->\n", 1)[1].split("<!-- probes: end -->", 1)[0]
    assert generated == catalogue_markdown(), (
        "paste this table into README.md's Probes section:\n" + catalogue_markdown()
    )


def test_probe_help_lists_every_probe_with_what_it_measures():
    result = CliRunner().invoke(app, ["probe", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in PROBES:
        assert f"{name}:" in result.output, name
