"""The documentation site builds with Sphinx without a warning, and its command-line page is complete."""

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("sphinxarg")
pytest.importorskip("myst_parser")

DOCS = Path(__file__).parents[1] / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The HTML site, built with warnings as errors (on one core, as CI's machine gives it)."""
    out = tmp_path_factory.mktemp("html")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-j", "1", "-q", "-b", "html",
         "-d", str(out / ".doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"the docs build failed:\n{result.stderr}"
    return out


def words(html):
    """The text of some HTML, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def command_section(site, command):
    """The words of the CLI page's section on ``radio-unet COMMAND``, its subsections included."""
    html = (site / "cli.html").read_text(encoding="utf-8")
    start = html.index(f'<section id="radio-unet-{command}"')
    later = (match.start() for match in re.finditer(r'<section id="radio-unet-([\w-]+)"', html)
             if match.start() > start and not match.group(1).startswith(f"{command}-"))
    return words(html[start:next(later, len(html))])


def subcommands():
    """``{name: parser}`` of the subcommands of ``radio-unet``."""
    from radiounet.cli import build_parser

    return next(action for action in build_parser()._actions
                if isinstance(action, argparse._SubParsersAction)).choices


def test_the_cli_page_has_every_option_of_predict(site):
    options = [option for action in subcommands()["predict"]._actions if not isinstance(action, argparse._HelpAction)
               for option in action.option_strings if option.startswith("--")]
    assert {"--out", "--model", "--threshold", "--tta"} <= set(options)
    text = command_section(site, "predict")
    for option in options:
        assert re.search(rf"(?<![\w-]){option}(?![\w-])", text), option


def test_the_cli_page_has_a_section_for_every_command(site):
    for command in subcommands():
        assert command_section(site, command), command


@pytest.mark.parametrize("module", ["radiounet.sky", "radiounet.data", "radiounet.models", "radiounet.train",
                                    "radiounet.inference", "radiounet.detect", "radiounet.evaluate", "radiounet.io",
                                    "radiounet.errors", "radiounet.fetch"])
def test_every_public_module_has_its_api_page(site, module):
    assert (site / "api" / "generated" / f"{module}.html").is_file()


def test_a_docstring_is_rendered_on_its_module_page(site):
    text = words((site / "api" / "generated" / "radiounet.inference.html").read_text(encoding="utf-8"))
    assert "sliding_window_inference" in text and "Parameters" in text


@pytest.mark.parametrize("page", ["benchmark", "speed", "history", "model-experiments", "guide",
                                  "models/multisurvey-v1", "tutorials/index"])
def test_the_markdown_pages_are_pages_of_the_site(site, page):
    assert (site / f"{page}.html").is_file()
