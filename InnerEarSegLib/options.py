"""The one typed parameter object of a segmentation job, shared by the API, the CLI, Slicer and the report."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .labels import Side
from .postprocess import PostprocessOptions

MESH_FORMATS = ("stl", "obj", "ply", "vtp")

#: The seed paper's post-processing exactly: Gaussian sigma 2.5 voxels, Otsu on 256 bins, islands removed.
PAPER_POSTPROCESS = PostprocessOptions()

#: The default here: the paper's recipe with sigma 0.5 voxel (0.15 mm on the model grid). The paper's
#: 2.5 voxels (0.75 mm here) is wider than a canal's lumen radius and erases the canals on our 0.3 mm
#: grid; 1.0 voxel still cost the bundled model 0.02-0.03 Dice on every structure, 0.5 voxel is as good
#: as no Gaussian (benchmarks/evaluate_engine.py --sigma, docs/accuracy.md). Pass PAPER_POSTPROCESS
#: (CLI: --sigma 2.5) for the paper's setting.
DEFAULT_POSTPROCESS = PostprocessOptions(sigma_vox=0.5)
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class RoiHint:
    """A user-given ear centre (LPS, mm) that replaces automatic location for that ear."""

    centre_lps_mm: tuple[float, float, float]
    side: Side | None = None  # None: decided from the image mid-line


@dataclass(frozen=True)
class SegmentOptions:
    """Everything that changes what :func:`InnerEarSegLib.segment` does.

    Parameters
    ----------
    model_path : path of a model package (``.safetensors`` with its ``.json`` manifest); None = bundled model.
    device : ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    roi : user-given ear centres; when given, automatic location is skipped.
    postprocess : post-processing switches (default :data:`DEFAULT_POSTPROCESS`).
    meshes : build one closed surface per structure and ear.
    mesh_format : file format of the meshes written by the CLI.
    allow_thick_slices : segment a scan whose slices are thicker than the input policy allows
        (:data:`InnerEarSegLib.gate.MAX_SLICE_MM`); every result is then marked low resolution.
    """

    model_path: Path | None = None
    device: str = "auto"
    roi: tuple[RoiHint, ...] = ()
    postprocess: PostprocessOptions = DEFAULT_POSTPROCESS
    meshes: bool = True
    mesh_format: str = "stl"
    allow_thick_slices: bool = False

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.mesh_format not in MESH_FORMATS:
            raise ValueError(f"mesh_format must be one of {MESH_FORMATS}, got {self.mesh_format!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model_path"] = str(self.model_path) if self.model_path else None
        d["roi"] = [{"centre_lps_mm": list(r.centre_lps_mm), "side": r.side.value if r.side else None}
                    for r in self.roi]
        return d
