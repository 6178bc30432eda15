#!/bin/sh
# Add Diffusion Studio to the desktop menu of the current user (no root needed):
#   ./install.sh            install a launcher, an icon and a `diffusion-studio` command link
#   ./install.sh --remove   remove them again
# The application itself stays in this folder; move the folder first if you want it elsewhere.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
APPS=$DATA/applications
ICONS=$DATA/icons/hicolor
BIN=$HOME/.local/bin
if [ "${1:-}" = "--remove" ]; then
  rm -f "$APPS/diffusion-studio.desktop" "$BIN/diffusion-studio"
  for d in "$ICONS"/*/apps; do rm -f "$d/diffusion-studio.png" "$d/diffusion-studio.svg"; done
  echo "Diffusion Studio launcher removed (the application folder $HERE is untouched)."
  exit 0
fi
mkdir -p "$APPS" "$BIN" "$ICONS/scalable/apps"
for s in 16 24 32 48 64 128 256 512; do
  f="$HERE/icons/diffusion-studio-$s.png"
  [ -f "$f" ] || continue
  mkdir -p "$ICONS/${s}x${s}/apps"
  cp "$f" "$ICONS/${s}x${s}/apps/diffusion-studio.png"
done
cp "$HERE/icons/diffusion-studio.svg" "$ICONS/scalable/apps/diffusion-studio.svg"
sed -e "s|^Exec=.*|Exec=\"$HERE/DiffusionStudio\" %f|" -e "s|^TryExec=.*|TryExec=$HERE/DiffusionStudio|" \
  "$HERE/diffusion-studio.desktop" > "$APPS/diffusion-studio.desktop"
chmod 644 "$APPS/diffusion-studio.desktop"
ln -sf "$HERE/DiffusionStudio" "$BIN/diffusion-studio"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$APPS" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$ICONS" || true
echo "Installed: menu entry 'Diffusion Studio', icon, and $BIN/diffusion-studio."
