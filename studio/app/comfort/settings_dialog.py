"""Edit > Settings…: device, precision, model library folder, live preview rate, theme.

The theme previews live while the dialog is open (Cancel puts the previous one back); OK saves the
preferences to the app settings and applies them to the window (see :mod:`.prefs`).
"""
from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from ..runbar import devices
from . import prefs as P
from .theme import apply_theme


class SettingsDialog(QDialog):
    def __init__(self, window, parent=None):
        super().__init__(parent or window)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.window_ = window
        self.before = P.Preferences.load(window.settings)

        self.device = QComboBox()
        for dev, label in devices():
            self.device.addItem(label, dev)
        if self.device.findData(self.before.device) < 0:
            self.device.addItem(f"{self.before.device} (not available)", self.before.device)
        self.device.setCurrentIndex(self.device.findData(self.before.device))
        self.dtype = QComboBox()
        self.dtype.addItems(list(P.DTYPES))
        self.dtype.setCurrentText(self.before.dtype)

        self.library = QLineEdit(self.before.library)
        self.library.setPlaceholderText(self._default_library())
        self.library.setToolTip("Where trained models are saved and listed (empty: the default "
                                "folder shown in grey)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        lib = QWidget()
        ll = QHBoxLayout(lib)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.library, 1)
        ll.addWidget(browse)

        self.fps = QSpinBox()
        self.fps.setRange(*P.FPS_RANGE)
        self.fps.setSuffix(" updates/s")
        self.fps.setValue(self.before.preview_fps)
        self.fps.setToolTip("At most this many live view updates per second during a run "
                            "(fewer leave more CPU to the run)")
        self.theme = QComboBox()
        for name in ("dark", "light"):
            self.theme.addItem(name.capitalize(), name)
        self.theme.setCurrentIndex(self.theme.findData(self.before.theme))
        self.theme.currentIndexChanged.connect(lambda _i: apply_theme(self.theme.currentData()))

        form = QFormLayout()
        form.addRow("Device", self.device)
        form.addRow("Precision", self.dtype)
        form.addRow("Model library", lib)
        form.addRow("Live preview", self.fps)
        form.addRow("Theme", self.theme)
        from .plugins_row import plugins_row
        form.addRow("Plugins", plugins_row(self))
        note = QLabel("Device and precision are the run settings of new pipelines (File > New); "
                      "a pipeline file keeps its own, and the toolbar changes them per pipeline.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #8a949e;")
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(note)
        lay.addWidget(buttons)
        self.resize(520, self.sizeHint().height())

    @staticmethod
    def _default_library() -> str:
        return P.default_library()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model library folder",
                                                  self.library.text() or self._default_library())
        if folder:
            self.library.setText(folder)

    def chosen(self) -> P.Preferences:
        return P.Preferences(device=self.device.currentData(), dtype=self.dtype.currentText(),
                             library=self.library.text().strip(), preview_fps=self.fps.value(),
                             theme=self.theme.currentData())

    def accept(self) -> None:
        chosen = self.chosen()
        chosen.save(self.window_.settings)
        P.apply(self.window_, chosen, self.before)
        self.window_.log.ok("settings saved")
        super().accept()

    def reject(self) -> None:
        apply_theme(self.before.theme)
        super().reject()
