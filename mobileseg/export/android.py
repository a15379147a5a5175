"""The Android demo app's side of the export: what its contract reader accepts, how it turns a
camera image into the ``frame`` input, and copying a checked model into its assets.

The app's JVM module (``android_demo/core``, Java, no Android imports) implements the same three
rules; ``tests/integration/test_android.py`` runs both on the same inputs:

- :func:`check_for_app` mirrors ``io.mobileseg.core.Contract`` (version, target, one object,
  float32, the frame/mask/prob roles, a closed feedback loop by the export's names, the schedule of step entries, the model
  file's recorded sha256), so ``export --android`` refuses a model the app would refuse at start-up;
- :func:`check_model_file` mirrors ``ModelDigest``: the model bytes are the ones the contract records;
- :func:`camera_frame` mirrors ``FrameConverter``: rotate upright, centred crop with the model's
  aspect ratio in whole pixels, then the bilinear resize of :func:`mobileseg.eval.predict.frame_tensor`;
- box -> first mask is :func:`mobileseg.data.boxes.box_to_mask` (``BoxMask`` in Java).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mobileseg.artifact.contract import CONTRACT_VERSION, ContractError, load_contract, sha256
from mobileseg.data.tensors import frame_tensor
from mobileseg.errors import ConfigError
from mobileseg.utils.fsio import atomic_path

APP_TARGET = "tflite"
ASSETS = Path("app/src/main/assets/mobileseg")  # inside the app project; the app loads the one contract there
MANIFEST = Path("app/src/main/AndroidManifest.xml")
NEW = "new_"  # step output NEW + S refills state input S on the next frame; init output S fills it
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
FIX = (" Export the model again with `mobileseg export --checkpoint RUN/best.pt --target tflite --android android_demo` "
       f"(this app reads contract version {CONTRACT_VERSION}, target {APP_TARGET}, one object).")


def _problem(source: str, text: str) -> ContractError:
    return ContractError(f"contract {source}: {text}{FIX}")


def _shape(spec: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(d) for d in spec["shape"])


def check_for_app(data: dict[str, Any], source: str = "contract") -> None:  # noqa: C901 - one rule per branch, as in Contract.java
    """ContractError unless the Android app's reader would accept the contract ``data``."""
    if data.get("contract_version") != CONTRACT_VERSION:
        raise _problem(source, f"contract_version is {data.get('contract_version')}; this app reads version {CONTRACT_VERSION}.")
    if data.get("target") != APP_TARGET:
        raise _problem(source, f"target is {data.get('target')!r}; the app runs LiteRT files ({APP_TARGET}).")
    steps, phase = _schedule(data, source)
    files = data.get("files", {})
    model = files.get("init")
    if not str(model or "").endswith(".tflite") or any(files.get(step) != model for step in steps):
        how = "two signatures" if len(steps) == 1 else "signatures"
        raise _problem(source, f"files names {files}; the app needs init and {', '.join(steps)} as {how} of one .tflite file.")
    _recorded_digest(data, source)
    info = data.get("input", {})
    height, width, objects = info.get("height"), info.get("width"), info.get("objects", 1)
    if objects != 1:
        raise _problem(source, f"the model tracks {objects} objects at once; the app tracks the one object of the box you draw (export with --objects 1).")
    if info.get("frame_range", [0.0, 1.0]) != [0.0, 1.0] or info.get("channels", "RGB") != "RGB":
        raise _problem(source, "the app feeds RGB frames scaled to [0, 1].")
    entries = data.get("entry_points", {})
    specs = {entry: {kind: {s["name"]: s for s in entries.get(entry, {}).get(kind, [])} for kind in ("inputs", "outputs")}
             for entry in ("init", *steps)}
    for entry, sides in specs.items():
        for kind, tensors in sides.items():
            if not tensors:
                raise _problem(source, f"entry point {entry} lists no {kind}.")
            for name, spec in tensors.items():
                if spec.get("dtype") != "float32":
                    raise _problem(source, f"{entry} {kind} {name} has dtype {spec.get('dtype')!r}; the app feeds and reads float32.")
    frame, single = (1, 3, height, width), (1, 1, height, width)
    roles = [("init", "inputs", "frame", frame), ("init", "inputs", "mask", single)]
    roles += [role for step in steps for role in ((step, "inputs", "frame", frame), (step, "outputs", "prob", single))]
    for entry, kind, name, shape in roles:
        spec = specs[entry][kind].get(name)
        if spec is None or _shape(spec) != shape:
            found = list(_shape(spec)) if spec else "nothing"
            raise _problem(source, f"{entry} {kind[:-1]} {name} should be {list(shape)} for input {height}x{width}; the contract has {found}.")
    if set(specs["init"]["inputs"]) != {"frame", "mask"}:
        raise _problem(source, f"init takes {list(specs['init']['inputs'])}; the app gives it exactly frame and mask.")
    first = specs[steps[0]]["inputs"]
    state = [name for name in first if name != "frame"]
    if not state:
        raise _problem(source, f"{steps[0]} takes no state inputs besides frame; the app needs the memory as explicit state.")
    for step in steps:
        if list(specs[step]["inputs"]) != list(first):
            raise _problem(source, f"{step} takes {list(specs[step]['inputs'])} but {steps[0]} takes {list(first)}; "
                                   "every step entry takes the frame and the same state.")
    if phase is not None and (phase not in state or int(np.prod(_shape(first[phase]))) != 1):
        raise _problem(source, f"schedule.phase names {phase}, which is not a single-number state input (state: {state}).")
    feedback = data.get("feedback", {})
    for section, entries_fed, others in (("init", ["init"], set()), ("step", list(steps), {"prob"})):
        feeds = feedback.get(section, {})
        fed = list(feeds.values())
        if sorted(fed) != sorted(state) or len(set(fed)) != len(fed):
            raise _problem(source, f"feedback.{section} feeds {fed}; the state inputs of {steps[0]} are {state}, each fed exactly once.")
        # The names, not only the shapes: states of one shape swapped by an edit pass the shape check and would feed the
        # wrong tensor back every frame, a silently different result. In state order, as Contract.checkFeed reports.
        source_of = {target: output for output, target in feeds.items()}
        for target in state:
            expected = target if section == "init" else NEW + target
            if source_of[target] != expected:
                raise _problem(source, f"feedback.{section} fills state input {target} from {source_of[target]}; the export fills it from "
                                       f"{section} output {expected} (init output S fills state input S, step output {NEW}S refills it). "
                                       "The feedback map was edited, and following it would feed the wrong tensor back; export again.")
        for entry in entries_fed:
            for output, target in feeds.items():
                spec = specs[entry]["outputs"].get(output)
                if spec is None:
                    raise _problem(source, f"feedback.{section} names output {output}, which {entry} does not have.")
                if _shape(spec) != _shape(first[target]):
                    raise _problem(source, f"{entry} output {output} feeds step input {target}: the shapes differ.")
            unused = set(specs[entry]["outputs"]) - set(feeds) - others
            if unused:
                raise _problem(source, f"{entry} output {sorted(unused)[0]} feeds nothing: the feedback section does not say where it goes.")


