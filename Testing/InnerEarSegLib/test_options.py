"""One options object: the CLI arguments of ``segment`` parse into SegmentOptions and are written back from it
(the Slicer module starts the process with those), and one device parser is used everywhere."""
import argparse
from dataclasses import replace
from pathlib import Path

import pytest

from InnerEarSegLib.cli import segment as segment_cli
from InnerEarSegLib.labels import Side
from InnerEarSegLib.model.device import DeviceError, parse_device
from InnerEarSegLib.options import DEFAULT_POSTPROCESS, DEFAULT_SIGMA_VOX, PAPER_POSTPROCESS, RoiHint, SegmentOptions


def _parse(argv):
    parser = argparse.ArgumentParser(prog="innerear-seg")
    segment_cli.add_parser(parser.add_subparsers())
    return parser.parse_args(["segment", "ct.nii.gz", "-o", "out", *argv])


@pytest.mark.parametrize("options", [
    SegmentOptions(),
    SegmentOptions(model_path=Path("/m/x.safetensors"), device="cuda:1", meshes=False),
    SegmentOptions(device="cpu", postprocess=replace(DEFAULT_POSTPROCESS, gaussian=False, otsu=False,
                                                     remove_islands=False)),
    SegmentOptions(postprocess=PAPER_POSTPROCESS),
    SegmentOptions(postprocess=replace(DEFAULT_POSTPROCESS, sigma_vox=0.1)),
    SegmentOptions(roi=(RoiHint((1.5, -2.25, 30.1)), RoiHint((-60.0, 0.0, 1e-3)))),
    SegmentOptions(roi=(RoiHint((1.0, 2.0, 3.0), Side.LEFT), RoiHint((-1.0, 2.0, 3.0), Side.RIGHT))),
    SegmentOptions(allow_thick_slices=True),
    SegmentOptions(recentre=False),
])
def test_cli_arguments_written_from_options_parse_back_into_the_same_options(options):
    assert segment_cli.options_from_args(_parse(options.cli_arguments())) == options


def test_default_options_need_no_arguments_and_use_the_documented_sigma():
    assert SegmentOptions().cli_arguments() == []
    assert segment_cli.options_from_args(_parse([])).postprocess.sigma_vox == DEFAULT_SIGMA_VOX


def test_options_without_a_cli_flag_are_refused_instead_of_silently_dropped():
    options = SegmentOptions(postprocess=replace(DEFAULT_POSTPROCESS, min_island_mm3=5.0))
    with pytest.raises(ValueError, match="min_island_mm3.*no innerear-seg segment option"):
        options.cli_arguments()


@pytest.mark.parametrize("text, expected", [("auto", "auto"), ("CPU", "cpu"), ("cuda", "cuda"), (" cuda:2 ", "cuda:2")])
def test_every_device_spelling_is_accepted_by_the_parser_the_options_and_the_cli(text, expected):
    assert parse_device(text) == expected
    assert SegmentOptions(device=text).device == expected
    assert _parse(["--device", text]).device == expected


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:x", "cuda:-1", "", "mps"])
def test_a_device_that_is_no_device_name_is_refused_naming_the_accepted_ones(text, capsys):
    with pytest.raises(DeviceError, match="auto, cpu, cuda or cuda:N"):
        parse_device(text)
    with pytest.raises(ValueError):
        SegmentOptions(device=text)
    with pytest.raises(SystemExit) as exit_info:
        _parse(["--device", text])
    assert exit_info.value.code == 2 and "cuda:N" in capsys.readouterr().err
