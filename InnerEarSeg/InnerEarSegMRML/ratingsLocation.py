"""Where the reader's ratings are saved: the folder the user chose, never beside the CT by default.

A CT loaded from DICOM has no file of its own, and the folder of a loaded file may be read-only or
shared, so the panel asks for a ratings folder (remembered in the settings) and saves every case there
as ``<case>_ratings.csv/.json``.
"""
from __future__ import annotations

from pathlib import Path

from InnerEarSegLib.cases import case_id_from_path
from InnerEarSegLib.review.ratings import RatingStore


class RatingsFolderError(ValueError):
    """No usable ratings folder; the message says what to choose."""


def caseReference(volumeNode) -> str:
    """What identifies the case of `volumeNode`: the file it was loaded from, else its node name (DICOM)."""
    storage = volumeNode.GetStorageNode()
    fileName = storage.GetFileName() if storage is not None else None
    return fileName or volumeNode.GetName()


def ratingsStore(folder: str, caseReference: str) -> RatingStore:
    """The store of one case in the chosen `folder` (``<case>_ratings.csv/.json``).

    Raises
    ------
    RatingsFolderError
        `folder` is empty, or exists and is not a folder.
    """
    if not folder or not str(folder).strip():
        raise RatingsFolderError("no ratings folder: choose where the ratings are saved in Review > 'Ratings folder'.")
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise RatingsFolderError(f"the ratings folder '{path}' is a file; choose a folder in Review > "
                                 f"'Ratings folder'.")
    return RatingStore(path, stem=f"{case_id_from_path(caseReference)}_ratings")


class _NoFolderStore:
    """Stands in while no folder is chosen: nothing to restore, and saving says what to do."""

    def load(self) -> list:
        return []

    def upsert(self, record) -> None:
        ratingsStore("", "")  # raises RatingsFolderError with the remedy

    save = upsert


def ratingsStoreFactory(currentFolder):
    """``case -> store`` for ``ReviewPanelState(store_factory=...)``, reading the folder when called.

    `currentFolder` is a no-argument callable (the panel's current choice), so a folder chosen after a
    case was opened is the one its ratings are saved to.
    """
    def factory(caseReference: str):
        folder = currentFolder()
        return ratingsStore(folder, caseReference) if folder and str(folder).strip() else _NoFolderStore()

    return factory