def _recorded_digest(data: dict[str, Any], source: str) -> str:
    """The sha256 the export recorded for the model file (lower case), or the problem (``Contract.readDigest``): without it
    nothing tells the exported file from another with the same tensors and other weights."""
    model = data["files"]["init"]
    section = data.get("sha256")
    digest = section.get(model) if isinstance(section, dict) else None
    if digest is None:
        raise _problem(source, f"has no sha256 digest of {model} (its sha256 section is {section}), so the app cannot tell whether the "
                               "model file is the one exported with it: the contract was written before digests were recorded, or edited; "
                               "export again.")
    if not isinstance(digest, str) or not _HEX_DIGEST.fullmatch(digest):
        raise _problem(source, f"sha256.{model} is {digest!r}; expected the file's SHA-256 as 64 hex digits. The contract was edited; export again.")
    return digest.lower()


def check_model_file(data: dict[str, Any], model: str | os.PathLike[str], source: str = "contract") -> None:
    """ContractError unless the file ``model`` holds the bytes the contract ``data`` records for its model file
    (``ModelDigest.check`` in the app). The signature check compares tensor names and shapes only, which another export of
    the same network passes too; that model would run and silently compute different masks."""
    recorded, found = _recorded_digest(data, source), sha256(model)
    if found != recorded:
        raise _problem(source, f"{data['files']['init']} has sha256 {found}, but the contract records {recorded} for it: the model file "
                               "was replaced or the contract edited after the export, and another model would silently compute different "
                               "masks; export again.")


