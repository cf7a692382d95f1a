"""Choosing a method's hyper-parameters without ground truth: how good is each weak-label criterion?

For each task and weak:strong pair, every method of ``GRIDS`` is tuned on val by each criterion of
``superalign.w2s.tuning`` (the candidate students are shared: one training per candidate, seeds
0..4). Prints per method: the PGR at its default hyper-parameters, the PGR of the candidate each
criterion chose (per seed), and the best candidate's PGR on *test* (the oracle: what gold labels
would pick; not available to a user), each [95% CI], and the chosen candidates' paired PGR - xent.

usage: python bench/tuning.py [--seeds 0,1,2,3,4] [--tasks sentiment,sst2] [--pairs static:minilm]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from methods import cell_parser, each_cell, fmt  # noqa: E402  (bench/methods.py: the shared cell loop)

GRIDS = {  # the default of each parameter is in its grid, so "default" is one of the candidates
    "logconf": {"alpha_max": [0.25, 0.5, 0.75, 1.0]},
    "product": {"alpha": [0.5, 1.0, 2.0]},
    "confident": {"keep": [0.3, 0.5, 0.7, 0.9]},
    "knn_relabel": {"k": [5, 20, 50]},
}
DEFAULTS = {"logconf": "alpha_max=0.5", "product": "alpha=1.0", "confident": "keep=0.5", "knn_relabel": "k=20"}
CRITERIA = ("weak_acc", "confident_weak_acc", "knn_weak_acc")


def bench_cell(name: str, spec: dict, seeds: list[int], store_root: Path, pair: tuple[str, str]) -> dict:
    from superalign.store import Store
    from superalign.w2s import ExperimentConfig, run_experiment
    from superalign.w2s.tuning import TuneConfig

    weak, strong = pair
    out = {}
    for criterion in CRITERIA:
        cfg = ExperimentConfig(
            **spec,
            weak=weak,
            strong=strong,
            methods=["xent", *GRIDS],
            seeds=seeds,
            tune=TuneConfig(grid=GRIDS, criterion=criterion),
        )
        out[criterion] = run_experiment(cfg, Store(store_root / name)).summary
    first = out[CRITERIA[0]]
    print(f"\n## {name}: weak {weak} -> strong {strong}, seeds {seeds}")
    print(f"weak {first['weak_score']['mean']:.3f}  ceiling {first['ceiling_score']['mean']:.3f}  ", end="")
    print(f"xent PGR {fmt(first['methods']['xent']['pgr'])}")
    head = f"{'method':<12} {'picked by':<19} {'PGR [95% CI]':<26} {'PGR - xent [paired]':<26} picks"
    print(head)
    print("-" * len(head))
    for method in GRIDS:
        cands = first["tuning"][method]["candidates"]
        default = cands[f"{method}[{DEFAULTS[method]}]"]["pgr"]
        oracle_name = max(cands, key=lambda c: cands[c]["pgr"]["mean"] if cands[c]["pgr"]["mean"] is not None else -9)
        print(f"{method:<12} {'default':<19} {fmt(default):<26} {'':<26}")
        for criterion, s in out.items():
            m, picks = s["methods"][method], s["tuning"][method]["chosen"]
            short = ",".join(p[len(method) + 1 : -1].split("=")[1] for p in picks)
            print(f"{'':<12} {criterion:<19} {fmt(m['pgr']):<26} {fmt(m.get('pgr_vs_xent')):<26} {short}")
        print(f"{'':<12} {'oracle (test gold)':<19} {fmt(cands[oracle_name]['pgr']):<26} {'':<26} {oracle_name}")
    return out


def main() -> None:
    each_cell(cell_parser(__doc__).parse_args(), bench_cell)


if __name__ == "__main__":
    main()
