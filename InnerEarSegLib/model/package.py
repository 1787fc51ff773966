"""Model packages: safetensors weights plus a JSON manifest, verified by SHA-256 before use.

A package is ``<name>.safetensors`` with a sibling ``<name>.json`` (the manifest). ``path`` may name
either file, or a folder that holds exactly one such pair. Weights are never unpickled: only
safetensors is read.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..atomic_write import write_bytes_atomic
from ..errors import ModelError
from ..labels import BACKGROUND_CLASS, class_structures, class_to_label_lut

#: Manifest format understood by this loader. 2: ``settings_sha256`` covers every field that changes the result.
FORMAT_VERSION = 2
#: Manifest fields that change what the model produces; each is checksummed in ``settings_sha256``.
RESULT_FIELDS = ("architecture", "architecture_params", "labels", "spacing_mm", "box_size_vox", "normalisation",
                 "weights_sha256")
_ARCHITECTURES = ("unet3d", "mpunet")


@dataclass(frozen=True)
class ModelManifest:
    """What a model is, what it expects and how well it did.

    Parameters
    ----------
    name, version : str
        Model name (also the file stem) and version string.
    architecture : str
        ``"unet3d"`` or ``"mpunet"``; selects the predictor (see :mod:`.predictor`).
    architecture_params : dict
        Keyword parameters of the architecture (e.g. ``UNet3DParams`` fields).
    labels : dict[int, str]
        Class index -> name: ``{0: "background", 1: "cochlea", ...}`` or ``{0: "background", 1: "labyrinth"}``.
        With more than one foreground class every name must be a structure of the catalogue
        (:data:`InnerEarSegLib.labels.CATALOGUE`); classes are mapped to structures by name.
    spacing_mm : float
        Isotropic voxel spacing of the input box, in mm.
    box_size_vox : int
        Edge of the cubic input box, in voxels.
    normalisation : dict
        Intensity normalisation (see :func:`.intensity.normalise_hu`), e.g.
        ``{"method": "clip_zscore", "clip_hu": [-1000, 3000]}``.
    weights_sha256 : str
        Hex SHA-256 of the weights file; filled in by :func:`save_model_package`.
    weights_file : str
        File name of the weights, relative to the manifest.
    training : dict
        Provenance: command, data, time taken, per-epoch log summary.
    accuracy : dict
        Measured accuracy (e.g. validation Dice per structure) and how it was measured.
    settings_sha256 : dict
        Field name -> hex SHA-256 of the canonical JSON of each of :data:`RESULT_FIELDS`; filled in by
        :func:`save_model_package` (or :func:`seal_manifest`) and verified by the loader, so an edited
        ``spacing_mm`` is refused like edited weights.
    format_version : int
        Manifest format; the loader refuses newer formats.
    """

    name: str
    version: str
    architecture: str
    architecture_params: dict
    labels: dict
    spacing_mm: float
    box_size_vox: int
    normalisation: dict
    weights_sha256: str = ""
    weights_file: str = ""
    training: dict = field(default_factory=dict)
    accuracy: dict = field(default_factory=dict)
    settings_sha256: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def is_binary(self) -> bool:
        """True for a background/labyrinth model (structures are split later)."""
        return self.n_classes == 2

    def class_to_label(self) -> np.ndarray:
        """Look-up table class index -> per-ear structure label, by class *name* (never by position).

        Raises
        ------
        ModelError : for a binary model (it has no structure classes) or a class the catalogue lacks.
        """
        if self.is_binary:
            raise ModelError(f"model {self.name} is a binary labyrinth model; it has no structure classes")
        try:
            return class_to_label_lut(self.labels)
        except ValueError as exc:
            raise ModelError(f"model {self.name}: {exc}") from None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["labels"] = {str(k): v for k, v in sorted(self.labels.items())}
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "manifest") -> "ModelManifest":
        """Validate and build a manifest; raises :class:`ModelError` naming `source` on any problem."""
        if not isinstance(data, Mapping):
            raise ModelError(f"{source}: the manifest must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        missing = sorted(required - set(data))
        if missing:
            raise ModelError(f"{source}: manifest lacks the fields {missing}; it is not an InnerEarSeg model manifest")
        version = int(data.get("format_version", FORMAT_VERSION))
        if version > FORMAT_VERSION:
            raise ModelError(f"{source}: manifest format {version} is newer than this InnerEarSeg understands "
                             f"({FORMAT_VERSION}); update InnerEarSegLib")
        if data["architecture"] not in _ARCHITECTURES:
            raise ModelError(f"{source}: unknown architecture {data['architecture']!r}; expected one of {_ARCHITECTURES}")
        try:
            labels = {int(k): str(v) for k, v in dict(data["labels"]).items()}
        except (TypeError, ValueError):
            raise ModelError(f"{source}: 'labels' must map class indices to names, got {data['labels']!r}") from None
        if sorted(labels) != list(range(len(labels))) or len(labels) < 2 or labels[0] != BACKGROUND_CLASS:
            raise ModelError(f"{source}: 'labels' must be 0..N-1 with 0 = {BACKGROUND_CLASS!r}, got {labels}")
        if len(labels) > 2:
            try:
                class_structures(labels)
            except ValueError as exc:
                raise ModelError(f"{source}: 'labels': {exc}") from None
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs.update(labels=labels, spacing_mm=float(data["spacing_mm"]), box_size_vox=int(data["box_size_vox"]),
                      format_version=version)
        return cls(**kwargs)


@dataclass(frozen=True)
class LoadedModel:
    """A verified package: the manifest and the weights as CPU tensors (name -> ``torch.Tensor``)."""

    manifest: ModelManifest
    tensors: dict
    weights_path: Path
    manifest_path: Path


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def settings_digests(manifest_dict: Mapping[str, Any]) -> dict[str, str]:
    """SHA-256 of the canonical JSON (sorted keys, no spaces) of each of :data:`RESULT_FIELDS`."""
    return {name: hashlib.sha256(json.dumps(manifest_dict.get(name), sort_keys=True, separators=(",", ":"))
                                 .encode()).hexdigest() for name in RESULT_FIELDS}


def _sealed(manifest: ModelManifest) -> ModelManifest:
    return dataclasses.replace(manifest, settings_sha256=settings_digests(manifest.to_dict()),
                               format_version=FORMAT_VERSION)


def seal_manifest(path: str | os.PathLike) -> ModelManifest:
    """Recompute ``settings_sha256`` of a manifest whose weights pass their checksum, and rewrite it.

    For a manifest made before format 2, or after a deliberate, checked edit of a setting. Run as
    ``python -m InnerEarSegLib.model.package seal MODEL.json``.
    """
    path = Path(path)
    manifest = read_manifest(path)
    weights = path.parent / (manifest.weights_file or path.with_suffix(".safetensors").name)
    if sha256_file(weights) != manifest.weights_sha256:
        raise ModelError(f"{weights} fails its checksum; only a package with intact weights can be sealed")
    sealed = _sealed(manifest)
    write_bytes_atomic(path, (json.dumps(sealed.to_dict(), indent=2) + "\n").encode())
    return sealed


def _check_settings(manifest: ModelManifest, manifest_path: Path) -> None:
    stored = manifest.settings_sha256 or {}
    if not stored:
        raise ModelError(f"model manifest {manifest_path} has no checksum of its settings (made before manifest "
                         f"format 2), so an edited spacing or label list would go unnoticed. Check its fields and "
                         f"seal it: python -m InnerEarSegLib.model.package seal {manifest_path}")
    actual = settings_digests(manifest.to_dict())
    changed = [name for name in RESULT_FIELDS if stored.get(name) != actual[name]]
    if changed:
        raise ModelError(f"model manifest {manifest_path} was edited after the package was made: "
                         f"{', '.join(changed)} no longer match{'es' if len(changed) == 1 else ''} the checksum. "
                         f"These settings change the result (e.g. a wrong spacing_mm scales every volume); restore "
                         f"the original manifest or reinstall the model package.")


def save_model_package(path: str | os.PathLike, tensors: Mapping[str, Any], manifest: ModelManifest) -> ModelManifest:
    """Write ``<stem>.safetensors`` and ``<stem>.json`` atomically; returns the manifest as written.

    Parameters
    ----------
    path : path-like
        Target ``.safetensors`` file (its ``.json`` sibling is written next to it).
    tensors : mapping of str to torch.Tensor
        The network's state dict.
    manifest : ModelManifest
        Everything but ``weights_sha256``/``weights_file``, which are filled in here.
    """
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"path must end in .safetensors, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # One metadata entry: safetensors writes its metadata map in no fixed order, so two entries would give the
    # same weights different checksums from one save to the next.
    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                metadata={"model": f"{manifest.name} {manifest.version}"})
    written = _sealed(dataclasses.replace(manifest, weights_sha256=hashlib.sha256(data).hexdigest(),
                                          weights_file=path.name))
    write_bytes_atomic(path, data)
    write_bytes_atomic(path.with_suffix(".json"), (json.dumps(written.to_dict(), indent=2) + "\n").encode())
    return written


def _resolve_paths(path: Path) -> tuple[Path, Path]:
    """(weights, manifest) for a .safetensors file, a .json manifest or a folder holding one pair."""
    if path.is_dir():
        candidates = sorted(path.glob("*.safetensors"))
        if len(candidates) != 1:
            raise ModelError(f"model folder {path} must hold exactly one .safetensors file, found {len(candidates)}; "
                             "pass the .safetensors file itself")
        path = candidates[0]
    if path.suffix == ".json":
        return path.with_suffix(".safetensors"), path
    if path.suffix != ".safetensors":
        raise ModelError(f"model path {path} must be a .safetensors file, its .json manifest or a folder; "
                         "weights in other formats (e.g. pickled .pt/.pth) are refused for safety")
    return path, path.with_suffix(".json")


def read_manifest(path: str | os.PathLike) -> ModelManifest:
    """Read and validate a manifest without touching the weights."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model manifest {path} not found; a model package needs <name>.safetensors "
                         "and <name>.json side by side") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model manifest {path} cannot be read ({exc}); restore it from the package") from None
    return ModelManifest.from_dict(data, source=str(path))


