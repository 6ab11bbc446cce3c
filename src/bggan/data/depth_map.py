"""A depth map read for one photo: its values, what they mean, and the range its file states.

:mod:`bggan.data.depth_files` reads them from every file a user gives, :mod:`bggan.data.phone_depth` from the ones
phones keep inside their photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DepthMap:
    """A depth map read for one photo.

    Attributes:
        values: ``(H, W)`` float32, the photo's shape: metres (> 0) for ``kind="metres"``, else any range.
        kind: ``"metres"``; ``"depth"``, relative, bright = far; or ``"disparity"``, relative, bright = near.
        near_m, far_m: the metres the file itself says its nearest and farthest values stand for (Dynamic Depth,
            GDepth, HEIC), else ``None``.
        source: one line for logs: what was read, from where (sizes are HxW).
    """

    values: np.ndarray
    kind: str
    near_m: float | None
    far_m: float | None
    source: str
