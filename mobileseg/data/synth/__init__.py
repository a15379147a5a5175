"""SynthVOS: procedurally generated, deterministic VOS videos in the DAVIS 2017 layout."""

from mobileseg.data.synth.generate import SynthConfig, generate_synthvos, render_video

__all__ = ["SynthConfig", "generate_synthvos", "render_video"]
