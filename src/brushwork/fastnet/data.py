"""Training photos: a folder of images or a corpus manifest (its train split), as random crops in a reproducible order.

The order of photos and every crop are pure functions of ``(seed, step, rank)``: the photo order
comes from a :class:`~torch.utils.data.DistributedSampler` (one shuffled permutation per epoch,
each rank taking its own share), and each crop's scale, position and flip come from a generator
seeded with the sample's place in the stream.  A resumed run therefore sees exactly the batches
an uninterrupted run would have seen, with no random state to save, and two ranks never train on
the same photo in the same step.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset, DistributedSampler

from ..core.errors import InputError
from ..core.files import IMAGE_SUFFIXES
from ..core.image import load_image, to_tensor

#: Photos in folders up to this many are kept decoded in memory after first use.
CACHE_LIMIT = 2000


def list_photos(source: str | Path, split: str = "train") -> list[Path]:
    """The training photos of ``source``, in a stable order.

    ``source`` is either a folder (every image under it, recursively: the caller chose them) or a
    ``manifest.csv`` such as the one of the shared training corpus, whose rows name a ``file``
    (relative to the manifest), its ``kind`` and its ``split``: then only the photos of ``split``
    are taken, so that a run can never train on the validation photos by accident.
    """
    root = Path(source)
    if root.is_file() and root.suffix.lower() == ".csv":
        return _manifest_photos(root, split)
    if not root.is_dir():
        raise InputError(f"training data '{root}' is neither a folder nor a manifest .csv: give a folder of photos "
                         "or the corpus's manifest.csv.")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"training data '{root}' holds no images (.jpg, .png …): put photos in it.")
    return files


def _manifest_photos(manifest: Path, split: str) -> list[Path]:
    """Rows of ``manifest`` with ``kind`` photo (when the column exists) and the given ``split``."""
    try:
        with manifest.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"could not read manifest '{manifest}' ({exc}): give a readable CSV file.") from None
    if not rows or "file" not in rows[0] or "split" not in rows[0]:
        raise InputError(f"manifest '{manifest}' has no 'file' and 'split' columns: give the corpus's manifest.csv.")
    files = sorted(manifest.parent / r["file"] for r in rows
                   if r.get("split") == split and r.get("kind", "photo") == "photo")
    if not files:
        raise InputError(f"manifest '{manifest}' lists no photos of split '{split}'.")
    missing = next((f for f in files if not f.is_file()), None)
    if missing is not None:
        raise InputError(f"manifest '{manifest}' names '{missing}', which does not exist: check the corpus.")
    return files


class CropDataset(Dataset):
    """Item ``(photo index, crop seed)`` → a 3×crop×crop tensor in [0, 1].

    The photo is scaled so its shorter side is a random length between ``crop`` and
    ``crop × max_zoom_out`` (never below ``crop``), so the network sees details at several scales;
    then a random square is cut and flipped left–right half the time.
    """

    def __init__(self, files: list[Path], crop: int, max_zoom_out: float = 1.5) -> None:
        self.files, self.crop, self.max_zoom_out = files, crop, max_zoom_out
        self._cache: dict[int, Image.Image] = {}

    def __len__(self) -> int:
        return len(self.files)

    def _photo(self, index: int) -> Image.Image:
        img = self._cache.get(index)
        if img is None:
            img = load_image(self.files[index], "training photo")
            longest = round(self.crop * self.max_zoom_out * 2)
            if max(img.size) > longest:  # keep the cache small; crops never need more
                s = longest / max(img.size)
                img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.Resampling.BILINEAR)
            if len(self.files) <= CACHE_LIMIT:
                self._cache[index] = img
        return img

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        index, seed = key
        g = torch.Generator().manual_seed(seed)
        img = self._photo(index)
        short = min(img.size)
        target = self.crop * (1 + (self.max_zoom_out - 1) * float(torch.rand((), generator=g)))
        target = min(target, max(short, self.crop))  # do not enlarge beyond what is needed
        scale = max(target / short, self.crop / short)
        w, h = max(self.crop, math.ceil(img.width * scale)), max(self.crop, math.ceil(img.height * scale))
        img = img.resize((w, h), Image.Resampling.BILINEAR)
        x0 = int(torch.randint(0, w - self.crop + 1, (), generator=g))
        y0 = int(torch.randint(0, h - self.crop + 1, (), generator=g))
        t = to_tensor(img.crop((x0, y0, x0 + self.crop, y0 + self.crop)))[0]
        if float(torch.rand((), generator=g)) < 0.5:
            t = t.flip(-1)
        return t


class StepBatches:
    """Batches of ``(photo index, crop seed)`` keys for steps ``start``, ``start + 1`` … ``stop − 1``.

    The stream of photo indices is the concatenation of the sampler's epochs, so a folder smaller
    than a batch still works and step ``s`` always gets the same photos.
    """

    def __init__(self, n_photos: int, batch: int, seed: int, rank: int = 0, world: int = 1,
                 start: int = 0, stop: int = 1) -> None:
        self.sampler = DistributedSampler(range(n_photos), num_replicas=world, rank=rank, shuffle=True, seed=seed)
        self.batch, self.seed, self.rank, self.start, self.stop = batch, seed, rank, start, stop
        self.per_epoch = len(self.sampler)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def _epoch(self, epoch: int) -> list[int]:
        self.sampler.set_epoch(epoch)
        return list(self.sampler)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        pos = self.start * self.batch
        epoch, offset = divmod(pos, self.per_epoch)
        order = self._epoch(epoch)
        for step in range(self.start, self.stop):
            keys = []
            for slot in range(self.batch):
                if offset == len(order):
                    epoch, offset = epoch + 1, 0
                    order = self._epoch(epoch)
                crop_seed = (self.seed * 0x9E3779B1 + step * 0x85EBCA77 + self.rank * 0xC2B2AE3D + slot * 0x27D4EB2F) % 2**62
                keys.append((order[offset], crop_seed))
                offset += 1
            yield keys
