"""Python packages the segmentation process needs inside Slicer: checked and installed on first use only.

torch comes from the PyTorch extension (``PyTorchUtilsLogic().installTorch(askConfirmation=True)``
picks the CUDA or CPU build for the machine); everything else from ``Resources/requirements.txt``
through ``slicer.packaging.pip_ensure`` (Slicer >= 5.11), or after one confirmation through
``slicer.util.pip_install`` on older Slicer. SimpleITK, numpy and vtk are Slicer's own and never
installed. Every failure raises `DependencyError` with what failed and how to fix it.

The Slicer calls are looked up when a function runs (never at import) and can be injected, so the
decisions are tested in plain Python.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TORCH_REQUIREMENT = ">=2.1"
#: Never installed with pip inside Slicer: torch comes from the PyTorch extension, the rest ship with Slicer.
SKIPPED_PACKAGES = ("SimpleITK", "torch")
_NEVER_INSTALLED = {"simpleitk", "torch", "numpy", "vtk"}


class DependencyError(RuntimeError):
    """A package the segmentation needs is missing and was not installed; the message says how to fix it."""


def ensureTorch(*, importModule: Callable = importlib.import_module) -> None:
    """Make ``import torch`` work, through the PyTorch extension (asks before downloading)."""
    try:
        importModule("torch")
        return
    except ImportError:
        pass
    try:
        pytorchUtils = importModule("PyTorchUtils")
    except ImportError:
        raise DependencyError(
            "The 'PyTorch' extension is not installed. Open View > Extensions Manager, install 'PyTorch', "
            "restart Slicer and click 'Segment inner ear' again.") from None
    logic = pytorchUtils.PyTorchUtilsLogic()
    if logic.torchInstalled():
        return
    torch = logic.installTorch(askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT)
    if torch is None:
        raise DependencyError(
            "PyTorch was not installed (declined or failed). Install it with the PyTorch Utils module "
            "(Utilities > PyTorch Utils > Install PyTorch) and try again; without an NVIDIA GPU the CPU "
            "build works too.")


@dataclass(frozen=True)
class PackageStatus:
    """One requirement and what is installed for it (version from the package metadata; nothing is imported)."""

    requirement: str
    name: str
    installed: str | None
    satisfied: bool
    note: str = ""

    def describe(self) -> str:
        found = f"{self.installed} installed" if self.installed else "not installed"
        mark = "ok" if self.satisfied else "MISSING" if self.installed is None else "TOO OLD"
        return f"{mark}: {self.requirement} ({found}{'; ' + self.note if self.note else ''})"


def _requirementLines(requirementsPath: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in Path(requirementsPath).read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def packageStatuses(requirementsPath: Path) -> list[PackageStatus]:
    """torch (from the PyTorch extension) and every requirement of `requirementsPath`, with installed versions."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    statuses = []
    listed = [line for line in _requirementLines(requirementsPath) if Requirement(line).name.lower() != "torch"]
    lines = [f"torch{TORCH_REQUIREMENT}"] + listed
    for line in lines:
        requirement = Requirement(line)
        if requirement.name.lower() in _NEVER_INSTALLED - {"torch"}:
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            installed = None
        satisfied = installed is not None and requirement.specifier.contains(installed, prereleases=True)
        note = "from the PyTorch extension" if requirement.name.lower() == "torch" else ""
        statuses.append(PackageStatus(str(requirement), requirement.name, installed, satisfied, note))
    return statuses


def missingRequirements(requirementsPath: Path) -> list[str]:
    """Requirements of `requirementsPath` that are not installed at a matching version (Slicer's own skipped)."""
    return [s.requirement for s in packageStatuses(requirementsPath) if not s.satisfied and s.name.lower() != "torch"]


def dependenciesReady(requirementsPath: Path) -> bool:
    """Whether torch and every listed package are installed at a matching version (checks only, installs nothing)."""
    return all(s.satisfied for s in packageStatuses(requirementsPath))


def pipInstallArguments(requirements: list[str], *, force: bool = False) -> list[str]:
    """Arguments after the Python executable for ``python -m pip install`` of `requirements`.

    `force` reinstalls the listed packages only (``--force-reinstall --no-deps``), so that Slicer's numpy
    and the other packages they depend on are left as they are.
    """
    if not requirements:
        raise ValueError("no requirements to install")
    return ["-m", "pip", "install", "--upgrade", *(["--force-reinstall", "--no-deps"] if force else []),
            *requirements]


def reinstallableRequirements(requirementsPath: Path) -> list[str]:
    """What "Force reinstall" reinstalls: the listed packages, never torch or Slicer's own packages."""
    return [s.requirement for s in packageStatuses(requirementsPath) if s.name.lower() != "torch"]


def ensurePackages(requirementsPath: Path, *, packaging=None, confirm: Callable[[str], bool] | None = None,
                   pipInstall: Callable[[list[str]], None] | None = None) -> None:
    """Install what `requirementsPath` lists and is missing, asking the user once.

    Parameters
    ----------
    packaging : the ``slicer.packaging`` module, or None to look it up (absent before Slicer 5.11).
    confirm, pipInstall : used on Slicer < 5.11 (defaults: ``slicer.util.confirmOkCancelDisplay``,
        ``slicer.util.pip_install``).

    Raises
    ------
    DependencyError
        Declined, or pip failed: names the packages and what to do.
    """
    requirementsPath = Path(requirementsPath)
    if packaging is None:
        import slicer

        packaging = getattr(slicer, "packaging", None)
    try:
        if packaging is not None and hasattr(packaging, "pip_ensure"):
            packaging.pip_ensure(packaging.load_requirements(str(requirementsPath)),
                                 skip_packages=list(SKIPPED_PACKAGES), requester="InnerEarSeg")
            return
        missing = missingRequirements(requirementsPath)
        if not missing:
            return
        confirm = confirm or _slicerConfirm
        if not confirm("InnerEarSeg needs these Python packages, which will be downloaded and installed now:\n\n"
                       + "\n".join(missing) + "\n\nSlicer's own packages are not changed."):
            raise DependencyError(f"Installation declined: {', '.join(missing)} are needed to segment. Click "
                                  f"'Segment inner ear' again to be asked again.")
        (pipInstall or _slicerPipInstall)(missing)
    except DependencyError:
        raise
    except Exception as exc:  # noqa: BLE001 - pip fails in many ways; say which file and why
        raise DependencyError(
            f"Installing the Python packages listed in {requirementsPath} failed: {exc}\n\nCheck the internet "
            f"connection (or proxy settings) and try again, or install them from the Python console with "
            f"slicer.util.pip_install([...]).") from exc


def _slicerConfirm(text: str) -> bool:
    import slicer

    return bool(slicer.util.confirmOkCancelDisplay(text, windowTitle="Install Python packages"))


def _slicerPipInstall(requirements: list[str]) -> None:
    import slicer

    with slicer.util.WaitCursor():
        slicer.util.pip_install(requirements)


def ensureDependencies(requirementsPath: Path) -> None:
    """torch first (PyTorch extension), then the listed packages; raises `DependencyError`."""
    ensureTorch()
    ensurePackages(requirementsPath)
