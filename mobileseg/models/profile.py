"""Where a network's ``step`` spends its operations and its time, part by part.

    profile_step(model, 480, 864) -> [Part(name, params, gflops, ms), ...]

Parts are the modules a ``step`` runs (the key encoder, the value encoder, the fuser, the
decoder's stages, ...); FLOPs come from ``torch.utils.flop_counter`` and milliseconds from
timing each part's forward in eager PyTorch on the inputs it got in a real step (median over
``repeats`` calls, after a warm-up). What no part holds (normalisation, the memory readout, the
final upsampling, the state update) is the row ``rest``; parameters no step uses (the
distillation embedding) count there too. Used by ``benchmarks/fast.py`` to report a student before and after a change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mobileseg.models.base import MemoryNetwork
from mobileseg.utils.timing import median_ms

# (row name, attribute path) in the order a step runs them; missing attributes are skipped
PARTS = (
    ("key encoder", "key_encoder"), ("key projection", "key_proj"), ("query compression", "key_comp"),
    ("decoder: ASPP", "decoder.aspp"), ("decoder: up 16->8", "decoder.up_16_8"), ("decoder: up 8->4", "decoder.up_8_4"),
    ("decoder: prediction", "decoder.pred"), ("value encoder", "value_encoder"), ("fuser", "fuser"),
)


@dataclass
class Part:
    name: str
    params: int
    gflops: float
    ms: float


def _module(model: nn.Module, path: str) -> nn.Module | None:
    """The submodule at dotted ``path`` (``decoder.aspp``), or None where a network has no such part."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        return None


def _flops(run: Callable[[], object]) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        run()
    return float(counter.get_total_flops())


@torch.no_grad()
def profile_step(model: MemoryNetwork, height: int, width: int, repeats: int = 5) -> list[Part]:
    """Params, GFLOPs and eager milliseconds of each part of one ``step`` at ``height`` x ``width``.

    Each part's inputs are captured during one real ``step``; the part is then counted and timed
    on its own with those inputs.
    """
    model = model.eval()
    frame = torch.rand(1, 3, height, width)
    mask = torch.zeros(1, 1, height, width)
    mask[..., height // 4: height // 2, width // 4: width // 2] = 1
    state = model.init(frame, mask)
    parts = [(name, module) for name, path in PARTS if (module := _module(model, path)) is not None]
    captured: dict[str, tuple[object, ...]] = {}
    handles = [module.register_forward_pre_hook(lambda _m, args, n=name: captured.setdefault(n, args)) for name, module in parts]
    try:
        model.step(frame, *state)
    finally:
        for handle in handles:
            handle.remove()

    def whole() -> object:
        return model.step(frame, *state)

    rows = []
    for name, module in parts:
        if name not in captured:  # not run by step
            continue
        run = functools.partial(module, *captured[name])
        rows.append(Part(name, sum(p.numel() for p in module.parameters()), _flops(run) / 1e9, median_ms(run, repeats, warmup=1)))
    total_flops, total_ms = _flops(whole) / 1e9, median_ms(whole, repeats, warmup=1)
    params = sum(p.numel() for p in model.parameters())
    rows.append(Part("rest (readout, upsampling, state)", params - sum(r.params for r in rows), total_flops - sum(r.gflops for r in rows),
                     total_ms - sum(r.ms for r in rows)))
    rows.append(Part("step total", params, total_flops, total_ms))
    return rows
