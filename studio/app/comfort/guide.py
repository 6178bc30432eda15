"""Help > Guide (F1): a short guide to the window's panels and the four parts of a pipeline, with
links to the README's sections, shown in the same browser (the README ships with the source and the
pip installs; a bundle without it says where to find it).
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

from ..resources import PACKAGE, bundle_root

#: the panels the guide explains (dock name -> text); other docks are listed by title
PANELS = [
    ("canvas", "Canvas", "the pipeline as nodes and links. Drag from a node's output port to an "
     "input port to link; Delete removes the selection; Ctrl+Z undoes anything. Drop a pipeline "
     "JSON, or a PNG exported from the gallery, on the window to open it."),
    ("browser", "Models", "built-in analytic models and model files (bundled, your library, "
     "folders you add). Double-click to use one as the pipeline's network, or drag it onto the "
     "canvas."),
    ("palette", "Nodes", "every process, network, guidance and solver kind; drag one onto the "
     "canvas."),
    ("inspector", "Inspector", "the parameters of the selected node, checked as you type, with "
     "each one's meaning; with nothing selected, whether the pipeline can run."),
    ("trajectories", "Trajectories", "below the canvas on the Pipeline page: one live view per "
     "solver branch while a run goes (Run brings it forward); "
     "afterwards the scrubber and Play replay it step by step. Export PNG / NPZ save what you "
     "see or the whole run."),
    ("gallery", "Gallery", "every finished run, one picture per branch, with its seed and its "
     "pipeline: double-click to get the pipeline back, Export PNG to keep the picture with the "
     "pipeline inside it."),
    ("log", "Log", "what happened, with the time: runs, files, problems."),
]

CONCEPTS = [
    ("Process", "the forward noising x_t = alpha(t) x0 + sigma(t) eps: VP (DDPM), VE, EDM, "
     "rectified flow, ... It fixes how much signal and noise there is at each time t; sampling runs "
     "it backwards, from noise (t_max) to data (t_min)."),
    ("Network", "the denoiser: from x_t and t it predicts eps, x0, v, the score or the velocity "
     "(exact conversions make any of them work with any process and solver). Analytic networks "
     "(Gaussian mixtures, the empirical denoiser of a data set) need no training; model files hold "
     "trained ones."),
    ("Guidance", "optional, between the network and a solver: it changes the prediction (or the "
     "steps) to steer samples, e.g. classifier-free guidance towards a class, or inverse-problem "
     "methods (replacement, DDNM, DPS, ...) towards a measurement such as a half-known image."),
    ("Solver", "integrates the probability-flow ODE (or the reverse SDE) from noise to data in a "
     "given number of steps or network evaluations (NFE), on a time schedule. Several solver nodes "
     "on one network are branches: they run side by side from the same noise."),
]

#: (README heading, what the link says)
README_LINKS = [
    ("Run it", "installing and starting the studio (CPU or CUDA torch)"),
    ("A tour of the application", "the window, panel by panel"),
    ("The engine", "every process, network, schedule and solver, checked against closed forms"),
    ("Which solver, how many steps?", "picking a solver and a budget"),
    ("Trained models", "the bundled models and training your own"),
    ("Inverse problems", "inpainting and other measurements"),
    ("Formats", "the pipeline file and the result files"),
    ("`studio run`", "running pipelines (and gallery PNGs) headless"),
]


def readme_path() -> Path | None:
    for c in ([PACKAGE.parent / "README.md"]
              + ([bundle_root() / "README.md"] if bundle_root() is not None else [])):
        if c.is_file():
            return c
    return None


def readme_section(title: str, path: Path | None = None) -> str | None:
    """The Markdown of the README section headed ``title`` (down to the next heading of the same
    or a higher level), or None."""
    path = path or readme_path()
    if path is None:
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    start = level = None
    for i, line in enumerate(lines):
        m = re.match(r"^(#{1,6})\s+(.*?)\s*$", line)
        if not m:
            continue
        if start is None and m.group(2).strip() == title:
            start, level = i, len(m.group(1))
        elif start is not None and len(m.group(1)) <= level:
            return "\n".join(lines[start:i]).strip()
    return "\n".join(lines[start:]).strip() if start is not None else None


def guide_html(window=None) -> str:
    docks = window.docks if window is not None else {}
    known = {k for k, _, _ in PANELS}
    spaces = window.workspaces if window is not None else None
    pages = [spaces[n] for n in spaces.order] if spaces is not None else []
    rows = "".join(f"<li><b>{t}</b>: {html.escape(text)}</li>" for k, t, text in PANELS
                   if k in ("canvas", "trajectories") or not docks or k in docks)
    if pages:
        rows += ("<li><b>Workspaces</b>: " + ", ".join(html.escape(p.title) for p in pages)
                 + " — one full page each, chosen in the mode bar at the top (View &gt; "
                 "Workspace, Ctrl+PgUp/PgDown); the docks a page shows are remembered per "
                 "page.</li>")
    extra = [d.windowTitle() for name, d in docks.items() if name not in known]
    if extra:
        rows += ("<li><b>Other panels</b>: " + ", ".join(html.escape(t) for t in extra)
                 + " (View menu to show or hide them).</li>")
    concepts = "".join(f"<li><b>{t}</b>: {html.escape(text)}</li>" for t, text in CONCEPTS)
    links = "".join(f"<li><a href='readme:{html.escape(t)}'>{html.escape(t.strip('`'))}</a>: "
                    f"{html.escape(why)}</li>" for t, why in README_LINKS)
    return f"""
