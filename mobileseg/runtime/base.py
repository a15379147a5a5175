"""Trackers over exported files: the same ``init``/``step`` as the PyTorch tracker.

A :class:`RuntimeModel` loads an artifact once (session, interpreter or program) and reads
every name and shape from the artifact's contract; :meth:`RuntimeModel.tracker` makes cheap
trackers that share it (the state is explicit, so a tracker holds nothing but the model).
Inputs and outputs are torch tensors at the tracker protocol, numpy arrays at the runtime.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np
import torch

from mobileseg.artifact.contract import ContractError, LoadedContract, load_contract
from mobileseg.errors import ConfigError, MobilesegError
from mobileseg.registry import Registry
from mobileseg.tracker import State


class ToolchainError(MobilesegError):
    """A converter or runtime package is not installed; the message names the extra."""


class RuntimeInputError(ConfigError):
    """An input does not have the shape the artifact was exported for."""


def require(module: str, extra: str, what: str) -> Any:
    """Import ``module`` or raise ToolchainError naming the pip extra that provides it."""

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ToolchainError(f"{what} needs the Python package {module.split('.')[0]!r} ({exc}); install it with "
                             f"pip install 'mobileseg[{extra}]' (or make install for every toolchain).") from None


class RuntimeModel:
    """An exported artifact loaded into its runtime. Subclasses implement :meth:`run`."""

    target: str = ""

    def __init__(self, contract: LoadedContract, threads: int) -> None:
        if threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        self.contract, self.threads = contract, threads

    def run(self, entry: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Execute ``entry`` with inputs by name; outputs by name (contract names)."""
        raise NotImplementedError

    def check_file(self, entry: str, inputs: list[tuple[str | None, tuple[int, ...]]], outputs: list[tuple[str | None, tuple[int, ...]]]) -> None:
        """Compare the runtime's own view of ``entry`` (names where the format keeps them, else None;
        shapes) with the contract; a ContractError says which tensor differs and which side changed.

        Names are compared as a set and shapes by name where the file has names (a TFLite
        signature is unordered); in order where it has none (ExecuTorch).
        """
        for kind, found, listed in (("input", inputs, self.contract.inputs(entry)), ("output", outputs, self.contract.outputs(entry))):
            expected = [(spec["name"], tuple(spec["shape"])) for spec in listed]
            named = all(name is not None for name, _ in found)
            if named:
                file_view = {name: shape for name, shape in found if name is not None}
                contract_view = dict(expected)
                problems = [f"{kind} {name!r}: the contract says {list(contract_view[name]) if name in contract_view else 'nothing'}, "
                            f"the file has {list(file_view[name]) if name in file_view else 'nothing'}"
                            for name in sorted(set(file_view) | set(contract_view)) if file_view.get(name) != contract_view.get(name)]
            else:
                problems = [f"{kind} {i} ({name}): the contract says {list(shape)}, the file has {list(found[i][1]) if i < len(found) else 'nothing'}"
                            for i, (name, shape) in enumerate(expected) if i >= len(found) or tuple(found[i][1]) != shape]
                if len(found) > len(expected):
                    problems.append(f"the file has {len(found)} {kind}s, the contract lists {len(expected)}")
            if problems:
                raise ContractError(f"{self.contract.path.name} does not describe {self.contract.file(entry).name}, entry point {entry!r}: "
                                    f"{'; '.join(problems)}. Which side changed: {self.contract.blame(entry)}. Export again "
                                    "(`mobileseg export`) so that the file and its contract belong together.")

    def check(self, entry: str, name: str, value: torch.Tensor) -> np.ndarray:
        expected = self.contract.shape(entry, name)
        if tuple(value.shape) != expected:
            raise RuntimeInputError(
                f"{name} has shape {tuple(value.shape)} but {self.contract.path.name} was exported for {expected}. "
                f"Resize inputs to {self.contract.size[0]}x{self.contract.size[1]} or export again with --size/--objects."
            )
        return np.ascontiguousarray(value.detach().cpu().numpy(), dtype=np.float32)

    def tracker(self) -> RuntimeTracker:
        return RuntimeTracker(self)


class RuntimeTracker:
    """The tracker protocol over a :class:`RuntimeModel`; one state takes the exported object count.

    The state is the contract's state inputs in order; each frame runs the step entry the
    contract's schedule picks from the state's phase input (the plain student: always ``step``).
    """

    def __init__(self, model: RuntimeModel) -> None:
        self.model = model
        self.objects: int | None = model.contract.objects
        contract = model.contract
        self.state_names = contract.state
        self.init_outputs = [contract.init_output(name) for name in self.state_names]
        self.refills = {target: output for output, target in contract.feedback.items()}  # state input -> step output
        self.phase = self.state_names.index(contract.phase) if contract.phase is not None else None

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> State:
        feeds = {"frame": self.model.check("init", "frame", frame), "mask": self.model.check("init", "mask", mask)}
        out = self.model.run("init", feeds)
        return tuple(torch.from_numpy(np.array(out[name])) for name in self.init_outputs)

    def step(self, frame: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        contract = self.model.contract
        if len(state) != len(self.state_names):
            raise RuntimeInputError(f"the state has {len(state)} tensors; {contract.path.name} takes {len(self.state_names)} "
                                    f"({', '.join(self.state_names)}): pass the state init/step returned.")
        entry = contract.step_for(None if self.phase is None else float(state[self.phase].reshape(-1)[0]))
        feeds = {"frame": self.model.check(entry, "frame", frame)}
        feeds.update({name: self.model.check(entry, name, value) for name, value in zip(self.state_names, state)})
        out = self.model.run(entry, feeds)
        return (torch.from_numpy(np.array(out["prob"])),
                tuple(torch.from_numpy(np.array(out[self.refills[name]])) for name in self.state_names))


RUNTIMES: Registry[type[RuntimeModel]] = Registry("runtime")


def open_runtime(artifact: str | os.PathLike[str], threads: int = 2) -> RuntimeModel:
    """Load ``artifact`` (or its contract) into the runtime of its target."""
    contract = load_contract(artifact)
    if contract.target not in RUNTIMES:
        raise ConfigError(
            f"{contract.path.name}: target {contract.target!r} has no runtime on this machine "
            f"(runtimes: {', '.join(RUNTIMES.names())}). Core ML runs on Apple devices only; its spec is checked instead."
        )
    return RUNTIMES.get(contract.target)(contract, threads)
