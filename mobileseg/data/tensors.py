"""Frames and masks as the tensors a tracker takes: ``float32`` batches of one, resized to the tracker's input size.

Every driver of a tracker (eval, run, quantisation's calibration, the Android copy's preprocessing)
converts through these two functions, so a network sees the same pixels whichever program feeds it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def frame_tensor(frame: np.ndarray, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``uint8 [H, W, 3]`` -> ``float32 [1, 3, h, w]`` in [0, 1], resized bilinearly to ``size``."""
    tensor = torch.from_numpy(np.array(frame, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0
    if size is not None and tuple(tensor.shape[-2:]) != size:
        tensor = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)
    return tensor


def mask_tensor(mask: np.ndarray, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``bool/uint8 [H, W]`` -> ``float32 [1, 1, h, w]`` in {0, 1}, resized (nearest) to ``size``."""
    tensor = torch.from_numpy(np.array(mask, dtype=np.float32))[None, None]
    if size is not None and tuple(tensor.shape[-2:]) != size:
        tensor = F.interpolate(tensor, size=size, mode="nearest")
    return tensor
