"""``mobileseg quickstart``: every stage that exists, on a small generated dataset, one table.

Today the pipeline is: generate SynthVOS -> segment the val split with each tracker that exists
-> score with J&F -> print one table. Later stages (training, distillation, export, runtimes)
add their rows here as they land.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mobileseg.data.davis import open_davis2017
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.data.synth.generate import MARKER
from mobileseg.eval.davis import evaluate_results
from mobileseg.eval.predict import predict_dataset
from mobileseg.tracker import CopyFirstMaskTracker
from mobileseg.utils.fsio import write_json_atomic
from mobileseg.utils.table import format_table

log = logging.getLogger(__name__)

QUICKSTART_DATA = SynthConfig(
    videos=24, frames=20, height=192, width=320, objects=(1, 2), distractors=(1, 2), seed=0, val_fraction=0.25
)
TABLE_COLUMNS = ("model", "params", "J&F", "J", "F", "ms/frame")


@dataclass
class QuickstartResult:
    out: Path
    data: Path
    rows: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0

    def table(self, markdown: bool = False) -> str:
        return format_table(self.rows, TABLE_COLUMNS, markdown=markdown)


def _dataset(out: Path, config: SynthConfig) -> Path:
    """Generate the dataset, or reuse one generated earlier with the same settings."""
    data = out / "data" / "synthvos"
    marker = data / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("config") == json.loads(json.dumps(asdict(config))):
        log.info("data: reusing SynthVOS at %s", data)
        return data
    log.info("data: generating SynthVOS (%d videos x %d frames, %dx%d) at %s",
             config.videos, config.frames, config.height, config.width, data)
    return generate_synthvos(data, config, overwrite=True)


def run_quickstart(out: str | os.PathLike[str], config: SynthConfig = QUICKSTART_DATA) -> QuickstartResult:
    """Run the pipeline into ``out``; returns the table rows and where everything is."""
    began = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = _dataset(out, config)
    val = open_davis2017(data, split="val")
    result = QuickstartResult(out=out, data=data)

    log.info("baseline: copying the first mask through %d val videos", len(val))
    results = out / "results" / CopyFirstMaskTracker.name
    run = predict_dataset(CopyFirstMaskTracker, val, results, desc=CopyFirstMaskTracker.name)
    summary = evaluate_results(val, results).summary()
    result.rows.append({
        "model": CopyFirstMaskTracker.name, "params": 0, "J&F": summary["J&F-Mean"],
        "J": summary["J-Mean"], "F": summary["F-Mean"], "ms/frame": run.tracker_ms_per_frame,
    })

    result.seconds = time.perf_counter() - began
    write_json_atomic(out / "summary.json", {"data": str(data), "rows": result.rows, "seconds": result.seconds})
    (out / "summary.md").write_text(result.table(markdown=True) + "\n")
    return result
