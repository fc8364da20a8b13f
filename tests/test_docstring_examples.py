"""The examples in the package's docstrings run and print what they say (a notebook user copies them)."""

import doctest
import importlib
import pkgutil

import radiounet


def test_the_examples_in_the_docstrings_run_as_written():
    failed, attempted = [], 0
    for info in pkgutil.walk_packages(radiounet.__path__, "radiounet."):
        module = importlib.import_module(info.name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        attempted += result.attempted
        if result.failed:
            failed.append(f"{info.name}: {result.failed} of {result.attempted}")
    assert attempted >= 30, f"only {attempted} docstring examples found: the walk over the package went wrong"
    assert not failed, "docstring examples that fail (their output above): " + "; ".join(failed)
