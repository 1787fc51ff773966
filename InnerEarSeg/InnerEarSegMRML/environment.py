"""The environment of the segmentation process: Slicer's startup environment, plus the library's path.

Inside Slicer, ``os.environ`` holds what the Slicer launcher added for the application itself (its
``PYTHONPATH``, ``LD_LIBRARY_PATH``, Qt plugin paths, ...). ``PythonSlicer`` is a launcher too and sets up
its own, so the child starts from the environment Slicer was started with
(``slicer.util.startupEnvironment()``), as TotalSegmentator and MONAIAuto3DSeg do through
``slicer.util.launchConsoleProcess``. Outside Slicer (tests, scripts) that is this process's environment.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def startupEnvironment(slicerModule=None) -> dict[str, str]:
    """Slicer's startup environment when running inside the Slicer application, else ``os.environ``."""
    if slicerModule is None:
        import slicer as slicerModule
    app = getattr(slicerModule, "app", None)
    if app is not None and hasattr(app, "startupEnvironment"):
        import slicer.util

        return dict(slicer.util.startupEnvironment())
    return dict(os.environ)


def childEnvironment(base: Mapping[str, str], libraryRoot: Path) -> dict[str, str]:
    """`base` with `libraryRoot` first on ``PYTHONPATH`` and unbuffered output (progress lines arrive at once)."""
    env = dict(base)
    paths = [str(libraryRoot)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
