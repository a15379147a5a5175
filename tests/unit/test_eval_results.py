"""Scoring result folders: the protocol's frame selection, objects, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mobileseg.data.davis import open_davis2017
from mobileseg.data.io import save_frame, save_mask
from mobileseg.errors import ResultsError
from mobileseg.eval.davis import evaluate_results

SIZE = (100, 100)


def box(top: int, left: int, label: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    mask = np.zeros(size, dtype=np.uint8)
    mask[top : top + 10, left : left + 10] = label
    return mask


def write_sequence(root: Path, name: str, masks: list[np.ndarray]) -> None:
    for t, mask in enumerate(masks):
        save_frame(root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg", np.zeros((*mask.shape, 3), np.uint8))
        save_mask(root / "Annotations" / "480p" / name / f"{t:05d}.png", mask)


def write_results(root: Path, name: str, masks: list[np.ndarray]) -> None:
    for t, mask in enumerate(masks):
        save_mask(root / name / f"{t:05d}.png", mask)


@pytest.fixture
def dataset(tmp_path: Path):
    # 5 frames, two objects; object 2 leaves the frame (absent) at t = 3.
    gt = [box(10, 10 + t, 1) | box(50, 50, 2) for t in range(5)]
    gt[3][gt[3] == 2] = 0
    write_sequence(tmp_path / "data", "seq", gt)
    (tmp_path / "data" / "ImageSets" / "2017").mkdir(parents=True)
    (tmp_path / "data" / "ImageSets" / "2017" / "val.txt").write_text("seq\n")
    return open_davis2017(tmp_path / "data", "val"), gt


def test_ground_truth_scores_one(dataset, tmp_path: Path) -> None:
    data, gt = dataset
    write_results(tmp_path / "res", "seq", gt)
    summary = evaluate_results(data, tmp_path / "res").summary()
    assert summary["J&F-Mean"] == 1.0 and summary["J-Recall"] == 1.0 and summary["F-Decay"] == 0.0


def test_first_and_last_frame_are_not_scored(dataset, tmp_path: Path) -> None:
    data, gt = dataset
    wrong = [np.zeros(SIZE, np.uint8)] + gt[1:4] + [np.zeros(SIZE, np.uint8)]
    write_results(tmp_path / "res", "seq", wrong)
    assert evaluate_results(data, tmp_path / "res").summary()["J&F-Mean"] == 1.0


def test_absent_object_and_hand_computed_mean(dataset, tmp_path: Path) -> None:
    data, gt = dataset
    pred = [m.copy() for m in gt]
    pred[1][pred[1] == 1] = 0  # object 1 missed at t = 1: J = 0 there
    pred[3] = pred[3] | box(50, 50, 2)  # object 2 predicted while absent at t = 3: J = 0
    write_results(tmp_path / "res", "seq", pred)
    report = evaluate_results(data, tmp_path / "res")
    per_object = {s.object_id: s for s in report.objects}
    assert per_object[1].j_frames == (0.0, 1.0, 1.0)
    assert per_object[2].j_frames == (1.0, 1.0, 0.0)
    assert report.summary()["J-Mean"] == pytest.approx(2 / 3)
    assert report.summary()["J-Recall"] == pytest.approx(2 / 3)


def test_missing_sequence_folder(dataset, tmp_path: Path) -> None:
    data, _ = dataset
    (tmp_path / "res").mkdir()
    with pytest.raises(ResultsError, match="no predictions for 1 of 1 sequences"):
        evaluate_results(data, tmp_path / "res")


def test_missing_frame_and_wrong_size_and_unknown_id(dataset, tmp_path: Path) -> None:
    data, gt = dataset
    write_results(tmp_path / "res", "seq", gt)
    (tmp_path / "res" / "seq" / "00002.png").unlink()
    with pytest.raises(ResultsError, match="missing prediction .*00002.png"):
        evaluate_results(data, tmp_path / "res")
    save_mask(tmp_path / "res" / "seq" / "00002.png", np.zeros((50, 100), np.uint8))
    with pytest.raises(ResultsError, match="is 100x50 .* ground truth is 100x100"):
        evaluate_results(data, tmp_path / "res")
    save_mask(tmp_path / "res" / "seq" / "00002.png", box(0, 0, 7))
    with pytest.raises(ResultsError, match=r"contains object ids \[7\]"):
        evaluate_results(data, tmp_path / "res")


def test_corrupt_prediction(dataset, tmp_path: Path) -> None:
    data, gt = dataset
    write_results(tmp_path / "res", "seq", gt)
    (tmp_path / "res" / "seq" / "00001.png").write_bytes(b"not a png at all")
    with pytest.raises(ResultsError, match="cannot decode"):
        evaluate_results(data, tmp_path / "res")


def test_void_pixels_count_as_background_by_default_as_the_official_toolkit(tmp_path: Path) -> None:
    # Object 1 is a 10x10 box with a 10x5 void band to its right; the prediction covers box + band.
    gt = [box(10, 10, 1) for _ in range(3)]
    for mask in gt:
        mask[10:20, 20:25] = 255
    write_sequence(tmp_path / "data", "seq", gt)
    (tmp_path / "data" / "ImageSets" / "2017").mkdir(parents=True)
    (tmp_path / "data" / "ImageSets" / "2017" / "val.txt").write_text("seq\n")
    data = open_davis2017(tmp_path / "data", "val")
    pred = [box(10, 10, 1) for _ in range(3)]
    for mask in pred:
        mask[10:20, 20:25] = 1
    write_results(tmp_path / "res", "seq", pred)
    official = evaluate_results(data, tmp_path / "res")
    ignored = evaluate_results(data, tmp_path / "res", void="ignore")
    # the semi-supervised toolkit sets void to 0 and passes no void mask: 100 / 150 pixels
    assert official.objects[0].j_frames == pytest.approx((100 / 150,))
    assert official.objects[0].f_frames[0] < 1.0
    assert ignored.objects[0].j_frames == (1.0,) and ignored.objects[0].f_frames == (1.0,)
    assert official.void == "background" and official.to_dict()["void"] == "background"
    from mobileseg.errors import ConfigError

    with pytest.raises(ConfigError, match="void must be one of background, ignore.*got 'exclude'"):
        evaluate_results(data, tmp_path / "res", void="exclude")
