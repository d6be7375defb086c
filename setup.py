"""Package discovery for setuptools (the rest of the configuration is in pyproject.toml).

The engine's source lives in engine/ and imports as ``diffproxy``; pyproject.toml's
``packages.find`` cannot rename what it finds, so every package under engine/ is found here and
given its ``diffproxy.`` name. A new sub-package is then installed without editing a list.
"""

from setuptools import find_packages, setup

setup(packages=["diffproxy", *(f"diffproxy.{p}" for p in find_packages("engine"))])
