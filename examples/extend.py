"""Extend superalign from your own code: a new loss and a new label intervention, each a few
lines, registered by name and compared with the built-in methods on the default W2S cell.

- ``smoothed``: cross-entropy to weak labels mixed with the uniform distribution (label smoothing,
  Szegedy et al. 2016; a standard baseline for noisy labels, Lukasik et al. 2020). A loss is a
  function ``(logits, targets, step_frac, **hyper-parameters) -> scalar``; its typed, range-checked
  keyword arguments are its hyper-parameters (``--set`` / ``method_params`` validate them).
- ``sharpen``: train on the weak labels raised to the power 1/T and renormalised (temperature
  sharpening, as in MixMatch, Berthelot et al. 2019): a label intervention, ``fn(ctx, params) ->
  test probabilities``, with its own pydantic parameters; ``ctx`` holds only what a student may
  see (no gold label).

Results are cached in the store like any method's. The cache key of a method you register holds
a hash of its source, so editing ``smoothed`` or ``sharpen`` and rerunning retrains just them.

usage: python examples/extend.py [--weak static] [--strong minilm] [--seeds 0,1,2] [--store runs]
"""

from __future__ import annotations

import argparse
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from superalign.data import SplitSizes
from superalign.losses import register_loss, soft_xent
from superalign.store import Store
from superalign.w2s import ExperimentConfig, run_experiment
from superalign.w2s.methods import InterventionParams, MethodContext, register_method


@register_loss("smoothed")
def smoothed(
    logits: torch.Tensor, targets: torch.Tensor, step_frac: float, eps: Annotated[float, Field(ge=0, lt=1)] = 0.1
) -> torch.Tensor:
    """Cross-entropy to the weak soft labels mixed with the uniform distribution (label smoothing)."""
    k = targets.shape[1]
    return soft_xent(logits, (1 - eps) * targets + eps / k)


class SharpenParams(InterventionParams):
    temperature: float = Field(0.5, gt=0, le=1, description="T: the weak labels are raised to 1/T")


@register_method("sharpen", SharpenParams)
def sharpen(ctx: MethodContext, p: SharpenParams) -> np.ndarray:
    """Train on the weak labels sharpened by a temperature (MixMatch, Berthelot et al. 2019)."""
    sharp = ctx.weak_labels ** (1 / p.temperature)
    sharp /= sharp.sum(1, keepdims=True)
    return ctx.train(ctx.texts, sharp, p.loss, p.loss_params).predict_proba(ctx.test_texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weak", default="static")
    ap.add_argument("--strong", default="minilm")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--store", default="runs")
    ap.add_argument("--small", action="store_true", help="small splits (a quick check)")
    args = ap.parse_args()
    cfg = ExperimentConfig(
        weak=args.weak,
        strong=args.strong,
        seeds=[int(s) for s in args.seeds.split(",")],
        methods=["xent", "logconf", "smoothed", "sharpen"],
        method_params={"smoothed": {"eps": 0.2}, "sharpen": {"temperature": 0.5}},
        **(
            {"sizes": SplitSizes(train_gt=300, train_w2s=400, val=50, test=300), "n_bootstrap": 200}
            if args.small
            else {}
        ),
    )
    summary = run_experiment(cfg, Store(args.store)).summary
    print(f"{cfg.task}: weak {cfg.weak} -> strong {cfg.strong}, seeds {cfg.seeds}")

    def ci(d: dict) -> str:  # a PGR is undefined (with its reason) when the weak-ceiling gap is too small
        return (
            f"undefined ({d['reason']})"
            if d["mean"] is None
            else f"{d['mean']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]"
        )

    for name, m in summary["methods"].items():
        vs = f"  PGR - xent {ci(m['pgr_vs_xent'])}" if "pgr_vs_xent" in m else ""
        print(f"{name:<10} accuracy {m['acc']['mean']:.3f}  PGR {ci(m['pgr'])}{vs}")


if __name__ == "__main__":
    main()
