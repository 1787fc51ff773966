"""First-run dependency handling of the Slicer module, with Slicer's installers replaced by recorders."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "InnerEarSeg"))

from InnerEarSegMRML.dependencies import (DependencyError, SKIPPED_PACKAGES, ensurePackages,  # noqa: E402
                                          ensureTorch, missingRequirements)

REQUIREMENTS = REPO / "InnerEarSeg" / "Resources" / "requirements.txt"


def test_the_shipped_requirements_never_list_slicers_own_packages_or_pins():
    lines = [ln.split("#")[0].strip() for ln in REQUIREMENTS.read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    names = {ln.split(">=")[0].strip().lower() for ln in lines}
    assert lines and all(">=" in ln and "==" not in ln for ln in lines)
    assert not names & {"torch", "simpleitk", "numpy", "vtk"}


def test_missing_requirements_are_those_absent_or_too_old(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("numpy>=1.0\nscipy>=999\ninnerearseg-no-such-package>=1\ntorch>=1\nSimpleITK>=1\n# comment\n")
    assert missingRequirements(req) == ["scipy>=999", "innerearseg-no-such-package>=1"]


def test_slicer_5_11_installs_through_pip_ensure_skipping_torch_and_simpleitk():
    calls = []
    packaging = types.SimpleNamespace(load_requirements=lambda path: ["loaded:" + Path(path).name],
                                      pip_ensure=lambda reqs, **kw: calls.append((reqs, kw)))
    ensurePackages(REQUIREMENTS, packaging=packaging)
    assert calls == [(["loaded:requirements.txt"],
                      {"skip_packages": list(SKIPPED_PACKAGES), "requester": "InnerEarSeg"})]


def test_older_slicer_asks_once_and_installs_only_what_is_missing(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("numpy>=1.0\ninnerearseg-no-such-package>=1\n")
    asked, installed = [], []
    ensurePackages(req, packaging=types.SimpleNamespace(), confirm=lambda text: asked.append(text) or True,
                   pipInstall=installed.append)
    assert len(asked) == 1 and "innerearseg-no-such-package" in asked[0]
    assert installed == [["innerearseg-no-such-package>=1"]]


def test_a_declined_or_failed_install_says_what_is_missing_and_how_to_fix_it(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("innerearseg-no-such-package>=1\n")
    with pytest.raises(DependencyError, match="declined: innerearseg-no-such-package>=1"):
        ensurePackages(req, packaging=types.SimpleNamespace(), confirm=lambda text: False)

    def broken_pip(requirements):
        raise RuntimeError("pip: no matching distribution")

    with pytest.raises(DependencyError, match="(?s)requirements.txt failed: pip: no matching.*internet"):
        ensurePackages(req, packaging=types.SimpleNamespace(), confirm=lambda text: True, pipInstall=broken_pip)


def fake_import(available: dict):
    def import_module(name):
        if name in available:
            return available[name]
        raise ImportError(name)
    return import_module


def test_torch_comes_from_the_pytorch_extension_with_confirmation():
    calls = []

    class Logic:
        def torchInstalled(self):
            return False

        def installTorch(self, **kwargs):
            calls.append(kwargs)
            return object()

    ensureTorch(importModule=fake_import({"PyTorchUtils": types.SimpleNamespace(PyTorchUtilsLogic=Logic)}))
    assert calls and calls[0]["askConfirmation"] is True


def test_missing_pytorch_extension_or_declined_torch_is_a_clear_error():
    with pytest.raises(DependencyError, match="Extensions Manager, install 'PyTorch'"):
        ensureTorch(importModule=fake_import({}))

    class Declined:
        def torchInstalled(self):
            return False

        def installTorch(self, **kwargs):
            return None

    with pytest.raises(DependencyError, match="PyTorch was not installed"):
        ensureTorch(importModule=fake_import({"PyTorchUtils": types.SimpleNamespace(PyTorchUtilsLogic=Declined)}))


def test_the_dependency_report_lists_torch_and_each_package_with_its_installed_version(tmp_path):
    from importlib.metadata import version

    from InnerEarSegMRML.dependencies import packageStatuses

    req = tmp_path / "requirements.txt"
    req.write_text("scipy>=1.0\ninnerearseg-no-such-package>=1\nnumpy>=1\ntorch>=1\n")
    statuses = {s.name: s for s in packageStatuses(req)}
    assert list(statuses) == ["torch", "scipy", "innerearseg-no-such-package"]  # Slicer's numpy is not ours
    assert statuses["scipy"].installed == version("scipy") and statuses["scipy"].satisfied
    missing = statuses["innerearseg-no-such-package"]
    assert missing.installed is None and missing.describe().startswith("MISSING: innerearseg-no-such-package>=1")
    assert "PyTorch extension" in statuses["torch"].describe()


def test_force_reinstall_touches_only_the_listed_packages_never_their_dependencies(tmp_path):
    from InnerEarSegMRML.dependencies import pipInstallArguments, reinstallableRequirements

    req = tmp_path / "requirements.txt"
    req.write_text("scipy>=1.0\nsafetensors>=0.4\n")
    arguments = pipInstallArguments(reinstallableRequirements(req), force=True)
    assert arguments[:3] == ["-m", "pip", "install"] and {"--force-reinstall", "--no-deps"} <= set(arguments)
    assert arguments[-2:] == ["scipy>=1.0", "safetensors>=0.4"] and not any("torch" in a for a in arguments)
    with pytest.raises(ValueError, match="no requirements"):
        pipInstallArguments([])
