"""How many CPU threads torch should use for a training loop, chosen by how much work one step does.

Torch splits each operation over all cores with OpenMP, and the threads wait for one another at the end of
every operation. A toy model's operations take microseconds, so on an idle machine a second thread gains
nothing; on a busy one (another notebook, a browser, a test suite) the operating system often parks one of
the threads, and the other then waits for it at every one of the thousands of operations in a step. Measured
on 2 cores with the load average at 5-7: section 1's 5 -> 2 model trained 25x slower with 2 threads than with 1
(`python -m utils.bench busy` measures it on your machine). Large matrix products (sections 3 and 4) do gain
from every core, so they keep torch's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

#: Below this many multiply-adds in a step's largest matrix product, one thread is as fast as many on an idle
#: machine and far faster on a busy one. (The 80 -> 20 toy model at batch 512 does 6.6M; section 3's SAE
#: 2,100M. Measured by `python -m utils.bench busy`.)
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
