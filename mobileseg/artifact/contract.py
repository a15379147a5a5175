"""The contract JSON written beside every exported artifact (``<artifact>.json``).

A reader of this file alone knows how to drive the model: the files, each entry point's inputs
and outputs (name, shape, dtype, layout, meaning), which output feeds which input on the next
frame, which step entry runs each frame (``schedule``: ``step`` always, or ``steps[int(phase)]``
for a student with several step graphs), the input size and value range, the memory policy,
where the weights came from, the toolchain versions, the parity figures measured when the
file was written and the sha256 of every file it names (checked whenever it is loaded, with the
feedback map, so a replaced file or an edited map is refused rather than run). A contract without ``schedule`` (written before it existed) reads as
``{"steps": ["step"], "phase": null}``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobileseg.artifact.publish import digest, pending, recover
from mobileseg.artifact.signature import NEW, Signature
from mobileseg.errors import MobilesegError
from mobileseg.utils.fsio import write_json_atomic

CONTRACT_VERSION = 1
TOOLCHAIN = ("mobileseg", "torch", "onnx", "onnxruntime", "onnxsim", "litert-torch", "ai-edge-litert", "executorch", "coremltools")
_ENTRY_FILE = re.compile(r"^(init|step|step_\d+)$")  # student.<entry>.onnx belongs to student.onnx.json


def usage(signature: Signature) -> str:
    """How to drive the entry points, in one paragraph generated from the names (the contract's ``usage``)."""
    state, new = signature.state, [NEW + name for name in signature.state]
    step = signature.step_entries[0]
    call = "step" if len(signature.steps) == 1 else "step_<i>"
    text = (f"state = init(frame, mask) -> {{{', '.join(state)}}}; then for every later frame: "
            f"{call}({', '.join(step.inputs)}) -> {{{', '.join(step.outputs)}}}, ")
    if len(signature.steps) > 1:
        text += (f"where step_<i> is schedule.steps[int({signature.phase})] ({', '.join(signature.steps)}: the sub-network "
                 f"this frame runs), ")
    return text + (f"and feed {'/'.join(new)} back as {'/'.join(state)} on the next frame. A new video starts with init again.")


def schedule(signature: Signature) -> dict[str, Any]:
    """The contract's ``schedule``: which step entry runs each frame."""
    if signature.phase is None:
        rule = f"run {signature.steps[0]} for every frame after the first"
    else:
        rule = (f"run steps[int({signature.phase})] for the next frame, {signature.phase} being the state input of that name; "
                f"{signature.phase} is fed back like the rest of the state (init sets it to 0)")
    return {"steps": list(signature.steps), "phase": signature.phase, "rule": rule}


class ContractError(MobilesegError):
    """A contract is missing, unreadable, or does not describe the file next to it."""


def contract_path(artifact: str | os.PathLike[str]) -> Path:
    """``student.tflite`` -> ``student.tflite.json``; a ``.json`` path is returned as is.

    One file per entry point (``student.step.onnx``, ``student.step_0.onnx``) belongs to the contract of the whole
    artifact (``student.onnx.json``).
    """
    path = Path(artifact)
    if path.suffix == ".json":
        return path
    own = path.with_name(path.name + ".json")
    parts = path.name.split(".")
    if not own.exists() and len(parts) >= 3 and _ENTRY_FILE.match(parts[-2]):
        return path.with_name(".".join(parts[:-2] + parts[-1:]) + ".json")
    return own


sha256 = digest  # a file's sha256 (a package folder's: over its files), as the contract records it


def toolchain_versions() -> dict[str, str]:
    versions = {}
    for package in TOOLCHAIN:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def tensor_spec(name: str, signature: Signature) -> dict[str, Any]:
    layout, description = signature.describe(name)
    return {"name": name, "shape": list(signature.shapes[name]), "dtype": "float32", "layout": layout, "description": description}


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
            "usage": usage(sig),
            "entry_points": {
                entry.name: {"inputs": [tensor_spec(n, sig) for n in entry.inputs],
                             "outputs": [tensor_spec(n, sig) for n in entry.outputs]}
                for entry in sig.entry_points
            },
            "feedback": {"init": {name: name for name in sig.state}, "step": sig.feedback},  # "step": every step entry
            "schedule": schedule(sig),
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
    def state(self) -> tuple[str, ...]:
        """The state input names in order: what init returns (its outputs, renamed by ``feedback.init``)."""
        feeds = self.data["feedback"].get("init", {})
        return tuple(feeds.get(spec["name"], spec["name"]) for spec in self.outputs("init"))

    def init_output(self, name: str) -> str:
        """The init output that fills state input ``name``."""
        return next((out for out, target in self.data["feedback"].get("init", {}).items() if target == name), name)

    @property
    def feedback(self) -> dict[str, str]:
        """Step output -> state input on the next frame (every step entry's)."""
        return dict(self.data["feedback"]["step"])

    @property
    def schedule(self) -> dict[str, Any]:
        """The ``schedule`` section; contracts written before it existed had the one entry ``step``."""
        return dict(self.data.get("schedule") or {"steps": ["step"], "phase": None})

    @property
    def steps(self) -> tuple[str, ...]:
        """The step entry names, in phase order."""
        return tuple(self.schedule["steps"])

    @property
    def phase(self) -> str | None:
        """The state input whose value picks the step entry (None: always ``steps[0]``)."""
        phase = self.schedule.get("phase")
        return None if phase is None else str(phase)

    @property
    def entries(self) -> tuple[str, ...]:
        """Every entry point: ``init`` then the step entries."""
        return ("init", *self.steps)

    def step_for(self, phase: float | None) -> str:
        """The step entry that runs the next frame when the state's phase input holds ``phase``."""
        steps = self.steps
        if self.phase is None:
            return steps[0]
        if phase is None or not float(phase).is_integer() or not 0 <= int(phase) < len(steps):
            raise ContractError(
                f"{self.path.name}: the state's {self.phase!r} is {phase}, but the schedule has {len(steps)} step entries "
                f"({', '.join(steps)}), so it must be a whole number from 0 to {len(steps) - 1}. Feed back the state the previous "
                "init/step returned, unchanged (a new video starts with init); if the contract was edited, export again.")
        return steps[int(phase)]

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

    def check_schedule(self) -> None:
        """The schedule names step entries the contract has, a phase input among the state, and the
        same state on every step entry (an edited or foreign contract does not)."""
        steps = self.steps
        if not steps or any(step not in self.data["entry_points"] for step in steps) or "init" not in self.data["entry_points"]:
            raise ContractError(f"{self.path}: schedule.steps {list(steps)} and init must all be entry points "
                                f"(it has {sorted(self.data['entry_points'])}); export again.")
        if self.phase is None and len(steps) != 1:
            raise ContractError(f"{self.path}: schedule lists {len(steps)} step entries but no phase input to choose between them; export again.")
        state = self.state
        if self.phase is not None and self.phase not in state:
            raise ContractError(f"{self.path}: schedule.phase {self.phase!r} is not a state input (state: {list(state)}); export again.")
        for step in steps:
            inputs = [spec["name"] for spec in self.inputs(step)]
            if inputs != ["frame", *state]:
                raise ContractError(f"{self.path}: {step} takes {inputs}; every step entry takes frame and the state init returns "
                                    f"{['frame', *state]}. The contract was edited or is foreign; export again.")

    def check_feedback(self) -> None:
        """The feedback section is the one every export writes: init's output S fills state input S and
        each step's ``new_S`` refills it. An edited map (``mem_key`` <-> ``mem_value``) can keep every
        shape and still feed each tensor where the other belongs, silently changing every mask."""
        state = self.state
        expected = {"init": {name: name for name in state}, "step": {NEW + name: name for name in state}}
        for section, want in expected.items():
            found = dict(self.data["feedback"].get(section) or {})
            if found != want:
                raise ContractError(
                    f"{self.path}: feedback.{section} is {found}, but the state {list(state)} is fed back as {want} (each output "
                    f"to the input of its own name{'' if section == 'init' else ', without the new_ prefix'}). The contract was "
                    "edited or is foreign; export again (or restore it).")
            for output, target in want.items():
                for entry in ("init",) if section == "init" else self.steps:
                    if self.shape(entry, output) != self.shape(self.steps[0], target):
                        raise ContractError(f"{self.path}: {entry} output {output} has shape {list(self.shape(entry, output))} but "
                                            f"feeds state input {target} of shape {list(self.shape(self.steps[0], target))}; export again.")

    def check_digests(self) -> None:
        """Every file the contract names is the one it was exported with (the sha256 it recorded).

        A replaced file with the same shapes would otherwise run, silently, as a different network.
        Digests are cached per process by path, size and modification time.
        """
        recorded = self.data.get("sha256") or {}
        for name in sorted(set(self.data["files"].values())):
            path = self.path.parent / name
            if name not in recorded:
                raise ContractError(f"{self.path} records no sha256 for {name} (written before exports recorded digests, or "
                                    "edited), so it cannot show that the file is the one exported with it. Export again.")
            if _cached_digest(path) != recorded[name]:
                raise ContractError(
                    f"{path} is not the file {self.path.name} was exported with: its sha256 differs from the one recorded at "
                    "export, so the model file was replaced (or changed) after the export. Export again (`mobileseg export`) "
                    "so that the file and its contract belong together, or restore the file.")

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
    """Read the contract of ``artifact`` (the artifact itself or its ``.json``) and check it: its own
    consistency (input section, schedule, feedback) and that every file it names is the one
    exported with it (sha256). An export that a kill interrupted while it was
    being published is finished first (:mod:`mobileseg.artifact.publish`)."""
    path = contract_path(artifact)
    if pending(path.parent):
        try:
            recover(path.parent)
        except OSError as exc:
            raise ContractError(f"an export into {path.parent} was interrupted while its files were being moved into place, and "
                                f"finishing it failed ({exc}); run `mobileseg export` into that folder again.") from None
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
    loaded.check_schedule()
    loaded.check_feedback()
    loaded.check_digests()
    return loaded


_DIGESTS: dict[tuple[str, int, int], str] = {}


def _cached_digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = digest(path)
    return _DIGESTS[key]
