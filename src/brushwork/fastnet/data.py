"""Training photos: any folder of images, read as random square crops in a reproducible order.

The order of photos and every crop are pure functions of ``(seed, step, rank)``: the photo order
comes from a :class:`~torch.utils.data.DistributedSampler` (one shuffled permutation per epoch,
each rank taking its own share), and each crop's scale, position and flip come from a generator
seeded with the sample's place in the stream.  A resumed run therefore sees exactly the batches
an uninterrupted run would have seen, with no random state to save, and two ranks never train on
the same photo in the same step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset, DistributedSampler

from ..core.errors import InputError
from ..core.image import load_image, to_tensor

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
#: Photos in folders up to this many are kept decoded in memory after first use.
CACHE_LIMIT = 2000


def list_photos(folder: str | Path) -> list[Path]:
    """Every image file under ``folder`` (recursively), in a stable order."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"training data '{root}' is not a folder: give a folder of photos (e.g. COCO train2014).")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"training data '{root}' holds no images (.jpg, .png …): put photos in it.")
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
