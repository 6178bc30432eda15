"""Render the app icon (studio/assets/icons/diffusion-studio.svg) to the raster icons the platforms need.

    QT_QPA_PLATFORM=offscreen python packaging/make_icons.py

writes, next to the SVG, PNGs of 16..512 px (the app's window icon and the Linux .desktop icon), and
under packaging/icons/ a Windows .ico (16..256 px) and a macOS .icns (16..1024 px). The outputs are
committed, so a build does not need to run this; run it again after editing the SVG.
"""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "studio" / "assets" / "icons" / "diffusion-studio.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def render(size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SVG}")
    img = QImage(size, size, QImage.Format_ARGB32_Premultiplied)
    img.fill(Qt.transparent)
    p = QPainter(img)
    p.setRenderHint(QPainter.Antialiasing)
    p.setRenderHint(QPainter.SmoothPixmapTransform)
    renderer.render(p)
    p.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.WriteOnly)
    img.save(buf, "PNG")
    return bytes(data.data())


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - needed by QtSvg
    out_dir = SVG.parent
    rendered = {s: render(s) for s in sorted(set(PNG_SIZES + ICO_SIZES + ICNS_SIZES))}
    for s in PNG_SIZES:
        (out_dir / f"diffusion-studio-{s}.png").write_bytes(rendered[s])
    pack = ROOT / "packaging" / "icons"
    pack.mkdir(exist_ok=True)
    images = {s: Image.open(io.BytesIO(rendered[s])).convert("RGBA") for s in rendered}
    images[256].save(pack / "diffusion-studio.ico", format="ICO",
                     sizes=[(s, s) for s in ICO_SIZES], append_images=[images[s] for s in ICO_SIZES])
    images[1024].save(pack / "diffusion-studio.icns", format="ICNS",
                      append_images=[images[s] for s in ICNS_SIZES if s != 1024])
    for f in sorted(list(out_dir.glob("*.png")) + list(pack.iterdir())):
        print(f"{f.relative_to(ROOT)}  {f.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
