"""The contract JSON written beside every exported artifact (``<artifact>.json``).

A reader of this file alone knows how to drive the model: the files, each entry point's inputs
and outputs (name, shape, dtype, layout, meaning), which output feeds which input on the next
frame, the input size and value range, the memory policy, where the weights came from, the
toolchain versions and the parity figures measured when the file was written.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobileseg.errors import MobilesegError
from mobileseg.export.signature import DESCRIPTIONS, ENTRY_POINTS, FEEDBACK, LAYOUTS, STATE, Signature
from mobileseg.utils.fsio import write_json_atomic

CONTRACT_VERSION = 1
TOOLCHAIN = ("mobileseg", "torch", "onnx", "onnxruntime", "onnxsim", "litert-torch", "ai-edge-litert", "executorch", "coremltools")
USAGE = ("state = init(frame, mask) -> {mem_key, mem_value}; then for every later frame: "
         "step(frame, mem_key, mem_value) -> {prob, new_mem_key, new_mem_value}, and feed new_mem_key/new_mem_value "
         "back as mem_key/mem_value on the next frame. A new video starts with init again.")


class ContractError(MobilesegError):
    """A contract is missing, unreadable, or does not describe the file next to it."""


def contract_path(artifact: str | os.PathLike[str]) -> Path:
    """``student.tflite`` -> ``student.tflite.json``; a ``.json`` path is returned as is.

    One file per entry point (``student.step.onnx``) belongs to the contract of the whole
    artifact (``student.onnx.json``).
    """
    path = Path(artifact)
    if path.suffix == ".json":
        return path
    own = path.with_name(path.name + ".json")
    parts = path.name.split(".")
    if not own.exists() and len(parts) >= 3 and parts[-2] in ("init", "step"):
        return path.with_name(".".join(parts[:-2] + parts[-1:]) + ".json")
    return own


def sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def toolchain_versions() -> dict[str, str]:
    versions = {}
    for package in TOOLCHAIN:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def tensor_spec(name: str, signature: Signature) -> dict[str, Any]:
    return {"name": name, "shape": list(signature.shapes[name]), "dtype": "float32", "layout": LAYOUTS[name],
            "description": DESCRIPTIONS[name]}


@dataclass
class Contract:
    """What ``<artifact>.json`` holds (see the module docstring); ``to_dict`` is the JSON."""

    target: str
    files: dict[str, str]  # entry point -> file name, relative to the contract
    signature: Signature
    model: dict[str, Any]
    memory: dict[str, Any]
    export: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    toolchain: dict[str, str] = field(default_factory=toolchain_versions)
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> digest, to tell an edited contract from a replaced file

    def to_dict(self) -> dict[str, Any]:
        sig = self.signature
        return {
            "contract_version": CONTRACT_VERSION,
            "target": self.target,
            "files": self.files,
            "usage": USAGE,
            "entry_points": {
                entry.name: {"inputs": [tensor_spec(n, sig) for n in entry.inputs],
                             "outputs": [tensor_spec(n, sig) for n in entry.outputs]}
                for entry in ENTRY_POINTS
            },
            "feedback": {"init": {name: name for name in STATE}, "step": dict(FEEDBACK)},
            "input": {"height": sig.height, "width": sig.width, "objects": sig.objects, "frame_range": [0.0, 1.0],
                      "channels": "RGB", "normalisation": "inside the model (ImageNet mean/std)",
                      "mask_threshold": 0.5},
            "memory": self.memory,
            "model": self.model,
            "toolchain": self.toolchain,
            "export": self.export,
            "parity": self.parity,
            "sha256": self.sha256,
        }

    def write(self, path: str | os.PathLike[str]) -> Path:
        write_json_atomic(path, self.to_dict())
        return Path(path)


@dataclass(frozen=True)
class LoadedContract:
    """A contract read back from disk, with the paths of its files resolved."""

    path: Path
    data: dict[str, Any]

    @property
    def target(self) -> str:
        return str(self.data["target"])

    def file(self, entry: str) -> Path:
        return self.path.parent / self.data["files"][entry]

    def inputs(self, entry: str) -> list[dict[str, Any]]:
        return list(self.data["entry_points"][entry]["inputs"])

    def outputs(self, entry: str) -> list[dict[str, Any]]:
        return list(self.data["entry_points"][entry]["outputs"])

    def shape(self, entry: str, name: str) -> tuple[int, ...]:
        for spec in self.inputs(entry) + self.outputs(entry):
            if spec["name"] == name:
                return tuple(spec["shape"])
        raise ContractError(f"{self.path}: entry point {entry!r} has no tensor {name!r}")

    @property
    def size(self) -> tuple[int, int]:
        return int(self.data["input"]["height"]), int(self.data["input"]["width"])

    @property
    def objects(self) -> int:
        """How many objects one state of the exported graphs follows (``--objects``)."""
        return int(self.data["input"].get("objects", 1))

    def blame(self, entry: str) -> str:
        """Which side changed when the file of ``entry`` and this contract disagree, judged by the
        digest the export recorded."""
        path = self.file(entry)
        recorded = self.data.get("sha256", {}).get(path.name)
        if recorded is None or not path.is_file():
            return "the contract or the model file was changed after the export"
        if sha256(path) == recorded:
            return f"{path.name} is the file exported with this contract, so the contract was edited"
        return f"{path.name} is not the file this contract was exported with (its sha256 differs), so the model file was replaced"

    def check_consistent(self) -> None:
        """The contract's input section agrees with its own entry points (an edited height does not)."""
        height, width = self.size
        objects = self.objects
        expected = {"frame": (1, 3, height, width), "mask": (objects, 1, height, width)}
        for entry in self.data["entry_points"]:
            for spec in self.inputs(entry):
                want = expected.get(spec["name"])
                if want is not None and tuple(spec["shape"]) != want:
                    raise ContractError(
                        f"{self.path} contradicts itself: its input section says {height}x{width} with {objects} object(s), "
                        f"so {entry!r} input {spec['name']!r} should be {list(want)}, but the entry point lists {spec['shape']}. "
                        "The contract was edited by hand; export again (or restore it).")


def load_contract(artifact: str | os.PathLike[str]) -> LoadedContract:
    """Read the contract of ``artifact`` (the artifact itself or its ``.json``)."""
    path = contract_path(artifact)
    if not path.is_file():
        raise ContractError(
            f"no contract {path} beside {artifact}. Every export writes <artifact>.json; export again with "
            "`mobileseg export`, or pass the artifact that has one."
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(f"contract {path} is not valid JSON ({exc}); export again.") from None
    missing = [key for key in ("contract_version", "target", "files", "entry_points", "feedback", "input") if key not in data]
    if missing:
        raise ContractError(f"contract {path} lacks {missing}; it was not written by `mobileseg export` (version {CONTRACT_VERSION}).")
    if data["contract_version"] != CONTRACT_VERSION:
        raise ContractError(f"contract {path} has version {data['contract_version']}; this mobileseg reads version {CONTRACT_VERSION}.")
    loaded = LoadedContract(path, data)
    for entry in data["files"]:
        if not loaded.file(entry).exists():
            raise ContractError(f"contract {path} names {loaded.file(entry)} for {entry!r}, which does not exist.")
    loaded.check_consistent()
    return loaded
