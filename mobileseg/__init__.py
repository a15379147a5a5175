"""mobileseg: train-to-phone toolkit for real-time semi-supervised video object segmentation.

Stages (each one a ``mobileseg`` sub-command and a library function): generate or read data,
train, distil, evaluate (J&F), export with explicit memory state, benchmark, run.
"""

from mobileseg.errors import MobilesegError

__version__ = "0.1.0"

__all__ = ["MobilesegError", "__version__"]
