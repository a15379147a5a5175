"""copy-first-mask on the val videos of every suite that reports J&F: the bar a tracker must clear.

    .venv/bin/python benchmarks/copy_baseline.py            # a few minutes on 2 cores (generates each suite's data once)

A network whose J&F is at or below repeating each object's first-frame mask on every frame does
not track, whatever else its row says. Each suite's SynthVOS data is regenerated here exactly as
the suite generates it at its default settings (same ``SynthConfig``, seed 0: SynthVOS is
deterministic), so the figure applies to the same val videos as the suite's table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from mobileseg.data.davis import open_davis2017  # noqa: E402
from mobileseg.data.synth import SynthConfig, generate_synthvos  # noqa: E402
from mobileseg.eval.predict import predict_dataset  # noqa: E402
from mobileseg.sources import baseline_source  # noqa: E402

# Each suite's data at its defaults (the SynthConfig in the suite's own script).
SUITES: dict[str, SynthConfig] = {
    "quickstart (mobileseg quickstart)": SynthConfig(videos=64, frames=20, height=128, width=224, objects=(1, 2), distractors=(0, 0),
                                                     seed=0, val_fraction=0.25),
    "distill_ablation": SynthConfig(videos=64, frames=24, height=192, width=320, objects=(1, 2), distractors=(1, 2), seed=0),
    "distill_bench (2026-11-30 table)": SynthConfig(videos=64, frames=48, height=192, width=320, objects=(1, 2), distractors=(1, 2),
                                                    seed=0),
    "fast, box_start": SynthConfig(videos=48, frames=20, height=192, width=320, val_fraction=1 / 6, seed=0),
    "int8_accuracy, fast_gpu": SynthConfig(videos=64, frames=24, height=240, width=432, val_fraction=0.25, seed=0),
    "box_start_gpu": SynthConfig(videos=48, frames=20, height=240, width=432, val_fraction=0.25, seed=0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/copy_baseline"), help="the generated datasets (reused)")
    args = parser.parse_args()
    rows = []
    for suite, config in SUITES.items():
        data = args.work / suite.split(" ")[0].rstrip(",") / "synthvos"
        if not (data / "synthvos.json").is_file():
            generate_synthvos(data, config, overwrite=True)
        source = baseline_source()
        run = predict_dataset(source.make, open_davis2017(data, split="val"), data.parent / "copy_first_mask", size=source.size,
                              multiple=source.multiple, desc=suite, overwrite=True)
        assert run.report is not None
        summary = run.report.summary()
        rows.append({"suite": suite, "val_videos": len(open_davis2017(data, split="val")), "frames": config.frames,
                     "size": f"{config.height}x{config.width}", "J&F": summary["J&F-Mean"], "J": summary["J-Mean"], "F": summary["F-Mean"]})
        print(rows[-1], flush=True)
    lines = ["| suite's val videos | videos x frames | size | copy-first-mask J&F | J | F |", "|---|--:|--:|--:|--:|--:|"]
    lines += [f"| {r['suite']} | {r['val_videos']} x {r['frames']} | {r['size']} | {r['J&F']:.3f} | {r['J']:.3f} | {r['F']:.3f} |"
              for r in rows]
    publish("copy_baseline", {"rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
