"""Every test: under pytest-xdist (`make test` runs two processes on a 2-core machine) each process
computes with one torch thread, so two processes do not fight over the cores (two threads each
on two cores made some tests 10x slower). A test that needs a thread count sets its own."""

from __future__ import annotations

import os

import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
