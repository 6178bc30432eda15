#!/usr/bin/env bash
# Build the Linux bundle of Diffusion Studio: a PyInstaller one-folder app, its launcher files, and
# a compressed archive in dist/.
#
#   packaging/build.sh [--current-env] [--no-trim] [--no-archive] [--zstd] [--self-test]
#
#   (default)        build in a dedicated virtual environment, build/venv (made on first use and
#                    reused while the pinned versions and pyproject's dependencies stay the same):
#                    the runtime dependencies, torch and PyInstaller only, so nothing the app does
#                    not need (scipy, scikit-learn, pytest, diffusers, ...) can slip into the bundle
#   --current-env    use the Python that runs this script (faster when it already has PyInstaller;
#                    the spec excludes the test-only packages either way)
#   --no-trim        keep everything the hooks collect (STUDIO_TRIM=0), to measure what trimming saves
#   --no-archive     stop after the folder dist/DiffusionStudio/
#   --zstd           a .tar.zst archive (smaller, faster) instead of .tar.gz
#   --self-test      run dist/DiffusionStudio/DiffusionStudio --self-test after the build
#
# Environment: PYTHON (the interpreter that makes the venv, default python3), TORCH_SPEC (default
# torch==2.13.0), PIP_INDEX_URL / PIP_EXTRA_INDEX_URL as for pip (e.g. the CPU wheel index
# https://download.pytorch.org/whl/cpu to keep CUDA libraries out of the bundle), STUDIO_BUILD_VENV
# (default build/venv).
# Output: dist/DiffusionStudio/ and dist/DiffusionStudio-VERSION-linux-ARCH.tar.gz (or .tar.zst).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
USE_CURRENT=0; TRIM=1; ARCHIVE=1; ZSTD=0; SELFTEST=0
for arg in "$@"; do
  case $arg in
    --current-env) USE_CURRENT=1 ;;
    --no-trim) TRIM=0 ;;
    --no-archive) ARCHIVE=0 ;;
    --zstd) ZSTD=1 ;;
    --self-test) SELFTEST=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PYINSTALLER_SPEC=${PYINSTALLER_SPEC:-pyinstaller==6.22.0}
VENV=${STUDIO_BUILD_VENV:-$ROOT/build/venv}
WORK=$ROOT/build/pyinstaller
DIST=$ROOT/dist
NAME=DiffusionStudio
T0=$(date +%s)
say() { printf '[build %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
# pip, without the notices about this machine's unreachable extra indexes
pip_q() { "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

# -- the build environment --------------------------------------------------------------------------
if [ "$USE_CURRENT" = 1 ]; then
  PY=$(command -v "$PYTHON")
  "$PY" -c "import PyInstaller" 2>/dev/null || pip_q "$PY" -m pip install -q "$PYINSTALLER_SPEC"
else
  # the runtime dependencies, read from pyproject.toml (one source of truth)
  DEPS=$("$PYTHON" - <<'EOF'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(d for d in deps if not d.replace(" ", "").lower().startswith("torch")))
EOF
)
  STAMP="$TORCH_SPEC $PYINSTALLER_SPEC ${PIP_INDEX_URL:-} $(echo "$DEPS" | tr '\n' ' ')"
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.studio-stamp" 2>/dev/null)" != "$STAMP" ]; then
    say "making the build environment $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    # torch first, so the CPU build stays the one chosen here (the others only require torch>=...)
    pip_q "$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
    mapfile -t DEPS_ARR <<< "$DEPS"
    pip_q "$VENV/bin/python" -m pip install -q "$PYINSTALLER_SPEC" "${DEPS_ARR[@]}"
    echo "$STAMP" > "$VENV/.studio-stamp"
  else
    say "reusing the build environment $VENV"
  fi
  PY=$VENV/bin/python
fi
say "python: $("$PY" -c 'import sys, torch, PySide6, PyInstaller; print(sys.version.split()[0], "torch", torch.__version__, "PySide6", PySide6.__version__, "PyInstaller", PyInstaller.__version__)')"

# -- the icons (committed; remade only if the SVG is newer) -----------------------------------------
SVG=studio/assets/icons/diffusion-studio.svg
if [ ! -f studio/assets/icons/diffusion-studio-256.png ] || [ "$SVG" -nt studio/assets/icons/diffusion-studio-256.png ]; then
  say "rendering the icons"
  QT_QPA_PLATFORM=offscreen "$PY" packaging/make_icons.py >/dev/null
fi

# -- PyInstaller (--clean: a cached analysis would keep an old list of data files) -------------------
say "PyInstaller (trim=$TRIM)"
rm -rf "${DIST:?}/$NAME"
mkdir -p "$WORK" "$DIST"
STUDIO_TRIM=$TRIM "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$WORK" packaging/diffusion_studio.spec
APP=$DIST/$NAME
[ -x "$APP/$NAME" ] || { echo "build.sh: PyInstaller made no $APP/$NAME" >&2; exit 1; }

# -- launcher files next to the executable -----------------------------------------------------------
mkdir -p "$APP/icons"
cp packaging/linux/diffusion-studio.desktop packaging/linux/install.sh "$APP/"
cp studio/assets/icons/diffusion-studio.svg studio/assets/icons/diffusion-studio-*.png "$APP/icons/"
cp packaging/linux/README.txt "$APP/README.txt"
VERSION=$("$PY" -c 'import sys; sys.path.insert(0, "."); import studio; print(studio.__version__)')
echo "$VERSION" > "$APP/VERSION"

# -- trimming that PyInstaller cannot express: caches, symbol tables ----------------------------------
if [ "$TRIM" = 1 ]; then
  find "$APP" -name __pycache__ -type d -prune -exec rm -rf {} +
  # torch's wheel ships its libraries with full symbol tables (~100 MB); the dynamic symbols stay
  if command -v strip >/dev/null; then
    find "$APP/_internal/torch/lib" -name '*.so*' -type f -exec strip --strip-unneeded {} +
  fi
fi
# readable by every user whatever the build machine's umask or the sources' modes (an admin
# unpacking into /opt must not end up with models only root can read)
chmod -R u+rwX,go+rX,go-w "$APP"
SIZE=$(du -sm "$APP" | cut -f1)
say "bundle: $APP ($SIZE MiB, $(find "$APP" -type f | wc -l) files)"

# -- the archive ------------------------------------------------------------------------------------
if [ "$ARCHIVE" = 1 ]; then
  ARCH=$(uname -m)
  BASE=$DIST/$NAME-$VERSION-linux-$ARCH
  rm -f "$BASE.tar.gz" "$BASE.tar.zst"
  if [ "$ZSTD" = 1 ] && command -v zstd >/dev/null; then
    OUTF=$BASE.tar.zst
    tar -C "$DIST" --owner=0 --group=0 --numeric-owner -cf - "$NAME" | zstd -q -T0 -15 -o "$OUTF"
  else
    OUTF=$BASE.tar.gz
    if command -v pigz >/dev/null; then
      tar -C "$DIST" --owner=0 --group=0 --numeric-owner -cf - "$NAME" | pigz -9 > "$OUTF"
    else
      tar -C "$DIST" --owner=0 --group=0 --numeric-owner -cf - "$NAME" | gzip -6 > "$OUTF"
    fi
  fi
  (cd "$DIST" && sha256sum "$(basename "$OUTF")" > "$(basename "$OUTF").sha256")
  say "archive: $OUTF ($(du -m "$OUTF" | cut -f1) MiB)"
fi

if [ "$SELFTEST" = 1 ]; then
  say "self-test"
  "$APP/$NAME" --self-test --screenshot "$DIST/selftest.png"
fi
say "done"
