"""Helpers of the InnerEarSeg Slicer module that work on MRML without Qt.

`paths` (finding the library, model, terminology and sample data), `dependencies` (first-run
install of the Python packages), `process` (running the CLI in a
separate process), `geometry` (volume nodes <-> SimpleITK images <-> oriented image data) and
`importer` (output folder -> segmentation node). The module's `InnerEarSegLogic` ties them together.
Kept in a package so that Slicer's module scanner sees only ``InnerEarSeg.py`` and
``InnerEarSegLogic.py`` in the module folder.
"""
