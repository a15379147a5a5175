"""Score predicted masks against a dataset with the DAVIS 2017 semi-supervised protocol.

Results layout (what the official toolkit reads): ``RESULTS/<sequence>/<frame>.png``, one
palette-indexed PNG per frame holding object ids (0 = background). Per object, J and F are
averaged over every frame except the first (it is given) and the last; the dataset means are
taken over all objects of all sequences, and J&F is the mean of J-Mean and F-Mean.

Void pixels (255 in the ground truth): the official toolkit's semi-supervised evaluation turns
them into background and excludes nothing, so an object predicted over a void band is a false
positive there. That is the default here (``void="background"``); ``void="ignore"`` leaves void
pixels out of J and F instead (what the toolkit does for the unsupervised task only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mobileseg.data.io import VOID, load_mask
from mobileseg.data.sequence import VideoDataset, VideoSequence
from mobileseg.errors import ConfigError, DatasetError, ResultsError
from mobileseg.eval.metrics import boundary_measure, region_similarity, statistics
from mobileseg.utils.progress import progress


@dataclass(frozen=True)
class ObjectScore:
    """J and F of one object over one sequence (first and last frame excluded)."""

    sequence: str
    object_id: int
    j_frames: tuple[float, ...]
    f_frames: tuple[float, ...]

    def summary(self) -> dict[str, float]:
        j, f = statistics(np.array(self.j_frames)), statistics(np.array(self.f_frames))
        return {
            "J-Mean": j.mean, "J-Recall": j.recall, "J-Decay": j.decay,
            "F-Mean": f.mean, "F-Recall": f.recall, "F-Decay": f.decay,
        }


# what void (255) ground-truth pixels count as (``eval --void``)
VOID_POLICIES = {
    "background": "void pixels count as background, as the official DAVIS 2017 semi-supervised evaluation does",
    "ignore": "void pixels are left out of J and F",
}


def check_void(void: str) -> None:
    if void not in VOID_POLICIES:
        raise ConfigError(f"void must be one of {', '.join(VOID_POLICIES)} "
                          f"({'; '.join(f'{k}: {v}' for k, v in VOID_POLICIES.items())}), got {void!r}.")


# how a prediction run starts each object's tracker (``predict_dataset(first=...)``, ``eval --first``)
FIRST_STARTS = {"mask": "each object's first-frame mask", "box": "the bounding box of each object's first-frame mask"}


@dataclass
class EvalReport:
    """Scores of every object; ``summary()`` gives the DAVIS global table row."""

    objects: list[ObjectScore] = field(default_factory=list)
    first: str | None = None  # what the trackers were started from ("mask" or "box"); None: a scored results folder
    void: str = "background"  # what void ground-truth pixels counted as (VOID_POLICIES)

    def void_rule(self) -> str:
        return f"void pixels: {self.void} (--void {self.void}: {VOID_POLICIES[self.void]})"

    def started_from(self) -> str | None:
        """One line saying how the trackers were started, or None when unknown (a results folder)."""
        if self.first is None:
            return None
        return f"trackers started from {FIRST_STARTS.get(self.first, self.first)} (--first {self.first})"

    def summary(self) -> dict[str, float]:
        if not self.objects:
            raise ResultsError("nothing was scored: the dataset has no sequences")
        rows = [score.summary() for score in self.objects]
        keys = list(rows[0])
        means = {key: float(np.mean([row[key] for row in rows])) for key in keys}
        return {"J&F-Mean": (means["J-Mean"] + means["F-Mean"]) / 2, **means}

    def per_sequence(self) -> dict[str, dict[str, float]]:
        """Per sequence: J-Mean, F-Mean and J&F-Mean averaged over its objects."""
        table: dict[str, dict[str, float]] = {}
        for name in dict.fromkeys(score.sequence for score in self.objects):
            rows = [s.summary() for s in self.objects if s.sequence == name]
            j = float(np.mean([row["J-Mean"] for row in rows]))
            f = float(np.mean([row["F-Mean"] for row in rows]))
            table[name] = {"J&F-Mean": (j + f) / 2, "J-Mean": j, "F-Mean": f, "objects": len(rows)}
        return table

    def to_dict(self) -> dict[str, object]:
        return {
            "protocol": "DAVIS 2017 semi-supervised (first and last frame excluded)",
            **({"first": self.first} if self.first is not None else {}),
            "void": self.void,
            "summary": self.summary(),
            "sequences": self.per_sequence(),
            "objects": {f"{s.sequence}_{s.object_id}": s.summary() for s in self.objects},
        }


def score_object_frames(
    gt_masks: list[np.ndarray], pred_masks: list[np.ndarray], object_id: int, void: str = "background"
) -> tuple[list[float], list[float]]:
    """Per-frame J and F of one object. Masks are ``uint8 [H, W]`` id maps, 255 = void in gt,
    counted as background or left out (``void``, see the module docstring)."""
    check_void(void)
    j_values, f_values = [], []
    for gt, pred in zip(gt_masks, pred_masks):
        excluded = gt == VOID if void == "ignore" else None
        gt_object, pred_object = gt == object_id, pred == object_id
        j_values.append(region_similarity(pred_object, gt_object, excluded))
        f_values.append(boundary_measure(pred_object, gt_object, excluded))
    return j_values, f_values


def _check_length(name: str, frames: int) -> None:
    if frames < 3:
        raise DatasetError(
            f"sequence {name!r} has {frames} frames; the DAVIS protocol drops the first and last "
            "frame, so at least 3 annotated frames are needed."
        )


def _score_objects(
    name: str, object_ids: tuple[int, ...], gt_masks: list[np.ndarray], pred_masks: list[np.ndarray], void: str
) -> list[ObjectScore]:
    scores = []
    for object_id in object_ids:
        j_values, f_values = score_object_frames(gt_masks, pred_masks, object_id, void)
        scores.append(ObjectScore(name, object_id, tuple(j_values), tuple(f_values)))
    return scores


def score_sequence(
    sequence: VideoSequence, gt_masks: list[np.ndarray], pred_masks: list[np.ndarray], void: str = "background"
) -> list[ObjectScore]:
    """Score in-memory masks of every frame of ``sequence``; the first and last are dropped here."""
    _check_length(sequence.name, len(gt_masks))
    return _score_objects(sequence.name, sequence.object_ids, gt_masks[1:-1], pred_masks[1:-1], void)


def _read_prediction(path: Path, sequence: VideoSequence, shape: tuple[int, int]) -> np.ndarray:
    if not path.is_file():
        raise ResultsError(
            f"missing prediction {path} for sequence {sequence.name!r}; the results folder must "
            f"hold <sequence>/<frame>.png for every frame (DAVIS results layout)."
        )
    try:
        # Same id mapping as the ground truth (DAVIS 2016: any non-zero id is the object).
        pred = sequence.decode_mask(load_mask(path))
    except DatasetError as exc:
        raise ResultsError(f"bad prediction: {exc}") from None
    if pred.shape != shape:
        raise ResultsError(
            f"prediction {path} is {pred.shape[1]}x{pred.shape[0]} (WxH) but the ground truth is "
            f"{shape[1]}x{shape[0]}; write predictions at the dataset's resolution."
        )
    extra = sorted(set(np.unique(pred).tolist()) - {0, *sequence.object_ids})
    if extra:
        raise ResultsError(
            f"prediction {path} contains object ids {extra} but sequence {sequence.name!r} has "
            f"objects {list(sequence.object_ids)}; predicted ids must be ids of the first-frame mask."
        )
    return pred


def evaluate_sequence_folder(sequence: VideoSequence, folder: Path, void: str = "background") -> list[ObjectScore]:
    """Read ``folder/<frame>.png`` for every frame of ``sequence`` and score it."""
    missing_gt = [sequence.frames[i].name for i, m in enumerate(sequence.masks) if m is None]
    if missing_gt:
        raise DatasetError(
            f"sequence {sequence.name!r} lacks ground truth for frames {missing_gt[:5]}; DAVIS "
            "evaluation needs every frame annotated (YouTube-VOS val is scored by its server)."
        )
    _check_length(sequence.name, len(sequence))
    # Like the official toolkit, only the scored frames (not the first, not the last) are read.
    scored = range(1, len(sequence) - 1)
    gt_masks = [sequence.mask(i) for i in scored]
    preds = [
        _read_prediction(folder / f"{sequence.frame_names[i]}.png", sequence, gt.shape)
        for i, gt in zip(scored, gt_masks)
    ]
    return _score_objects(sequence.name, sequence.object_ids, gt_masks, preds, void)


def evaluate_results(dataset: VideoDataset, results: str | os.PathLike[str], void: str = "background") -> EvalReport:
    """Score ``results`` (DAVIS results layout) against every sequence of ``dataset``;
    ``void``: what void ground-truth pixels count as (module docstring)."""
    check_void(void)
    results = Path(results)
    if not results.is_dir():
        raise ResultsError(f"results folder not found: {results}; pass the folder holding <sequence>/ subfolders.")
    missing = [name for name in dataset.names if not (results / name).is_dir()]
    if missing:
        raise ResultsError(
            f"results folder {results} has no predictions for {len(missing)} of {len(dataset)} "
            f"sequences ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); "
            "expected one subfolder per sequence of the split."
        )
    report = EvalReport(void=void)
    for sequence in progress(dataset, desc="scoring", total=len(dataset), unit="seq"):
        report.objects.extend(evaluate_sequence_folder(sequence, results / sequence.name, void))
    return report
