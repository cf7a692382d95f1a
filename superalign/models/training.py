"""Training helpers shared by the probe head and fine-tuning: weighted epoch draws, the
gold/weak mixed loss, single-threaded torch and a lean fused AdamW for small heads.

Torch is imported inside the functions, so importing `superalign.models` stays torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

LossFn = Callable  # (logits, targets, step_frac) -> scalar tensor, see superalign.losses


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread: a probe head's small matrices gain nothing from intra-op
    threads, and on a loaded 2-core machine the thread hand-offs made each step ~50x slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class HeadAdamW:
    """``torch.optim.AdamW(params, lr, weight_decay=..., fused=True)`` for a small head: the same
    state and the same fused kernel, called through torch's functional ``adamw``. A probe step
    on one thread is a few hundred microseconds, and `Optimizer.step`'s per-call bookkeeping
    (profiler hook, grad-mode guard, state lookup) was a quarter of it (`bench/run_default.py`,
    issue 19). The updates are bit-identical (tests/test_models.py). Every parameter must have a
    gradient at each step, as a head's do.
    """

    def __init__(self, params, lr: float, weight_decay: float, betas=(0.9, 0.999), eps: float = 1e-8):
        import torch

        self.params = list(params)
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.steps = [torch.zeros((), dtype=torch.float32) for _ in self.params]  # as AdamW keeps them when fused
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        import torch
        from torch.optim.adamw import adamw

        with torch.no_grad():
            adamw(
                self.params,
                [p.grad for p in self.params],
                self.exp_avgs,
                self.exp_avg_sqs,
                [],
                self.steps,
                fused=True,
                amsgrad=False,
                beta1=self.betas[0],
                beta2=self.betas[1],
                lr=self.lr,
                weight_decay=self.weight_decay,
                eps=self.eps,
                maximize=False,
            )


def weighted_draw(sample_weight: np.ndarray | None, n: int):
    """Normalised sampling probabilities as a tensor, or None for uniform epochs."""
    import torch

    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"sample_weight must be {n} finite non-negative numbers with a positive sum")
    return torch.as_tensor(w / w.sum(), dtype=torch.float64)


def mixed_loss(loss: LossFn, logits, targets, gold, step_frac: float):
    """`loss` on the weakly labelled rows, cross-entropy on the gold rows, weighted by row counts."""
    from ..losses import soft_xent

    n = len(logits)
    out = logits.new_zeros(())
    weak = ~gold
    if weak.any():
        out = out + loss(logits[weak], targets[weak], step_frac) * (weak.sum() / n)
    if gold.any():
        out = out + soft_xent(logits[gold], targets[gold]) * (gold.sum() / n)
    return out
