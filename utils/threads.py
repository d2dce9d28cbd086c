"""How many CPU threads torch should use for a training loop, chosen by how much work one step does.

Torch splits each operation over all cores with OpenMP, and the threads wait for one another at the end of
every operation. A toy model's operations take microseconds. On an idle machine a second thread gains a
little; on a busy one (another notebook, a browser, a test suite) the operating system often parks one of the
threads, and the other then waits for it at every one of the thousands of operations in a step. Measured on
2 cores, 300 steps, best of 3:

    model (batch)       idle, 1 thread   idle, 2 threads   beside 2 spinning processes: 1 thread   2 threads
    5 -> 2   (1024)     0.44 s           0.37 s            (1.49x idle, `python -m utils.bench busy`)  4.5x
    80 -> 20 (512)      2.02 s           1.47 s            3.43 s                                  6.85 s

and with the load average at 5-7, section 1 took 57 s with one thread and 1,255 s with two. One thread costs
up to a third on an idle machine and saves far more on a busy one, so toy models use one. Large matrix
products (sections 3 and 4) gain from every core and keep torch's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

#: Below this many multiply-adds in a step's largest matrix product, training uses one thread. The toy models
#: are far below it (80 -> 20, 8 instances, batch 512: 6.6M; section 2's SAEs: under 1M); the language-model
#: SAEs far above (section 4's own SAE, 256 -> 2048 at batch 1024: 537M).
SMALL_WORK = 2**24


def threads_for(multiply_adds: int) -> int:
    """1 thread for small work; torch's default (every core) otherwise."""
    return 1 if multiply_adds < SMALL_WORK else torch.get_num_threads()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with `n` torch threads, then put back the number there was before."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