def load_model_package(path: str | os.PathLike) -> LoadedModel:
    """Load a package after verifying the weights' SHA-256 against the manifest.

    Raises
    ------
    ModelError
        If a file is missing, the manifest is invalid, the checksum differs (corrupt or tampered
        weights) or the weights are not valid safetensors. The message names the file and what to do.
    """
    from safetensors.torch import load

    weights_path, manifest_path = _resolve_paths(Path(path))
    manifest = read_manifest(manifest_path)
    if Path(path).suffix != ".safetensors" and manifest.weights_file:
        weights_path = manifest_path.parent / manifest.weights_file  # an explicit weights path wins (renamed copies)
    try:
        data = weights_path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model weights {weights_path} not found (named by {manifest_path}); "
                         "restore the .safetensors file next to its manifest") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != manifest.weights_sha256:
        raise ModelError(f"model weights {weights_path} fail the checksum: SHA-256 {actual[:16]}... but the manifest "
                         f"{manifest_path.name} expects {manifest.weights_sha256[:16] or '(none)'}...; the file is "
                         "corrupt or was modified. Reinstall the model package or retrain with `innerear-seg train`.")
    _check_settings(manifest, manifest_path)
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises its own SafetensorError / ValueError types
        raise ModelError(f"model weights {weights_path} are not valid safetensors ({exc}); reinstall the package") from None
    return LoadedModel(manifest, tensors, weights_path, manifest_path)


if __name__ == "__main__":  # python -m InnerEarSegLib.model.package seal MODEL.json
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "seal":
        sys.exit("usage: python -m InnerEarSegLib.model.package seal MODEL.json")
    try:
        sealed = seal_manifest(sys.argv[2])
    except ModelError as exc:
        sys.exit(f"error: {exc}")
    print(f"sealed {sys.argv[2]}: {', '.join(RESULT_FIELDS)}")
