"""Reader ratings (``InnerEarSegLib.review.RatingRecord``) in a MRML table node, one row per case and ear.

The table is the scene's copy of what `RatingStore` saves next to the case (CSV + JSON); it is
saved with the scene and read back with `recordsFromTableNode`.
"""
from __future__ import annotations

import csv
import io

from InnerEarSegLib.review.ratings import RatingRecord, records_to_csv

TABLE_NAME = "InnerEarSeg ratings"
#: Table-node attribute that marks our ratings table.
TABLE_ATTRIBUTE = "InnerEarSeg.Ratings"


def updateRatingsTable(scene, records, tableNode=None):
    """Write `records` into `tableNode` (created, or found by its attribute, when None); return it.

    Rows of the same (case, side) are replaced; other rows are kept.
    """
    if tableNode is None:
        tableNode = findRatingsTable(scene)
    if tableNode is None:
        tableNode = scene.AddNewNodeByClass("vtkMRMLTableNode", TABLE_NAME)
        tableNode.SetAttribute(TABLE_ATTRIBUTE, "1")
    merged = {r.key: r for r in recordsFromTableNode(tableNode)}
    merged.update({r.key: r for r in records})
    rows = list(csv.reader(io.StringIO(records_to_csv(list(merged.values())))))
    header, body = rows[0], rows[1:]
    wasModifying = tableNode.StartModify()
    try:
        tableNode.RemoveAllColumns()
        for name in header:
            column = tableNode.AddColumn()
            column.SetName(name)
        table = tableNode.GetTable()
        table.SetNumberOfRows(len(body))
        for r, row in enumerate(body):
            for c, value in enumerate(row):
                table.GetColumn(c).SetValue(r, value)
        tableNode.Modified()
    finally:
        tableNode.EndModify(wasModifying)
    return tableNode


def findRatingsTable(scene):
    """The scene's ratings table node, or None."""
    nodes = scene.GetNodesByClass("vtkMRMLTableNode")
    for i in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(i)
        if node.GetAttribute(TABLE_ATTRIBUTE):
            return node
    return None


def recordsFromTableNode(tableNode) -> list[RatingRecord]:
    """The rating records held by `tableNode` (empty for an empty table)."""
    table = tableNode.GetTable()
    names = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    if "case_id" not in names:
        return []
    return [RatingRecord.from_row({names[c]: str(table.GetValue(r, c).ToString()) for c in range(len(names))})
            for r in range(table.GetNumberOfRows())]
