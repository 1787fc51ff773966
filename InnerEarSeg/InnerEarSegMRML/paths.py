"""Where the module's files are, both in an installed extension and in a source checkout."""
from __future__ import annotations

import sys
from pathlib import Path

#: The module folder (holds InnerEarSeg.py); in an installed extension also InnerEarSegLib/.
MODULE_DIR = Path(__file__).resolve().parent.parent
TERMINOLOGY_PATH = MODULE_DIR / "Resources" / "Terminology" / "InnerEarSeg.term.json"
SAMPLE_DATA_NAME = "InnerEarPhantom_ct.nrrd"


def _roots() -> tuple[Path, ...]:
    # Installed: the library and Resources/Models sit beside the module files. Source checkout: the
    # repository root, one level up.
    return (MODULE_DIR, MODULE_DIR.parent)


def ensureLibraryImportable() -> Path:
    """Make ``InnerEarSegLib`` importable and return the folder that holds it (nothing is installed).

    When the module is loaded from a source checkout through "Additional module paths", the
    repository root is put on ``sys.path``.
    """
    for root in _roots():
        if (root / "InnerEarSegLib" / "__init__.py").is_file():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return root
    import InnerEarSegLib  # installed with pip

    return Path(InnerEarSegLib.__file__).resolve().parent.parent


def resourceFile(*parts: str) -> Path | None:
    """First existing ``Resources/<parts>`` of the installed module or of the source checkout."""
    for root in _roots():
        candidate = root.joinpath("Resources", *parts)
        if candidate.exists():
            return candidate
    return None


def sampleDataPath() -> Path | None:
    """The bundled phantom CT registered with the Sample Data module, if present."""
    return resourceFile("SampleData", SAMPLE_DATA_NAME)


def sampleDataSha256() -> str | None:
    """SHA-256 of the sample CT as recorded when it was made (``InnerEarPhantom.json``), not recomputed,
    so that Sample Data verifies the shipped file against what the project published."""
    import json

    sidecar = resourceFile("SampleData", "InnerEarPhantom.json")
    if sidecar is None:
        return None
    return json.loads(sidecar.read_text(encoding="utf-8")).get("sha256", {}).get(SAMPLE_DATA_NAME)
