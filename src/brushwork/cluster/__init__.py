"""Batch jobs on a Ray cluster: folders of images (``fast``, ``stylize``) and long videos.

Imported only when ``--ray`` is given (and Ray itself only inside the functions that need it),
so ``import brushwork`` and every command without ``--ray`` stay free of Ray.  ``connect``
(joining or starting a cluster, sizing the workers), ``images`` (a streaming pipeline of
(input, output) pairs through a pool of workers that each load the model or VGG once) and
``video`` (segments with overlap, stylized on workers, joined in order with the audio).
See docs/cluster.md.
"""

from typing import TYPE_CHECKING

from ..core.lazy import exports

if TYPE_CHECKING:
    from .connect import ClusterOptions, connected
    from .images import ImageJob, ImagesResult, run_images
    from .video import VideoRecipe, run_video

__getattr__ = exports(__name__, {
    "ClusterOptions": ".connect", "connected": ".connect",
    "ImageJob": ".images", "ImagesResult": ".images", "run_images": ".images",
    "VideoRecipe": ".video", "run_video": ".video",
})
__all__ = ["ClusterOptions", "ImageJob", "ImagesResult", "VideoRecipe", "connected", "run_images", "run_video"]
