"""The one typed parameter object of a segmentation job, shared by the API, the CLI, Slicer and the report.

:class:`SegmentOptions` is the owner: the ``innerear-seg segment`` arguments are parsed into it
(:func:`InnerEarSegLib.cli.segment.options_from_args`) and written back from it
(:meth:`SegmentOptions.cli_arguments`, which the Slicer module's ``SegmentationParameters`` uses to
start the process); a test holds the two to a round trip. What only concerns the files written (mesh
format, preview) is not here: it is an argument of :func:`InnerEarSegLib.outputs.write_outputs`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .labels import Side
from .model.device import DEVICE_CHOICES, parse_device
from .postprocess import PostprocessOptions

__all__ = ["SegmentOptions", "RoiHint", "DEFAULT_SIGMA_VOX", "DEFAULT_POSTPROCESS", "PAPER_POSTPROCESS",
           "DEVICE_CHOICES"]

#: The seed paper's post-processing exactly: Gaussian sigma 2.5 voxels, Otsu on 256 bins, islands removed.
PAPER_POSTPROCESS = PostprocessOptions()

#: Default Gaussian sigma, in voxels of the model grid -- the one place it is stated. The paper's
#: 2.5 voxels (0.75 mm on our 0.3 mm grid) is wider than a canal's lumen radius and erases the canals;
#: 1.0 voxel still cost the bundled model 0.02-0.03 Dice on every structure, 0.5 voxel is as good as no
#: Gaussian (benchmarks/evaluate_engine.py --sigma, docs/accuracy.md). CLI ``--sigma 2.5`` (or
#: :data:`PAPER_POSTPROCESS`) gives the paper's setting.
DEFAULT_SIGMA_VOX = 0.5
#: The default post-processing: the paper's recipe with :data:`DEFAULT_SIGMA_VOX`.
DEFAULT_POSTPROCESS = replace(PAPER_POSTPROCESS, sigma_vox=DEFAULT_SIGMA_VOX)


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
    device : ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``
        (:func:`~InnerEarSegLib.model.device.parse_device`).
    roi : user-given ear centres; when given, automatic location is skipped.
    postprocess : post-processing switches (default :data:`DEFAULT_POSTPROCESS`).
    meshes : build one closed surface per structure and ear.
    allow_thick_slices : segment a scan coarser than the input policy allows
        (:data:`InnerEarSegLib.gate.MAX_SPACING_MM`); every result is then marked low resolution.
    recentre : when the network's labyrinth lies 2-10 mm from the box centre, move the box onto it
        and run the network again (:func:`InnerEarSegLib.pipeline.recentred_box`).

    Raises
    ------
    DeviceError (a ValueError) : for a device name that is not one.
    """

    model_path: Path | None = None
    device: str = "auto"
    roi: tuple[RoiHint, ...] = ()
    postprocess: PostprocessOptions = DEFAULT_POSTPROCESS
    meshes: bool = True
    allow_thick_slices: bool = False
    recentre: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", parse_device(self.device))
        object.__setattr__(self, "roi", tuple(self.roi))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model_path"] = str(self.model_path) if self.model_path else None
        d["roi"] = [{"centre_lps_mm": list(r.centre_lps_mm), "side": r.side.value if r.side else None}
                    for r in self.roi]
        return d

    def cli_arguments(self) -> list[str]:
        """The ``innerear-seg segment`` options that reproduce these options (defaults left out).

        Only switches the CLI has are written; post-processing fields without a flag must keep their
        defaults (a ValueError names the first one that does not).

        >>> SegmentOptions(device="cpu", meshes=False).cli_arguments()
        ['--device', 'cpu', '--no-meshes']
        """
        post, default = self.postprocess, DEFAULT_POSTPROCESS
        flagged = {"gaussian", "sigma_vox", "otsu", "remove_islands"}
        for name, value in asdict(post).items():
            if name not in flagged and value != getattr(default, name):
                raise ValueError(f"postprocess.{name}={value!r} has no innerear-seg segment option; "
                                 f"only {sorted(flagged)} can be passed to the CLI")
        args = ["--model", str(self.model_path)] if self.model_path else []
        args += [] if self.device == "auto" else ["--device", self.device]
        for roi in self.roi:
            args += ["--roi-center", *(repr(float(v)) for v in roi.centre_lps_mm)]
        sides = [roi.side for roi in self.roi]
        if any(sides):
            if not all(sides):
                raise ValueError("give a side for every ROI or for none (the CLI pairs --roi-side with --roi-center)")
            for side in sides:
                args += ["--roi-side", side.value]
        args += [] if post.gaussian else ["--no-gaussian"]
        args += [] if post.sigma_vox == default.sigma_vox else ["--sigma", repr(float(post.sigma_vox))]
        args += [] if post.otsu else ["--no-otsu"]
        args += [] if post.remove_islands else ["--no-islands"]
        args += [] if self.meshes else ["--no-meshes"]
        args += ["--allow-thick-slices"] if self.allow_thick_slices else []
        args += [] if self.recentre else ["--no-recentre"]
        return args
