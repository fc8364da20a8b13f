"""The examples in the package's docstrings run and print what they say (a notebook user copies them)."""

import doctest
import importlib
import pkgutil

import pytest

import radiounet

MODULES = sorted(info.name for info in pkgutil.walk_packages(radiounet.__path__, "radiounet.")
                 if not info.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_of_each_module_run_as_written(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples fail"
