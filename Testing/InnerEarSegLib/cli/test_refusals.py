"""``innerear-seg segment`` refuses what it cannot segment -- exit 1, the cause and the remedy, nothing written --
before the network runs: thick slices, MR, a place without an ear, a user point outside the image."""
from __future__ import annotations

from pathlib import Path

import pytest
import SimpleITK as sitk

from InnerEarSegLib.cli.main import EXIT_NO_EAR, main
from InnerEarSegLib.phantom.generate import generate
from InnerEarSegLib.phantom.negatives import crop_mm, mr_like, reslice_mm


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    ct, _, meta = generate(31, matrix=320, slices=72)
    return ct, meta, tmp_path_factory.mktemp("inputs")


def _segment(image: sitk.Image, folder: Path, name: str, capsys, *extra: str) -> tuple[int, str, Path]:
    path = folder / f"{name}.nrrd"
    sitk.WriteImage(image, str(path))
    out = folder / f"{name}_out"
    code = main(["segment", str(path), "-o", str(out), "--progress", "none", *extra])
    return code, capsys.readouterr().err, out


def test_a_5_mm_scan_is_refused_with_the_reconstruction_remedy(head, capsys):
    ct, _, folder = head
    code, err, out = _segment(reslice_mm(ct, 5.0), folder, "thick", capsys)
    assert code == 1 and not out.exists()
    assert "too coarse for the inner ear" in err and "Reconstruct the raw data at thin slices" in err
    assert "--allow-thick-slices" in err


def test_an_mr_volume_is_refused_as_not_ct(head, capsys):
    ct, _, folder = head
    code, err, out = _segment(mr_like(ct), folder, "mr", capsys)
    assert code == 1 and not out.exists()
    assert "does not look like CT" in err and "MR image" in err


def test_a_crop_without_an_ear_is_refused_and_asks_for_a_point(head, capsys):
    ct, meta, folder = head
    ears = [e["labyrinth_centre_lps_mm"] for e in meta["ears"]]
    y_front = min(c[1] for c in ears) - 22.0
    low = ct.TransformIndexToPhysicalPoint((0, 0, 0))
    high = ct.TransformIndexToPhysicalPoint([s - 1 for s in ct.GetSize()])
    crop = crop_mm(ct, low, (high[0], y_front, high[2]))
    code, err, out = _segment(crop, folder, "noear", capsys)
    assert code == EXIT_NO_EAR and not out.exists()  # the Slicer module then asks for a point on each ear
    assert "no inner ear found" in err and "--roi-center" in err


def test_a_user_point_outside_the_image_is_refused(head, capsys):
    ct, _, folder = head
    code, err, out = _segment(ct, folder, "roi", capsys, "--roi-center", "5000", "5000", "5000", "--roi-side", "left")
    assert code == 1 and not out.exists()
    assert "lies outside the image" in err
