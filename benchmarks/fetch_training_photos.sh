#!/usr/bin/env bash
# Recreate the small, freely licensed photo set used to train the shipped fast styles.
#
#   benchmarks/fetch_training_photos.sh [FOLDER]      (default: data/training-photos, git-ignored)
#
# Sources (licences checked, see LICENCES.md written into FOLDER):
#   * scikit-image's bundled sample photos (astronaut, chelsea, coffee, rocket: CC0 / public domain,
#     as stated in each function's docstring in skimage.data);
#   * the Debian package lomiri-wallpapers-16.04, only its CC-BY-4.0 and CC0-1.0 photographs
#     (per-file licences in its debian/copyright; CC-BY-SA files are left out).
# Every photo is resized to 640 px on its longest side so the whole set is about 1 MB (13 photos) and can
# travel with the repository to a GPU machine that has no internet access.
# Needs: apt-get (Debian/Ubuntu; any user can run `apt-get download`), dpkg-deb, and the brushwork venv.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-$HERE/data/training-photos}"
PY="${PYTHON:-python3}"
mkdir -p "$DEST"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

PHOTOS="aitzgorri_by_Aitzol_Berasategi friends_by_Aitzol_Berasategi life_by_Aitzol_Berasategi
picosdeeuropa_by_Aitzol_Berasategi sunset_by_Aitzol_Berasategi Picture_0B_by_freespace Picture_1A_by_freespace
Wine_by_Jakkub_Mede seeding_by_Clements_Engelhardt"

(cd "$TMP" && apt-get download -qq lomiri-wallpapers-16.04 2>&1 | grep -v unsandboxed || true)
DEB="$(ls "$TMP"/lomiri-wallpapers-16.04_*.deb 2>/dev/null | head -n1)"
if [ -z "$DEB" ]; then
  echo "could not download lomiri-wallpapers-16.04: run 'apt-get update' first (Debian/Ubuntu only)" >&2
  exit 1
fi
dpkg-deb -x "$DEB" "$TMP/x"

"$PY" - "$TMP/x/usr/share/backgrounds" "$DEST" $PHOTOS <<'PYEOF'
import sys
from pathlib import Path

from PIL import Image
from skimage import data

src, dest, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
LONGEST = 640


def save(img: Image.Image, name: str) -> None:
    img = img.convert("RGB")
    scale = LONGEST / max(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    img.save(dest / f"{name}.jpg", quality=92)


for name in names:
    save(Image.open(src / f"{name}.jpg"), name)
for name in ("astronaut", "chelsea", "coffee", "rocket"):
    save(Image.fromarray(getattr(data, name)()), f"skimage_{name}")
print(f"{len(names) + 4} photos in {dest}")
PYEOF

cat > "$DEST/LICENCES.md" <<'MD'
# Training photos: sources and licences

| files | source | licence |
|---|---|---|
| skimage_astronaut.jpg | scikit-image `skimage.data.astronaut` (NASA, Eileen Collins) | public domain |
| skimage_chelsea.jpg | scikit-image `skimage.data.chelsea` (Stefan van der Walt) | CC0 |
| skimage_coffee.jpg | scikit-image `skimage.data.coffee` (Rachel Michetti) | CC0 |
| skimage_rocket.jpg | scikit-image `skimage.data.rocket` (SpaceX) | public domain |
| *_by_Aitzol_Berasategi.jpg (aitzgorri, friends, life, picosdeeuropa, sunset) | Debian package lomiri-wallpapers-16.04 | CC-BY-4.0, © Aitzol Berasategi 2018 |
| Picture_0B_by_freespace.jpg, Picture_1A_by_freespace.jpg | Debian package lomiri-wallpapers-16.04 | CC-BY-4.0, © Trevor "Freespace" 2018 |
| Wine_by_Jakkub_Mede.jpg | Debian package lomiri-wallpapers-16.04 | CC-BY-4.0, © Jakkub Mede |
| seeding_by_Clements_Engelhardt.jpg | Debian package lomiri-wallpapers-16.04 | CC0-1.0 (Clemens Engelhardt) |

All photos were resized to 640 px on the longest side (a change, as CC-BY-4.0 asks us to say).
MD
echo "wrote $DEST/LICENCES.md"