<h2>Diffusion Studio — a short guide</h2>
<p>A pipeline is a chain of four parts, each swappable on its own:
<b>process → network → guidance → solver</b>. Build one on the canvas, press <b>Run</b>
(Ctrl+R), watch every solver branch sample live, then replay, compare and keep the results.</p>
<h3>The pipeline</h3><ul>{concepts}</ul>
<h3>The window</h3><ul>{rows}</ul>
<h3>Everyday</h3><ul>
<li><b>Toolbar</b>: device, batch (samples per run), seed (the same seed gives the same samples),
precision. Esc cancels a run after the current step.</li>
<li><b>Examples</b>: File &gt; Examples, or Help &gt; Start page for the examples gallery.</li>
<li><b>Settings</b> (Edit &gt; Settings…): device and precision of new pipelines, the model library
folder, the live preview rate, the light or dark theme.</li>
<li><b>Autosave</b>: an edited pipeline is saved in the background; if the app ever stops
without closing, the next start offers to restore it.</li>
</ul>
<h3>More in the README</h3><ul>{links}</ul>
"""


class GuideDialog(QDialog):
    def __init__(self, window, parent=None):
        super().__init__(parent or window)
        self.setWindowTitle("Diffusion Studio — Guide")
        self.setObjectName("guideDialog")
        self.win = window
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.anchorClicked.connect(self.follow)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser, 1)
        lay.addWidget(buttons)
        self.resize(760, 680)
        self.show_guide()

    def show_guide(self) -> None:
        self.browser.setHtml(guide_html(self.win))

    def follow(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("readme:"):
            self.show_readme(QUrl.fromPercentEncoding(text[len("readme:"):].encode()))
        elif text.startswith("guide:"):
            self.show_guide()
        elif url.scheme() in ("http", "https", "file"):
            QDesktopServices.openUrl(url)

    def show_readme(self, title: str) -> None:
        section = readme_section(title)
        back = "[← Back to the guide](guide:)\n\n"
        if section is None:
            where = readme_path()
            section = (f"## {title}\n\nThe README is not installed with this copy of the studio: "
                       "read it as README.md in the source distribution."
                       if where is None else f"## {title}\n\nNo such section in {where}.")
        self.browser.setMarkdown(back + section)
