"""Sphinx configuration of the RadioUNet documentation.

Build with ``python -m sphinx -b html docs docs/_build/html`` (``pip install -e ".[docs]"`` first);
``tests/test_docs.py`` builds it with warnings as errors.
"""

import importlib
import pkgutil
import re

import radiounet

project = "RadioUNet"
author = "the RadioUNet developers"
copyright = "the RadioUNet developers; BSD-3-Clause"
release = radiounet.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinxarg.ext",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# Quotes and ellipses made typographic, but not dashes: "--tta" in the command's help stays an option.
smartquotes_action = "qe"
templates_path = ["api/_templates"]
# docs/benchmark/ holds the benchmark's figures, shown by benchmark.md, not pages of their own.
exclude_patterns = ["_build", "api/_templates", "benchmark"]

# The API reference: one page per public module, generated at build time into api/generated/.
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"
autodoc_preserve_defaults = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

# The Markdown pages keep the links GitHub shows: to ../README.md#anchor, which is guide.md here, and to
# the model cards in src/radiounet/models/pretrained/, which are included by models/NAME.md. Headings get
# the anchors GitHub gives them.
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]

html_theme = "pydata_sphinx_theme"
html_title = f"RadioUNet {release}"
html_theme_options = {"navigation_depth": 2, "show_toc_level": 2}
html_show_sourcelink = False


def _link_to_site_pages(app, docname, source):
    """Point the Markdown pages' links to the README and to the model cards at their pages on the site."""
    if docname in ("benchmark", "speed", "history", "model-experiments", "training"):
        source[0] = re.sub(r"\]\(\.\./README\.md", "](guide.md", source[0])
        source[0] = re.sub(r"\]\(\.\./src/radiounet/models/pretrained/", "](models/", source[0])


def _reexported_names(package_name):
    """Map each module of a package to the classes and functions that the package above it exports.

    The API pages document such a name once, where users import it: ``radiounet.sky.simulate_field``
    on the page of :mod:`radiounet.sky`, not again on that of ``radiounet.sky.field``.
    """
    names = {}
    package = importlib.import_module(package_name)
    for module_info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
        if "._" in module_info.name:
            continue
        module = importlib.import_module(module_info.name)
        parent = importlib.import_module(module_info.name.rsplit(".", 1)[0])
        exported = set(getattr(parent, "__all__", ())) & set(getattr(module, "__all__", ()))
        # Constants stay on their module's page, where their comment documents them.
        names[module_info.name] = sorted(
            name for name in exported
            if getattr(parent, name) is getattr(module, name) and callable(getattr(module, name))
        )
    return names


autosummary_context = {"reexported": _reexported_names("radiounet")}


def setup(app):
    app.connect("source-read", _link_to_site_pages)