def _schedule(data: dict[str, Any], source: str) -> tuple[list[str], str | None]:
    """The step entries and the phase input (``Contract.readSchedule``); no section: ``["step"]``, None."""
    section = data.get("schedule")
    if section is None:
        return ["step"], None
    steps, phase = section.get("steps") if isinstance(section, dict) else None, section.get("phase") if isinstance(section, dict) else None
    if not isinstance(steps, list) or not steps or len(set(map(str, steps))) != len(steps) or "init" in steps \
            or not all(isinstance(s, str) and s for s in steps):
        raise _problem(source, f"schedule.steps is {steps}; expected distinct step entry names.")
    if phase is None and len(steps) > 1:
        raise _problem(source, f"schedule lists {len(steps)} step entries {steps} but no phase input to choose between them.")
    if phase is not None and (not isinstance(phase, str) or not phase):
        raise _problem(source, f"schedule.phase is {phase!r}; expected the name of a state input, or null.")
    return steps, phase


def centre_crop(height: int, width: int, out_h: int, out_w: int) -> tuple[int, int, int, int]:
    """``(y0, x0, crop_h, crop_w)``: the centred crop with aspect ``out_h : out_w``, rounded half up in whole pixels."""
    crop_h, crop_w = height, width
    if width * out_h > height * out_w:
        crop_w = (2 * height * out_w + out_h) // (2 * out_h)
    elif width * out_h < height * out_w:
        crop_h = (2 * width * out_h + out_w) // (2 * out_w)
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def camera_frame(rgba: np.ndarray, rotation: int, size: tuple[int, int]) -> torch.Tensor:
    """``uint8 [h, w, 4]`` sensor image, clockwise ``rotation`` in degrees -> ``float32 [1, 3, H, W]`` in [0, 1]."""

    if rotation not in (0, 90, 180, 270):
        raise ConfigError(f"rotation must be 0, 90, 180 or 270 degrees, got {rotation}")
    upright = np.rot90(rgba[..., :3], k=-rotation // 90)
    y0, x0, crop_h, crop_w = centre_crop(upright.shape[0], upright.shape[1], *size)
    return frame_tensor(np.ascontiguousarray(upright[y0:y0 + crop_h, x0:x0 + crop_w]), size)


def check_app_dir(app: str | os.PathLike[str]) -> Path:
    """The app project folder, or a ConfigError saying what was expected there."""
    root = Path(app)
    if not (root / MANIFEST).is_file():
        raise ConfigError(f"--android {root}: no {MANIFEST} there; pass the demo app's project folder (android_demo in this repository).")
    return root


def install_into_app(contract_file: str | os.PathLike[str], app: str | os.PathLike[str]) -> list[Path]:
    """Copy a TFLite export and its contract into the app's assets (``app/src/main/assets/mobileseg``).

    The contract is checked first with the app's rules, and the copied model's bytes against the
    contract's sha256 (as the app checks them); the files are copied atomically (the
    model before its contract), and older ``*.tflite`` / ``*.tflite.json`` files in that asset
    folder, which the app would find instead, are removed. Nothing else there is touched.
    """
    root = check_app_dir(app)
    contract = load_contract(contract_file)
    check_for_app(contract.data, str(contract.path))
    assets = root / ASSETS
    assets.mkdir(parents=True, exist_ok=True)
    model = contract.file("init")
    written = []
    for source in (model, contract.path):
        with atomic_path(assets / source.name) as tmp:
            shutil.copyfile(source, tmp)
            if source == model:  # the bytes the app will load; a mismatch leaves the assets untouched
                check_model_file(contract.data, tmp, str(contract.path))
        written.append(assets / source.name)
    for old in assets.iterdir():
        if old not in written and (old.name.endswith(".tflite") or old.name.endswith(".tflite.json")):
            old.unlink()
    return written
