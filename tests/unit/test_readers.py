"""Dataset readers: every layout reads correctly, every broken dataset fails with a useful error."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mobileseg.data.datasets import DATASET_KINDS, detect_kind, open_dataset, validate_dataset
from mobileseg.data.davis import open_davis2016, open_davis2017
from mobileseg.data.io import save_mask
from mobileseg.data.youtubevos import check_first_masks, open_youtubevos
from mobileseg.errors import ConfigError, DatasetError
from tests.fakedata import mask_pixels, write_davis2016, write_davis2017, write_youtubevos


def names_path(path: Path) -> str:
    """A ``match=`` pattern that requires ``path`` in the error message."""
    return re.escape(str(path))


# ---------------------------------------------------------------------------- DAVIS 2017


def test_davis2017_reads_sequences_objects_and_masks(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path)
    dataset = open_davis2017(root)
    assert (dataset.kind, dataset.split, dataset.names) == ("davis2017", "val", ["blackswan", "dogs-jump"])
    seq = dataset["dogs-jump"]
    assert len(seq) == 4 and seq.frame_names == ["00000", "00001", "00002", "00003"]
    assert seq.object_ids == (1, 2) and dict(seq.first_frame) == {1: 0, 2: 0}
    assert seq.annotated == [0, 1, 2, 3]
    mask = seq.mask(2)
    assert mask.shape == (24, 32) and set(np.unique(mask)) == {0, 1, 2, 255}
    assert seq.frame(0).shape == (24, 32, 3)
    seq.validate()


def test_davis2017_objects_are_one_to_max_id_of_first_frame(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path, names=("gap",), objects=(1, 3))
    assert open_davis2017(root)["gap"].object_ids == (1, 2, 3)


def test_davis2017_full_resolution_alias(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path, resolution="Full-Resolution", size=(48, 64))
    for resolution in ("full", "Full-Resolution"):
        seq = open_davis2017(root, resolution=resolution)[0]
        assert "Full-Resolution" in seq.frames[0].parts and seq.size() == (48, 64)
    with pytest.raises(DatasetError, match="480p.*Full-Resolution"):
        open_davis2017(root)  # 480p was not downloaded: the message lists what is there
    with pytest.raises(ConfigError, match="allowed: 480p, Full-Resolution"):
        open_davis2017(root, resolution="720p")


def test_davis2017_missing_masks_required_or_not(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path, split="test-dev")
    for i in (1, 2, 3):
        (root / "Annotations/480p/blackswan" / f"{i:05d}.png").unlink()
    expected = r"'blackswan'.*00001\.jpg, 00002\.jpg, 00003\.jpg.*require_masks=False"
    with pytest.raises(DatasetError, match=expected):
        open_davis2017(root, split="test-dev")
    seq = open_davis2017(root, split="test-dev", require_masks=False)["blackswan"]
    assert seq.annotated == [0] and seq.masks[1] is None
    with pytest.raises(DatasetError, match="no annotation for frame 00001.jpg"):
        seq.mask(1)


def test_davis2017_first_frame_mask_always_needed(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path)
    (root / "Annotations/480p/blackswan/00000.png").unlink()
    with pytest.raises(DatasetError, match=r"'blackswan'.*the first frame.*00000\.jpg"):
        open_davis2017(root, require_masks=False)


def test_davis2017_first_mask_without_objects(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path)
    first = root / "Annotations/480p/blackswan/00000.png"
    save_mask(first, mask_pixels((), void=True))
    with pytest.raises(DatasetError, match=names_path(first) + ".*no object"):
        open_davis2017(root)


def test_wrong_root(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    expected = names_path(missing) + " does not exist.*DAVIS 2017 layout.*--data"
    with pytest.raises(DatasetError, match=expected):
        open_davis2017(missing)
    (tmp_path / "photos").mkdir()
    with pytest.raises(DatasetError, match=names_path(tmp_path) + " is not a DAVIS folder.*photos"):
        open_davis2017(tmp_path)
    with pytest.raises(DatasetError, match="cannot tell.*DAVIS 2017 layout.*DAVIS 2016 layout.*YouTube-VOS"):
        open_dataset(tmp_path)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(DatasetError, match=names_path(a_file) + " is a file"):
        open_dataset(a_file, kind="youtubevos")


def test_missing_list_file_names_split_and_existing_lists(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path, split="train")
    expected = r"split 'val'.*" + names_path(root / "ImageSets/2017") + ": train"
    with pytest.raises(DatasetError, match=expected):
        open_davis2017(root, split="val")


def test_listed_sequence_without_frame_folder(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path)
    shutil.rmtree(root / "JPEGImages/480p/dogs-jump")
    with pytest.raises(DatasetError, match=r"'dogs-jump'.*" + names_path(root / "JPEGImages/480p/dogs-jump")):
        open_davis2017(root)


def test_mask_without_frame(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path)
    save_mask(root / "Annotations/480p/blackswan/00009.png", mask_pixels((1,)))
    with pytest.raises(DatasetError, match=names_path(root / "Annotations/480p/blackswan") + ": 00009"):
        open_davis2017(root)


def test_mask_size_differs_from_frame(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path)
    bad = root / "Annotations/480p/blackswan/00002.png"
    save_mask(bad, mask_pixels((1, 2), size=(12, 32)))
    seq = open_davis2017(root)["blackswan"]  # sizes are checked lazily
    with pytest.raises(DatasetError, match=names_path(bad) + r" is 32x12 \(WxH\).*32x24"):
        seq.mask(2)
    with pytest.raises(DatasetError, match=names_path(bad)):
        seq.validate()
    with pytest.raises(DatasetError, match=names_path(bad)):
        validate_dataset(open_dataset(root))


def test_rgb_mask_is_refused(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path)
    bad = root / "Annotations/480p/blackswan/00001.png"
    Image.new("RGB", (32, 24), (128, 0, 0)).save(bad)
    seq = open_davis2017(root)["blackswan"]
    with pytest.raises(DatasetError, match=names_path(bad) + ".*mode 'RGB'.*palette"):
        seq.mask(1)


def test_corrupt_png(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path)
    noise = np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes()
    later = root / "Annotations/480p/blackswan/00003.png"
    later.write_bytes(noise)
    seq = open_davis2017(root)["blackswan"]
    with pytest.raises(DatasetError, match=names_path(later) + ".*corrupt"):
        seq.mask(3)
    with pytest.raises(DatasetError, match=names_path(later)):
        seq.validate()
    first = root / "Annotations/480p/dogs-jump/00000.png"
    first.write_bytes(noise)  # the first mask is read when opening, to count objects
    with pytest.raises(DatasetError, match=names_path(first)):
        open_davis2017(root)


# ---------------------------------------------------------------------------- DAVIS 2016


@pytest.mark.parametrize("mask_mode", ["P", "L"])
def test_davis2016_original_layout_decodes_binary_masks(tmp_path: Path, mask_mode: str) -> None:
    root = write_davis2016(tmp_path, mask_mode=mask_mode)
    dataset = open_davis2016(root)
    assert (dataset.kind, dataset.names) == ("davis2016", ["bear", "cows"])
    seq = dataset["cows"]
    assert len(seq) == 3 and seq.object_ids == (1,) and dict(seq.first_frame) == {1: 0}
    raw = np.asarray(Image.open(seq.masks[1]))
    assert set(np.unique(raw)) == {0, 255}
    mask = seq.mask(1)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert np.array_equal(mask, (raw > 0).astype(np.uint8))


def test_davis2016_1080p(tmp_path: Path) -> None:
    root = write_davis2016(tmp_path, resolution="1080p", size=(48, 64))
    for resolution in ("1080p", "full"):
        assert open_davis2016(root, resolution=resolution)[0].size() == (48, 64)


def test_davis2016_from_davis2017_folder_merges_objects(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path, names=("bear", "camel"), objects=(1, 2, 3), year="2016")
    dataset = open_davis2016(root)
    assert (dataset.kind, dataset.names) == ("davis2016", ["bear", "camel"])
    seq = dataset["camel"]
    assert seq.object_ids == (1,) and len(seq) == 4
    mask = seq.mask(0)
    assert set(np.unique(mask)) == {0, 1, 255}
    assert np.array_equal(mask == 1, np.isin(mask_pixels((1, 2, 3)), (1, 2, 3)))


def test_davis2016_errors(tmp_path: Path) -> None:
    root = write_davis2016(tmp_path)
    expected = r"split 'train'.*" + names_path(root / "ImageSets") + ": 480p/val"
    with pytest.raises(DatasetError, match=expected):
        open_davis2016(root, split="train")
    list_path = root / "ImageSets/480p/val.txt"
    list_path.write_text("/JPEGImages/480p/bear/00000.jpg\n")
    with pytest.raises(DatasetError, match="line 1 of " + names_path(list_path)):
        open_davis2016(root)
    write_davis2016(root)
    (root / "Annotations/480p/bear/00001.png").unlink()
    with pytest.raises(DatasetError, match=names_path(root / "Annotations/480p/bear/00001.png")):
        open_davis2016(root)
    with pytest.raises(DatasetError, match="is not a DAVIS 2016 folder"):
        open_davis2016(tmp_path / "JPEGImages")


# ---------------------------------------------------------------------------- YouTube-VOS


def test_youtubevos_train_objects_appear_later(tmp_path: Path) -> None:
    root = write_youtubevos(tmp_path, split="train")
    dataset = open_youtubevos(root)
    assert (dataset.kind, dataset.split, dataset.names) == ("youtubevos", "train", ["0a2f3b", "1c4d5e"])
    seq = dataset["0a2f3b"]
    assert seq.frame_names == ["00000", "00005", "00010", "00015"]
    assert seq.object_ids == (1, 2) and dict(seq.first_frame) == {1: 0, 2: 2}
    assert set(np.unique(seq.mask(1))) == {0, 1} and set(np.unique(seq.mask(2))) == {0, 1, 2}
    check_first_masks(seq)


def test_youtubevos_valid_sparse_masks_and_split_folder_root(tmp_path: Path) -> None:
    root = write_youtubevos(tmp_path, split="valid")
    for dataset in (open_youtubevos(root, "valid"), open_youtubevos(root / "valid", "valid")):
        seq = dataset["0a2f3b"]
        assert seq.annotated == [0, 2] and seq.masks[1] is None and seq.masks[3] is None
    expected = names_path(root / "valid") + " is the 'valid' split.*split='valid'"
    with pytest.raises(DatasetError, match=expected):
        open_youtubevos(root / "valid", "train")
    with pytest.raises(DatasetError, match=names_path(root) + " has no train/ folder.*valid"):
        open_youtubevos(root, "train")


def test_youtubevos_valid_all_frames(tmp_path: Path) -> None:
    root = write_youtubevos(tmp_path, split="valid", all_frames=True)
    seq = open_youtubevos(root, "valid_all_frames")["0a2f3b"]
    assert len(seq) == 16 and seq.annotated == [0, 10] and dict(seq.first_frame) == {1: 0, 2: 10}
    assert "valid_all_frames" in seq.frames[3].parts and "valid" in seq.masks[10].parts
    assert open_dataset(root, split="valid_all_frames").kind == "youtubevos"


def test_youtubevos_bad_meta(tmp_path: Path) -> None:
    root = write_youtubevos(tmp_path)
    meta = root / "train/meta.json"
    meta.write_text("{not json")
    with pytest.raises(DatasetError, match=names_path(meta) + " is not valid JSON"):
        open_youtubevos(root)
    meta.write_text(json.dumps({"video": {}}))
    with pytest.raises(DatasetError, match=names_path(meta) + " has no 'videos' table"):
        open_youtubevos(root)
    meta.unlink()
    with pytest.raises(DatasetError, match="meta.json not found: " + names_path(meta)):
        open_youtubevos(root)


def test_youtubevos_first_frame_without_annotation(tmp_path: Path) -> None:
    root = write_youtubevos(tmp_path, split="valid")
    missing = root / "valid/Annotations/0a2f3b/00010.png"
    missing.unlink()
    with pytest.raises(DatasetError, match=r"object 2 of video '0a2f3b'.*" + names_path(missing)):
        open_youtubevos(root, "valid")


def test_youtubevos_first_mask_lacking_the_object(tmp_path: Path) -> None:
    root = write_youtubevos(tmp_path, split="valid")
    wrong = root / "valid/Annotations/0a2f3b/00010.png"
    save_mask(wrong, mask_pixels((1,)))
    dataset = open_youtubevos(root, "valid")  # pixel checks are lazy
    with pytest.raises(DatasetError, match=r"object 2 .*" + names_path(wrong) + r".*objects \[1\]"):
        validate_dataset(dataset)


def test_youtubevos_video_without_frames(tmp_path: Path) -> None:
    root = write_youtubevos(tmp_path)
    shutil.rmtree(root / "train/JPEGImages/1c4d5e")
    with pytest.raises(DatasetError, match=r"'1c4d5e'.*" + names_path(root / "train/JPEGImages/1c4d5e")):
        open_youtubevos(root)


# ---------------------------------------------------------------------------- open_dataset


def test_open_dataset_detects_each_layout(tmp_path: Path) -> None:
    d17 = write_davis2017(tmp_path / "d17")
    d16 = write_davis2016(tmp_path / "d16")
    d16b = write_davis2017(tmp_path / "d16b", year="2016")
    yt = write_youtubevos(tmp_path / "yt", split="train")
    cases = {
        d17: ("val", "davis2017"),
        d16: ("val", "davis2016"),
        d16b: ("val", "davis2016"),
        yt: ("train", "youtubevos"),
    }
    for root, (split, kind) in cases.items():
        assert detect_kind(root, split) == kind
        assert open_dataset(root, split=split).kind == kind
    assert open_dataset(yt / "train", split="train").kind == "youtubevos"
    # DAVIS says "val", YouTube-VOS "valid": the error lists the split folders that exist
    with pytest.raises(DatasetError, match=names_path(yt) + r" has no val/ folder.*found: train"):
        open_dataset(yt)


def test_open_dataset_explicit_kind_and_unknown_kind(tmp_path: Path) -> None:
    root = write_davis2017(tmp_path)
    (root / "ImageSets/2016").mkdir()
    (root / "ImageSets/2016/val.txt").write_text("blackswan\n")
    assert open_dataset(root, kind="davis2016").names == ["blackswan"]
    assert open_dataset(root, kind="davis2017").names == ["blackswan", "dogs-jump"]
    with pytest.raises(ConfigError, match=r"'davis17'.*auto, davis2017, davis2016, youtubevos.*'davis2017'"):
        open_dataset(root, kind="davis17")
    assert DATASET_KINDS == ("davis2017", "davis2016", "youtubevos")
