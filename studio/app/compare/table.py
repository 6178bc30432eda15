"""The metrics table: one row per finished cell (the table of ``studio compare``) plus the
data-vs-data floor; sortable; selecting a row selects the cell in the grid and the plot."""
from __future__ import annotations

import math

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from .session import CompareSession

STATUS_COLORS = {"failed": "#e0564a", "skipped": "#e8b04a", "floor": "#8a949e"}


class CompareTableModel(QAbstractTableModel):
    def __init__(self, session: CompareSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.columns: list[str] = []
        self.rows: list[dict] = []
        self.cell_index: list[int] = []       # cell index per row (-1: the floor row)
        session.reset.connect(self.refresh)
        session.cellsAdded.connect(lambda _i: self.refresh())
        session.finished.connect(lambda *_: self.refresh())

    def refresh(self) -> None:
        self.beginResetModel()
        comp = self.session.comparison
        if comp is None:
            self.columns, self.rows, self.cell_index = [], [], []
        else:
            self.columns = [c for c in comp.columns() if c not in ("solver", "schedule")]
            self.rows = comp.table()
            self.cell_index = [c.index for c in comp.cells if c.index in comp.results]
            floor = comp.floor_row()
            if floor:
                self.rows.append(floor)
                self.cell_index.append(-1)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and section < len(self.columns):
            return self.columns[section]
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole and self.session.comparison:
            col = self.columns[section]
            m = next((m for m in self.session.comparison.metrics if m.id == col), None)
            return m.title if m is not None else None
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        row, col = self.rows[index.row()], self.columns[index.column()]
        v = row.get(col)
        if role == Qt.DisplayRole:
            if v is None:
                return ""
            return f"{v:.4g}" if isinstance(v, float) else str(v)
        if role == Qt.UserRole:          # sort key
            if isinstance(v, (int, float)):
                return float(v) if math.isfinite(v) else float("inf")
            return "" if v is None else str(v)
        if role == Qt.ToolTipRole:
            return row.get("message") or None
        if role == Qt.ForegroundRole and row.get("status") in STATUS_COLORS:
            return QColor(STATUS_COLORS[row["status"]])
        if role == Qt.TextAlignmentRole and isinstance(v, (int, float)):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None


class CompareTable(QTableView):
    def __init__(self, session: CompareSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.source = CompareTableModel(session, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.source)
        self.proxy.setSortRole(Qt.UserRole)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(-1, Qt.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.selectionModel().currentRowChanged.connect(self._row_changed)
        session.selectionChanged.connect(self._select)
        self.source.modelReset.connect(lambda: self._select(session.selected))

    def _row_changed(self, current, _previous) -> None:
        if not current.isValid():
            return
        row = self.proxy.mapToSource(current).row()
        idx = self.source.cell_index[row] if row < len(self.source.cell_index) else -1
        if idx >= 0:
            self.session.select(idx)

    def _select(self, index: int) -> None:
        if index < 0 or index not in self.source.cell_index:
            self.clearSelection()
            return
        src = self.source.index(self.source.cell_index.index(index), 0)
        view_index = self.proxy.mapFromSource(src)
        if self.currentIndex().row() != view_index.row():
            self.setCurrentIndex(view_index)
        self.scrollTo(view_index)
