"""Will a network fit in memory at an input size? An estimate made before anything large is allocated.

A size the machine cannot hold does not fail cleanly: the allocator may succeed lazily and the
kernel's OOM killer then ends the process, taking memory from everything else on the host. So
``--size`` is checked first, against the memory the operating system reports as available:

- the activations grow with the pixels: the largest feature maps of one ``init`` + ``step`` at a
  small probe size, per pixel (:data:`LIVE_TENSORS` of them alive at once), scaled to the size;
- the memory read grows with the square of the pixels: every query position of the key map
  (stride 16) against every memory position (``slots`` frames), a few float32 copies (the
  negative squared distances, the softmax);
- plus the weights.

It is an estimate (the message says so and gives an override flag); its job is to refuse sizes that
are off by orders of magnitude (``16000x16000``), not to predict the peak to the megabyte. Sizes up
to :data:`UNCHECKED_PIXELS` are not probed (every network here needs well under 1 GiB there, and
the probe costs a second).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from mobileseg.errors import ConfigError
from mobileseg.models import NetworkTracker
from mobileseg.models.base import STRIDE, MemoryNetwork
from mobileseg.models.spec import Student

PROBE = (64, 64)
LIVE_TENSORS = 4  # the largest feature maps counted as alive at the same time
AFFINITY_COPIES = 3  # dot product, distance, softmax: [h*w, slots*h*w] float32 each
UNCHECKED_PIXELS = 1 << 20  # 1 megapixel (1024x1024, above 720p)


def available_bytes() -> int | None:
    """Memory the OS can give without swapping (MemAvailable on Linux); None when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _largest_outputs(model: MemoryNetwork, objects: int) -> list[int]:
    """Bytes of every leaf module's output during one init + step at the probe size."""

    sizes: list[int] = []

    def hook(module: nn.Module, inputs: object, output: object) -> None:
        tensors = output if isinstance(output, (tuple, list)) else (output,)
        sizes.extend(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))

    handles = [m.register_forward_hook(hook) for m in model.modules() if not any(True for _ in m.children())]
    try:
        frame, mask = torch.zeros(1, 3, *PROBE), torch.zeros(objects, 1, *PROBE)
        mask[:, :, : PROBE[0] // 2] = 1
        tracker = NetworkTracker(model)
        with torch.no_grad():
            tracker.step(frame, tracker.init(frame, mask))
    finally:
        for handle in handles:
            handle.remove()
    return sorted(sizes, reverse=True)


def estimate_bytes(model: MemoryNetwork, height: int, width: int, objects: int = 1) -> int:
    """Estimated peak bytes of tracking ``objects`` objects at ``height`` x ``width`` (module docstring)."""
    pixels = height * width
    linear = sum(_largest_outputs(model, objects)[:LIVE_TENSORS]) / (PROBE[0] * PROBE[1]) * pixels
    keys = pixels / (STRIDE * STRIDE)
    slots = model.spec().memory.slots if isinstance(model, Student) else 2  # a teacher: its memory at frame 2
    affinity = AFFINITY_COPIES * 4 * keys * slots * keys
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return int(linear + affinity + weights)


def check_fits(model: MemoryNetwork, size: tuple[int, int], objects: int = 1, flag: str = "--size", override: str = "--no-memory-check") -> None:
    """ConfigError when the estimate at ``size`` exceeds the available memory (names the ``override`` flag)."""
    available = available_bytes()
    if available is None or size[0] * size[1] <= UNCHECKED_PIXELS:
        return
    need = estimate_bytes(model, *size, objects=objects)
    if need > available:
        raise ConfigError(
            f"{flag} {size[0]}x{size[1]} needs about {need / 2**30:,.1f} GiB of memory for this network (an estimate: its "
            f"feature maps and the memory read, which grows with the square of the pixels), but this machine has "
            f"{available / 2**30:,.1f} GiB available. Choose a smaller {flag} (e.g. 480x864), or pass {override} if you "
            "know it fits.")
