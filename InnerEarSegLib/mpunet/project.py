"""Read a MultiPlanarUNet project folder (what the seed paper published) with PyYAML, NumPy and h5py.

Expected layout::

    PROJECT/train_hparams.yaml                          build: and fit: sections, __VERSION__
    PROJECT/views.npz                                   arr_0: (n_views, 3) unit vectors (RAS)
    PROJECT/model/@epoch_XX_val_dice_0.YYYYY.h5         U-Net checkpoints (best = highest score)
    PROJECT/model/fusion_weights/<best>_fusion_weights.h5

Every missing or inconsistent file raises :class:`~InnerEarSegLib.errors.ModelError` naming it.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .sampling import SUPPORTED_SCALERS

log = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"@epoch_(\d+)_val_dice_(\d+(?:\.\d+)?)\.h5")

#: First mpunet version whose scaler is fitted on all voxels (earlier: only above the background).
SCALER_ALL_VOXELS_SINCE = (0, 2, 6)


@dataclass(frozen=True)
class MPUNetProject:
    """Everything needed to rebuild and run an mpunet model; paths are the files actually used."""

    root: Path
    n_classes: int
    n_channels: int
    dim: int
    depth: int
    complexity_factor: float
    out_activation: str
    real_space_span_mm: float
    bg_value: str | float
    scaler: str | None
    scaler_fit_above_bg: bool
    version: str | None
    views_ras: np.ndarray
    weights_path: Path
    fusion_path: Path | None


def parse_version(text) -> tuple[int, ...] | None:
    """``'0.2.12'`` -> ``(0, 2, 12)``; None when absent or unparsable."""
    if text is None:
        return None
    m = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", str(text))
    return tuple(int(g or 0) for g in m.groups()) if m else None


def best_checkpoint(model_dir: Path) -> Path:
    """The ``@epoch_XX_val_dice_S.h5`` with the highest S (parsed from the basename only).

    Falls back to ``model_weights.h5`` (the last epoch) with a warning, like mpunet.
    """
    if not model_dir.is_dir():
        raise ModelError(f"mpunet project: model folder {model_dir} not found")
    scored = []
    for p in model_dir.glob("@epoch*.h5"):
        m = _CHECKPOINT.fullmatch(p.name)
        if m:
            scored.append((float(m.group(2)), int(m.group(1)), p))
        else:
            log.warning("ignoring %s: not named @epoch_XX_val_dice_S.h5", p)
    if scored:
        return max(scored)[2]
    last = model_dir / "model_weights.h5"
    if last.is_file():
        log.warning("no @epoch_XX_val_dice_S.h5 checkpoint in %s; using the last epoch's %s", model_dir, last)
        return last
    raise ModelError(f"mpunet project: no U-Net weights in {model_dir} (expected "
                     "@epoch_XX_val_dice_0.YYYYY.h5 or model_weights.h5)")


def _require(section: dict, key: str, where: str):
    if key not in section or section[key] is None:
        raise ModelError(f"{where}: '{key}' is missing or null")
    return section[key]


def _read_hparams(path: Path) -> dict:
    import yaml

    if not path.is_file():
        raise ModelError(f"mpunet project: {path} not found")
    try:
        hp = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ModelError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(hp, dict) or not isinstance(hp.get("build"), dict) or not isinstance(hp.get("fit"), dict):
        raise ModelError(f"{path}: expected 'build:' and 'fit:' sections")
    return hp


def _read_views(path: Path, n_views_hparams) -> np.ndarray:
    if not path.is_file():
        raise ModelError(f"mpunet project: {path} not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            views = np.asarray(npz["arr_0"], dtype=np.float64)
    except (KeyError, ValueError, OSError) as exc:
        raise ModelError(f"{path}: cannot read key 'arr_0' ({exc})") from exc
    if views.ndim != 2 or views.shape[1] != 3 or len(views) == 0 or not np.all(np.isfinite(views)):
        raise ModelError(f"{path}: arr_0 must be (n_views, 3) finite vectors, got shape {views.shape}")
    if np.any(np.linalg.norm(views, axis=1) < 1e-6):
        raise ModelError(f"{path}: a view vector has zero length")
    if isinstance(n_views_hparams, int) and n_views_hparams != len(views):
        raise ModelError(f"{path} has {len(views)} views but train_hparams.yaml fit.views says {n_views_hparams}")
    return views / np.linalg.norm(views, axis=1, keepdims=True)


def read_project(root: str | Path, *, sum_fusion: bool = False) -> MPUNetProject:
    """Read and check an mpunet project folder (no weights are loaded yet).

    Parameters
    ----------
    root : path
        The project folder.
    sum_fusion : bool
        Do not require the fusion weights (sum the views instead, mpunet's ``--sum_fusion``).

    Raises
    ------
    ModelError
        Naming the missing or inconsistent file and key.
    """
    root = Path(root)
    if not root.is_dir():
        raise ModelError(f"mpunet project folder {root} not found")
    hp_path = root / "train_hparams.yaml"
    hp = _read_hparams(hp_path)
    build, fit = hp["build"], hp["fit"]
    where_b, where_f = f"{hp_path} build", f"{hp_path} fit"
    model_class = build.get("model_class_name", "UNet")
    if model_class != "UNet":
        raise ModelError(f"{where_b}: model_class_name {model_class!r} is not supported (only 'UNet', the 2-D "
                         "multi-planar model)")
    out_activation = build.get("out_activation", "softmax")
    if out_activation != "softmax":
        raise ModelError(f"{where_b}: out_activation {out_activation!r} is not supported (only 'softmax')")
    scaler = fit.get("scaler", "RobustScaler")
    if scaler not in SUPPORTED_SCALERS:
        raise ModelError(f"{where_f}: scaler {scaler!r} is not supported; supported: {SUPPORTED_SCALERS}")
    version = hp.get("__VERSION__")
    parsed = parse_version(version)
    if parsed is None:
        log.warning("%s: __VERSION__ is %r; assuming mpunet >= 0.2.6 (scaler fitted on all voxels)",
                    hp_path, version)
    dim = int(_require(build, "dim", where_b))
    depth = int(build.get("depth", 4))
    if dim % (2 ** depth):
        raise ModelError(f"{where_b}: dim {dim} is not divisible by 2**depth = {2 ** depth}")
    views = _read_views(root / "views.npz", fit.get("views"))
    weights = best_checkpoint(root / "model")
    fusion = root / "model" / "fusion_weights" / f"{weights.stem}_fusion_weights.h5"
    if not sum_fusion and not fusion.is_file():
        raise ModelError(f"mpunet project: fusion weights {fusion} not found (they belong to the chosen "
                         f"checkpoint {weights.name}); train them or import with sum fusion")
    return MPUNetProject(
        root=root, n_classes=int(_require(build, "n_classes", where_b)),
        n_channels=int(build.get("n_channels") or 1), dim=dim, depth=depth,
        complexity_factor=float(build.get("complexity_factor", 1)), out_activation=out_activation,
        real_space_span_mm=float(_require(fit, "real_space_span", where_f)),
        bg_value=fit.get("bg_value", "1pct") if fit.get("bg_value") not in (None, False) else "1pct",
        scaler=scaler, scaler_fit_above_bg=parsed is not None and parsed < SCALER_ALL_VOXELS_SINCE,
        version=None if version is None else str(version), views_ras=views, weights_path=weights,
        fusion_path=None if sum_fusion else fusion)
