"""The .seg.nrrd that Slicer opens: names, colours, label values and geometry survive a read back."""
import numpy as np
import SimpleITK as sitk
import slicerio

from InnerEarSegLib.segfile import write_seg_nrrd


def test_seg_nrrd_round_trip_keeps_names_values_and_world_geometry(tmp_path):
    arr = np.zeros((6, 7, 8), np.uint8)
    arr[1:3, 2:4, 1:3] = 1
    arr[4, 5, 6] = 14
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.3, 0.3, 0.3))
    img.SetOrigin((10.0, -5.0, 2.0))
    img.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
    path = tmp_path / "s.seg.nrrd"
    write_seg_nrrd(img, path)

    seg = slicerio.read_segmentation(str(path))
    names = [s["name"] for s in seg["segments"]]
    assert names[:2] == ["Right cochlea", "Right vestibule"] and "Left lateral canal" in names
    lateral = next(s for s in seg["segments"] if s["name"] == "Left lateral canal")
    assert lateral["labelValue"] == 14
    voxels = seg["voxels"]  # (i, j, k)
    assert voxels[6, 5, 4] == 14 and np.count_nonzero(voxels == 1) == 8
    ijk = np.asarray(seg["ijkToLPS"])
    assert np.allclose(ijk[:3, 3], (10.0, -5.0, 2.0))
    assert np.allclose(ijk[:3, 0], (-0.3, 0, 0))  # mirrored x axis preserved
