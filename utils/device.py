"""Which device to run on: CUDA, then Apple's MPS, then the CPU; override with an argument or
the WORKBOOK_DEVICE environment variable (e.g. WORKBOOK_DEVICE=cpu)."""

from __future__ import annotations

import os

import torch


def get_device(override: str | torch.device | None = None) -> torch.device:
    choice = override if override is not None else os.environ.get("WORKBOOK_DEVICE")
    if choice is not None:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {choice!r} was asked for, but CUDA is not available here; use 'cpu'")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
