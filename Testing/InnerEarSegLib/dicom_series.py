"""Write a CT volume as a DICOM CT series (one file per slice) with SimpleITK, for tests of the DICOM path."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's root, used for test UIDs


def write_ct_series(ct: sitk.Image, folder: Path, *, seed: int = 0, patient_id: str = "PHANTOM") -> dict[str, str]:
    """Write `ct` (HU, int16 range) into `folder` as ``slice_NNNN.dcm``; return the UIDs used."""
    rng = np.random.default_rng(seed)
    uid = lambda: UID_ROOT + ".".join(str(int(v)) for v in rng.integers(1, 2**31, 3))  # noqa: E731
    uids = {"study": uid(), "series": uid(), "frame_of_reference": uid()}
    folder.mkdir(parents=True, exist_ok=True)
    image = sitk.Cast(ct, sitk.sitkInt16)
    direction = image.GetDirection()
    orientation = "\\".join(f"{v:.6f}" for v in (direction[0], direction[3], direction[6],
                                                    direction[1], direction[4], direction[7]))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    common = {"0008|0060": "CT", "0008|0016": CT_IMAGE_STORAGE, "0020|000d": uids["study"],
              "0020|000e": uids["series"], "0020|0052": uids["frame_of_reference"], "0010|0010": "Phantom^Inner Ear",
              "0010|0020": patient_id, "0010|0030": "19700101", "0010|0040": "O", "0008|0020": "20260101",
              "0008|0030": "120000", "0020|0010": "1", "0008|0050": "ACC1", "0008|0090": "",
              "0020|0011": "1", "0020|0037": orientation, "0028|1052": "0", "0028|1053": "1",
              "0008|103e": "phantom CT", "0018|0050": f"{image.GetSpacing()[2]:.6f}"}
    for k in range(image.GetDepth()):
        slice_ = image[:, :, k]
        for tag, value in common.items():
            slice_.SetMetaData(tag, value)
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        slice_.SetMetaData("0020|0032", "\\".join(f"{v:.6f}" for v in position))
        slice_.SetMetaData("0020|0013", str(k + 1))
        slice_.SetMetaData("0008|0018", uid())
        writer.SetFileName(str(folder / f"slice_{k:04d}.dcm"))
        writer.Execute(slice_)
    return uids
