"""The whole job as one function: read -> locate -> extract -> predict -> postprocess -> place ->
surface -> assess. Writing files is separate (:mod:`InnerEarSegLib.outputs`), so the Slicer module,
the CLI and the tests share this code and decide themselves what to persist.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

from .box import BoxSpec, EarBox, array_to_box_image, make_ear_box, place_box_labels
from .gate import MAX_SPACING_MM, check_resolution
from .labels import STRUCTURES, Side, Structure, to_two_ear
from .model import default_model_path
from .options import SegmentOptions
from .progress import CancelToken, ProgressCallback, no_progress

if TYPE_CHECKING:
    from .model.predictor import BoxPredictor

log = logging.getLogger(__name__)

#: Share of the whole job (fraction at the *end* of each stage) for the progress bar.
STAGE_END_FRACTION = {"read": 0.05, "locate": 0.12, "load": 0.18, "predict": 0.70, "postprocess": 0.78,
                      "place": 0.82, "surface": 0.92, "assess": 0.98}


@dataclass(frozen=True)
class EarResult:
    """One ear: where it was found, its box, the labels on the box grid (per-ear 1-5) and what was measured."""

    side: Side
    centre_lps_mm: tuple[float, float, float]
    confidence: float
    source: str
    box: EarBox
    labels_box: np.ndarray  # uint8 (z, y, x) on the box grid, per-ear values 0-5
    volumes_mm3: dict[str, float]
    meshes: dict[str, object] = field(default_factory=dict)  # structure key -> vtkPolyData (world LPS mm)
    assessment: object | None = None  # InnerEarSegLib.assess EarAssessment
    network_confidence: object | None = None  # InnerEarSegLib.assess.trust ConfidenceMeasures (from the probabilities)
    trust: object | None = None  # InnerEarSegLib.assess.trust TrustAssessment: plausible / doubtful / implausible
    recentred_mm: float = 0.0  # how far the box moved from the located centre onto the network's labyrinth

    def labels_image(self) -> sitk.Image:
        """The per-ear labels as an image on the (possibly mirrored) box grid, in world space."""
        return array_to_box_image(self.labels_box, self.box)


@dataclass(frozen=True)
class SegmentationResult:
    """Everything :func:`segment` produced. ``label_image`` holds both ears (right 1-5, left 11-15)."""

    label_image: sitk.Image
    ears: tuple[EarResult, ...]
    timings_s: dict[str, float]
    device: str
    model: dict
    input_info: dict
    options: SegmentOptions


@contextmanager
def _timed(stage: str, timings: dict[str, float]):
    t0 = time.perf_counter()
    yield
    timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


def segment(
    image: sitk.Image | str | Path,
    options: SegmentOptions | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    *,
    predictor=None,
) -> SegmentationResult:
    """Segment both inner ears of a CT.

    Parameters
    ----------
    image : a SimpleITK image in HU, or a path (NIfTI, NRRD, MHA, or a DICOM folder).
    options : what to do (model, device, ROI, post-processing); defaults to the bundled model on ``auto``.
    progress : callback ``(stage, fraction, message)``.
    cancel : checked between stages and between ears; raises :class:`~InnerEarSegLib.progress.Cancelled`.
    predictor : an already built :class:`~InnerEarSegLib.model.predictor.BoxPredictor` (skips model
        loading; used by benchmarks, the batch runner and tests).

    Returns
    -------
    SegmentationResult

    Raises
    ------
    InputError : the image cannot be used (the message says why and what to do).
    ModelError : the model package is missing, corrupt or incompatible.
    Cancelled : the cancel token was set.
    """
    from .imageio import read_image, validate_ct

    options = options or SegmentOptions()
    cancel = cancel or CancelToken()
    timings: dict[str, float] = {}

    def report(stage: str, message: str, within: float = 1.0) -> None:
        stages = list(STAGE_END_FRACTION)
        start = STAGE_END_FRACTION[stages[stages.index(stage) - 1]] if stages.index(stage) else 0.0
        progress(stage, start + within * (STAGE_END_FRACTION[stage] - start), message)

    with _timed("read", timings):
        report("read", "reading and checking the CT", 0.0)
        source = None
        if not isinstance(image, sitk.Image):
            source = str(image)
            image = read_image(image)
        validate_ct(image)
        resolution = check_resolution(image, allow_low_resolution=options.allow_thick_slices)
    input_info = _describe_input(image, source)
    input_info.update(coarsest_spacing_mm=round(resolution.coarsest_mm, 4), low_resolution=resolution.low_resolution)
    if resolution.low_resolution:
        log.warning("low-resolution scan (%.2f mm voxels, policy <= %g mm): every result is marked low resolution",
                    resolution.coarsest_mm, MAX_SPACING_MM)
    cancel.raise_if_cancelled()

    with _timed("locate", timings):
        report("locate", "finding the inner ears", 0.0)
        locations = _locate(image, options)
        report("locate", f"found {len(locations)} ear(s): " + ", ".join(l.side.value for l in locations))
    cancel.raise_if_cancelled()

    with _timed("load", timings):
        if predictor is None:
            predictor = load_predictor(options)
        manifest = predictor.manifest
        spec = BoxSpec(size_vox=int(manifest.box_size_vox), spacing_mm=float(manifest.spacing_mm))
        report("load", f"model {manifest.name} {manifest.version} on {predictor.device}")
    cancel.raise_if_cancelled()

    boxes = [make_ear_box(loc.centre_lps_mm, loc.side, spec) for loc in locations]
    labels_per_ear, confidences, recentred_mm = [], [], []
    for i, box in enumerate(boxes):
        def ear_progress(_s, f, m, i=i):
            report("predict", m, (i + f) / len(boxes))

        with _timed("predict", timings):
            report("predict", f"{box.side.value} ear: running the network", i / len(boxes))
            probabilities = _predict(predictor, image, box, cancel, ear_progress)
        cancel.raise_if_cancelled()
        with _timed("postprocess", timings):
            labels = _postprocess_ear(probabilities, box, manifest, options)
        moved_to = recentred_box(box, labels) if options.recentre else None
        shift_mm = 0.0
        if moved_to is not None:
            # The box was centred on the locator's estimate; the network's own labyrinth says where the ear
            # is. One more pass centred there keeps a locator error of a few millimetres (a pocket merged
            # with the internal auditory canal, a heavily turned head) from reaching the labels.
            shift = float(np.linalg.norm(np.subtract(moved_to.centre_lps_mm, box.centre_lps_mm)))
            with _timed("predict", timings):
                report("predict", f"{box.side.value} ear: labyrinth {shift:.1f} mm off centre, running again",
                       (i + 0.5) / len(boxes))
                second = _predict(predictor, image, moved_to, cancel, ear_progress)
            cancel.raise_if_cancelled()
            with _timed("postprocess", timings):
                second_labels = _postprocess_ear(second, moved_to, manifest, options)
            if np.count_nonzero(second_labels) >= np.count_nonzero(labels):
                log.info("%s ear: box re-centred by %.1f mm on the network's labyrinth", box.side.value, shift)
                box, labels, probabilities, shift_mm = moved_to, second_labels, second, shift
                boxes[i] = box
            else:
                log.info("%s ear: a box %.1f mm away held less labyrinth; the located box is kept",
                         box.side.value, shift)
            del second
        with _timed("postprocess", timings):
            confidences.append(_confidence(probabilities, labels, box))
        labels_per_ear.append(labels)
        recentred_mm.append(shift_mm)
        del probabilities
    report("predict", "network done")
    report("postprocess", "Gaussian + Otsu foreground, structure labels, islands removed")
    cancel.raise_if_cancelled()

    with _timed("place", timings):
        placed = place_box_labels([(box, to_two_ear(lab, box.side)) for box, lab in zip(boxes, labels_per_ear)])
        report("place", "labels placed in world space")

    ears = []
    for loc, box, lab, conf, moved in zip(locations, boxes, labels_per_ear, confidences, recentred_mm):
        vox_mm3 = spec.spacing_mm ** 3
        volumes = {s.key: float(np.count_nonzero(lab == s) * vox_mm3) for s in STRUCTURES}
        ears.append(EarResult(loc.side, tuple(loc.centre_lps_mm), float(loc.confidence), loc.source, box, lab,
                              volumes, network_confidence=conf, recentred_mm=moved))

    if options.meshes:
        with _timed("surface", timings):
            ears = [_with_meshes(ear) for ear in ears]
            report("surface", "smoothed closed surfaces built")
        cancel.raise_if_cancelled()

    with _timed("assess", timings):
        ears = [_with_assessment(ear, binary=manifest.is_binary) for ear in ears]
        report("assess", "per-structure completeness, suggested Likert score and trust flag")

    return SegmentationResult(
        label_image=placed,
        ears=tuple(ears),
        timings_s={k: round(v, 4) for k, v in timings.items()},
        device=str(predictor.device),
        model=_model_summary(predictor),
        input_info=input_info,
        options=options,
    )


def _model_summary(predictor) -> dict:
    m = predictor.manifest
    return {"name": m.name, "version": m.version, "architecture": m.architecture,
            "sha256": m.weights_sha256, "labels": {str(k): v for k, v in m.labels.items()},
            "spacing_mm": m.spacing_mm, "box_size_vox": m.box_size_vox}


def _describe_input(image: sitk.Image, source: str | None) -> dict:
    return {
        "path": source,
        "size_xyz": list(image.GetSize()),
        "spacing_mm_xyz": [round(float(s), 6) for s in image.GetSpacing()],
        "origin_lps_mm": [round(float(s), 4) for s in image.GetOrigin()],
        "direction": [round(float(s), 6) for s in image.GetDirection()],
    }


def _locate(image: sitk.Image, options: SegmentOptions):
    from .locate import locate_ears, user_location

    if options.roi:
        return [user_location(r.centre_lps_mm, side=r.side, image=image) for r in options.roi]
    return locate_ears(image)


def load_predictor(options: SegmentOptions):
    """Load and verify the model package of `options` and build its predictor on `options.device`.

    Building once and passing the predictor to :func:`segment` (or using :class:`~InnerEarSegLib.segmenter.Segmenter`)
    saves the model loading on every further CT.

    Raises
    ------
    ModelError : the package is missing, corrupt or incompatible.
    DeviceError : CUDA was requested but is absent.
    """
    from .model.device import resolve_device
    from .model.package import load_model_package
    from .model.predictor import build_predictor as build_for_package

    loaded = load_model_package(options.model_path or default_model_path())
    return build_for_package(loaded, resolve_device(options.device))


def _predict(predictor: "BoxPredictor", image, box, cancel, progress) -> np.ndarray:
    """Run one box through a predictor (the :class:`~InnerEarSegLib.model.predictor.BoxPredictor` Protocol)."""
    return predictor.predict(image, box, cancel=cancel, progress=progress)


#: The box is moved onto the network's labyrinth when the labyrinth's centre lies farther than this from it ...
RECENTRE_MIN_MM = 2.0
#: ... and not when it lies farther than this (the labels are then not a labyrinth to trust for position).
RECENTRE_MAX_MM = 10.0
#: A first pass with less labyrinth than this gives no position to move to.
RECENTRE_MIN_LABYRINTH_MM3 = 40.0


def recentred_box(box: EarBox, labels_zyx: np.ndarray) -> EarBox | None:
    """A box centred on the bounding box of the labelled labyrinth's largest piece, or None where `box` stays.

    The locator and the training both aim the box at the labyrinth's bounding-box centre. When the first
    pass puts it 2-10 mm off, this is the box for a second pass (snapped to the global lattice); smaller
    pieces elsewhere in the box are left out. :func:`segment` keeps the second pass only if it holds at
    least as much labyrinth as the first: a box moved towards the labyrinth sees more of it, one moved on
    an incomplete first pass (whose bounding box is off centre) sees less.
    """
    from scipy import ndimage

    pieces, n = ndimage.label(labels_zyx > 0, structure=np.ones((3, 3, 3)))
    if n == 0:
        return None
    sizes = np.bincount(pieces.ravel())[1:]
    if sizes.max() * box.spec.spacing_mm ** 3 < RECENTRE_MIN_LABYRINTH_MM3:
        return None
    found = np.argwhere(pieces == 1 + int(np.argmax(sizes)))
    corners = box.index_to_lps_mm(np.stack([found.min(axis=0), found.max(axis=0)]).astype(float))
    centre = corners.mean(axis=0)
    shift = float(np.linalg.norm(centre - np.asarray(box.centre_lps_mm)))
    if not RECENTRE_MIN_MM < shift <= RECENTRE_MAX_MM:
        return None
    return make_ear_box(centre, box.side, box.spec)


def _postprocess_ear(probabilities: np.ndarray, box: EarBox, manifest, options: SegmentOptions) -> np.ndarray:
    """Per-ear labels 0-5 on the box grid; a binary (labyrinth-only) model is split into structures geometrically."""
    from .postprocess import postprocess

    classes = postprocess(probabilities, options=options.postprocess, spacing_mm=box.spec.spacing_mm)
    if manifest.is_binary:
        from .assess.split import split_labyrinth

        return split_labyrinth(classes > 0, (box.spec.spacing_mm,) * 3).astype(np.uint8)
    return manifest.class_to_label()[classes]  # class index -> structure label, by class name


def _confidence(probabilities: np.ndarray, labels: np.ndarray, box: EarBox):
    """The network's own confidence on one box (entropy, top probability, dropped and border probability)."""
    from .assess.trust import confidence_measures

    return confidence_measures(probabilities, labels, spacing_mm=box.spec.spacing_mm)


def _with_meshes(ear: EarResult) -> EarResult:
    from dataclasses import replace

    from .surface import structure_surfaces

    by_value = structure_surfaces(ear.labels_image(), {int(s): s.key for s in STRUCTURES})
    return replace(ear, meshes={Structure(v).key: mesh for v, mesh in by_value.items()})


def _with_assessment(ear: EarResult, *, binary: bool) -> EarResult:
    """Review one ear and flag its trust (a binary, labyrinth-only model's mask with the binary-mask rules)."""
    from dataclasses import replace

    from .assess import assess_ear
    from .assess.trust import assess_trust

    labels = (ear.labels_box > 0).astype(np.uint8) if binary else ear.labels_box
    spacing = (ear.box.spec.spacing_mm,) * 3
    assessment = assess_ear(labels, spacing, binary=binary, side=ear.side)
    trust = assess_trust(ear.labels_box, spacing, assessment=assessment, confidence=ear.network_confidence)
    return replace(ear, assessment=assessment, trust=trust)


__all__ = ["segment", "load_predictor", "SegmentationResult", "EarResult", "default_model_path", "Structure"]
