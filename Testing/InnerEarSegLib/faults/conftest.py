"""Fixtures of the fault-injection suite: a small CT, a tiny seeded model and one real segmentation."""
from __future__ import annotations

import dataclasses

import pytest


@pytest.fixture(scope="package")
def segmented(small_ct, tiny_model):
    """(result, image) of one real run, reused by tests that only exercise writing."""
    from InnerEarSegLib.imageio import read_image
    from InnerEarSegLib.options import SegmentOptions
    from InnerEarSegLib.pipeline import segment

    image = read_image(small_ct)
    return segment(image, SegmentOptions(model_path=tiny_model, device="cpu")), image


@pytest.fixture
def cached_pipeline(monkeypatch, segmented):
    """`innerear-seg segment` runs the real CLI and writer, with the pipeline's result computed once."""
    import InnerEarSegLib.pipeline as pipeline

    result, _ = segmented
    calls = []

    def fake_segment(image, options=None, progress=None, cancel=None, **kwargs):
        calls.append(options)
        ears = result.ears if options.meshes else tuple(dataclasses.replace(e, meshes={}) for e in result.ears)
        return dataclasses.replace(result, ears=ears, options=options, input_info=dict(result.input_info))

    monkeypatch.setattr(pipeline, "segment", fake_segment)
    return calls
