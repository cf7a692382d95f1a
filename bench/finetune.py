"""Benchmark the fine-tuning backend (issue 4). One process, the same model, data and batch size.

1. Throughput (examples/s) of training (with periodic val evaluations) and of prediction:
   ours (`FinetuneClassifier`: dynamic padding, length-grouped batches, fused AdamW, evaluation
   on pre-tokenized inputs in length order) vs a loop written the way the reference
   implementation (openai/weak-to-strong, ``train.py`` / ``eval.py``) does it: batches in data
   order padded with ``pad_sequence`` to their longest sequence (and, as a second baseline, to the
   longest in the dataset), no attention mask, the last token found by ``input_ids != 0`` in a
   Python loop, Adam, each evaluation recomputed from scratch in data order with per-example
   Python unpacking. Both loops exclude model loading and tokenization. Target: ratio >= 1.5x.
2. Achieved FLOP/s of training, 6 x non-embedding parameters x (non-pad) tokens/s over the pure
   training time (evaluations excluded), divided by the peak matmul FLOP/s measured in this
   process (fp32 on CPU; bf16 on CUDA when the run trains under bf16 autocast). Target >= 40%.
3. Peak resident memory (and peak CUDA memory on a GPU).
4. With ``--reference PATH`` (a checkout of openai/weak-to-strong), the baseline is that
   repository's own ``train_model`` and ``eval_model_acc`` (imported by `_wts_reference.py`, with
   the shims transformers 5 needs), at minibatch size ``--ref-minibatch``, instead of the loop
   written in its style: training without evaluations on both sides, then prediction on the test
   split, alternating in one process; ``--cpu-bf16`` adds ours under bf16 autocast (opt-in
   ``cpu_bf16``), ``--unpacked`` ours without packing (``packing=false``: padded batches).
   ``--warmup`` rounds of both sides run first and are not counted: the process's first fit
   pays its heap growth, and it would always be ours. Target: training ratio >= 2x (issue 19).
5. With ``--w2s``: the sentiment W2S experiment (weak static -> strong minilm, xent and logconf)
   in finetune mode and in probe mode, same sizes and seeds: accuracy and PGR [95% CI].

usage: python bench/finetune.py [--device cpu|cuda] [--model minilm] [--n-train 1024] [--n-eval 256]
       [--n-test 1024] [--batch-size 32] [--epochs 1] [--evals 4] [--repeats 2] [--threads N]
       [--reference PATH/TO/weak-to-strong --ref-minibatch 8 --warmup 1 --cpu-bf16 --unpacked]
       [--w2s --w2s-seeds 0,1,2 --w2s-sizes 1000,1000,250,1000 --w2s-epochs 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _table import print_measures  # noqa: E402  (bench/ is on sys.path when a script in it runs)

from superalign.losses import get_loss  # noqa: E402
from superalign.models import FinetuneConfig, hf_source  # noqa: E402
from superalign.models.finetune import FinetuneClassifier  # noqa: E402
from superalign.models.hf import load_classifier, tokenize  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------- the reference-style loop
def reference_forward(model, input_ids: torch.Tensor) -> torch.Tensor:
    """The reference's TransformerWithHead.forward: no attention mask, last index from ids != 0."""
    input_lens = (input_ids != 0).sum(dim=-1)
    hidden = model.backbone(input_ids=input_ids).last_hidden_state
    states = torch.stack([hidden[i, input_lens[i] - 1, :] for i in range(len(input_lens))])
    return model.head(states.float())


def pad_batch(seqs: list[list[int]], device: torch.device, pad_to: int | None) -> torch.Tensor:
    ids = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs]).transpose(0, 1)
    if pad_to is not None and ids.shape[1] < pad_to:
        ids = torch.nn.functional.pad(ids, (0, pad_to - ids.shape[1]))
    return ids.to(device)


def reference_eval(model, ids, labels, batch_size, device, pad_to, autocast) -> list[dict]:
    """eval_model_acc: data order, padded batches, per-example results unpacked in Python."""
    model.eval()
    results = []
    with torch.no_grad():
        for i in range(0, len(ids), batch_size):
            x = pad_batch(ids[i : i + batch_size], device, pad_to)
            with autocast():
                logits = reference_forward(model, x)
            probs = torch.softmax(logits, -1).detach().float().cpu().numpy().tolist()
            for j, p in enumerate(probs):
                results.append(
                    {
                        "input_ids": ids[i + j],
                        "hard_label": int(np.argmax(p)),
                        "acc": int(np.argmax(p)) == labels[i + j],
                        "soft_label": p,
                    }
                )
    return results


def reference_fit(model, ids, y, val_ids, val_y, args, device, pad_to, autocast) -> float:
    """train_model: Adam, cosine annealing, data-order minibatches, eval every k steps + at the end.
    Returns the loop's wall time."""
    xent = get_loss("xent")
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr)
    nsteps = len(ids) * args.epochs // args.batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, nsteps)
    eval_every = max(1, nsteps // args.evals)
    order = [i for _ in range(args.epochs) for i in range(len(ids))]
    val_labels = [int(v) for v in val_y.argmax(1)]
    sync(device)
    t0 = time.perf_counter()
    for step in range(nsteps):
        if (step + 1) % eval_every == 0:
            reference_eval(model, val_ids, val_labels, args.eval_batch_size, device, pad_to, autocast)
            model.train()
        mb = order[step * args.batch_size : (step + 1) * args.batch_size]
        x = pad_batch([ids[i] for i in mb], device, pad_to)
        with autocast():
            logits = reference_forward(model, x)
        loss = xent(logits, y[mb].to(device), step / nsteps)
        loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()
    reference_eval(model, val_ids, val_labels, args.eval_batch_size, device, pad_to, autocast)  # final evaluation
    sync(device)
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------ measurements
def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 2048, reps: int = 8) -> float:
    """Best observed FLOP/s of an n x n matmul in this process (a practical peak)."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    best = 0.0
    for _ in range(5):
        sync(device)
        t = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t))
    return best


def non_embedding_params(model) -> int:
    """Parameters that act on every token: all but embeddings and the [CLS] pooler."""
    return sum(p.numel() for n, p in model.named_parameters() if "embed" not in n and "pooler" not in n)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def throughput(args, device: torch.device) -> list[tuple[str, str, str]]:
    from superalign.data import get_task, make_splits

    source, key = hf_source(args.model)
    data = get_task("sentiment").load()
    sizes = {"train_gt": 10, "train_w2s": args.n_train, "val": args.n_eval, "test": args.n_test}
    s = make_splits(data, sizes, seed=0)
    y = torch.tensor(np.eye(2, dtype=np.float32)[s.train_w2s.labels])
    val_y = np.eye(2, dtype=np.float32)[s.val.labels]
    steps = args.n_train * args.epochs // args.batch_size
    cfg = FinetuneConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_length=args.max_length,
        eval_every=max(1, steps // args.evals),
        patience=10**6,
        device=str(device),
        predict_batch_size=args.eval_batch_size,
        save_checkpoint=False,
    )
    tok, _ = load_classifier(source, cfg, 2, 0)
    ids = tokenize(tok, s.train_w2s.texts, args.max_length)
    val_ids = tokenize(tok, s.val.texts, args.max_length)
    test_ids = tokenize(tok, s.test.texts, args.max_length)
    longest = max(len(x) for x in ids + val_ids + test_ids)
    on_cuda_bf16 = device.type == "cuda" and cfg.bf16

    def autocast():
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on_cuda_bf16)

    rates: dict[str, list[float]] = {}
    stats = {}
    n_params = 0
    peaks = [matmul_peak(device, torch.bfloat16 if on_cuda_bf16 else torch.float32)]
    for rep in range(args.repeats):
        # ours
        clf = FinetuneClassifier(source, key, cfg, seed=0)
        clf.fit(s.train_w2s.texts, y.numpy(), get_loss("xent"), val=(s.val.texts, val_y))
        n_params = non_embedding_params(clf._model)
        rates.setdefault("ours train", []).append(clf.stats["train_examples"] / clf.stats["train_seconds"])
        if (
            not stats
            or clf.stats["train_tokens"] / (clf.stats["train_seconds"] - clf.stats["eval_seconds"]) > stats["tok_s"]
        ):
            stats = {
                **clf.stats,
                "tok_s": clf.stats["train_tokens"] / (clf.stats["train_seconds"] - clf.stats["eval_seconds"]),
            }
        sync(device)
        t = time.perf_counter()
        clf.predict_proba(s.test.texts)
        sync(device)
        rates.setdefault("ours predict", []).append(len(test_ids) / (time.perf_counter() - t))
        del clf
        # the reference-style loop, padded per batch and padded to the dataset's longest
        for name, pad_to in [("ref", None), ("ref pad-to-max", longest)]:
            if name != "ref" and not args.pad_to_max:
                continue
            torch.manual_seed(0)
            _, model = load_classifier(source, cfg, 2, 0)
            model.to(device)
            secs = reference_fit(model, ids, y, val_ids, val_y, args, device, pad_to, autocast)
            rates.setdefault(f"{name} train", []).append(args.n_train * args.epochs / secs)
            sync(device)
            t = time.perf_counter()
            reference_eval(
                model, test_ids, [int(v) for v in s.test.labels], args.eval_batch_size, device, pad_to, autocast
            )
            sync(device)
            rates.setdefault(f"{name} predict", []).append(len(test_ids) / (time.perf_counter() - t))
            del model
        print(
            f"  repeat {rep + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in rates.items()),
            file=sys.stderr,
        )
    peaks.append(matmul_peak(device, torch.bfloat16 if on_cuda_bf16 else torch.float32))
    best = {k: max(v) for k, v in rates.items()}
    peak = max(peaks)
    flops = 6 * n_params * stats["tok_s"]
    flops_padded = flops * stats["padded_tokens"] / stats["train_tokens"]
    dtype = "bf16" if on_cuda_bf16 else "fp32"
    rows = [
        ("model / device / threads", f"{args.model} / {device} / {torch.get_num_threads()}", ""),
        (
            "train / val / test examples, batch, epochs",
            f"{args.n_train} / {args.n_eval} / {args.n_test}, {args.batch_size}, {args.epochs}",
            "",
        ),
        ("ours: train examples/s (with val evals)", f"{best['ours train']:.1f}", ""),
        ("ref:  train examples/s (with val evals)", f"{best['ref train']:.1f}", ""),
        ("train throughput ratio (ours / ref)", f"{best['ours train'] / best['ref train']:.2f}x", ">= 1.5x"),
        ("ours: predict examples/s", f"{best['ours predict']:.1f}", ""),
        ("ref:  predict examples/s", f"{best['ref predict']:.1f}", ""),
        ("predict throughput ratio (ours / ref)", f"{best['ours predict'] / best['ref predict']:.2f}x", ">= 1.5x"),
    ]
    if args.pad_to_max:
        rows += [
            (
                "ref pad-to-max: train / predict examples/s",
                f"{best['ref pad-to-max train']:.1f} / {best['ref pad-to-max predict']:.1f}",
                "",
            ),
            (
                "ratios vs pad-to-max (train / predict)",
                f"{best['ours train'] / best['ref pad-to-max train']:.2f}x"
                f" / {best['ours predict'] / best['ref pad-to-max predict']:.2f}x",
                "",
            ),
        ]
    rows += [
        ("non-embedding parameters", f"{n_params / 1e6:.2f}M", ""),
        ("train tokens/s (non-pad; evals excluded)", f"{stats['tok_s']:.0f}", ""),
        ("padding overhead of our batches", f"{stats['padded_tokens'] / stats['train_tokens'] - 1:.1%}", ""),
        ("achieved training FLOP/s (6 N tokens/s)", f"{flops / 1e9:.1f} G", ""),
        (f"measured {dtype} matmul peak (2048^2)", f"{peak / 1e9:.1f} G", ""),
        ("achieved / peak (non-pad tokens)", f"{flops / peak:.1%}", ">= 40%"),
        ("achieved / peak (counting pad tokens)", f"{flops_padded / peak:.1%}", ""),
        ("peak RSS", f"{peak_rss_mb():.0f} MB", ""),
    ]
    if device.type == "cuda":
        rows.append(("peak CUDA memory allocated", f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MB", ""))
    return rows


def versus_reference(args, device: torch.device) -> list[tuple[str, str, str]]:
    """Ours against openai/weak-to-strong's real ``train_model`` / ``eval_model_acc``."""
    import gc

    from _wts_reference import Reference

    from superalign.data import get_task, make_splits

    ref = Reference(Path(args.reference))
    source, key = hf_source(args.model)
    s = make_splits(
        get_task("sentiment").load(),
        {"train_gt": 10, "train_w2s": args.n_train, "val": 10, "test": args.n_test},
        seed=0,
    )
    y = np.eye(2, dtype=np.float32)[s.train_w2s.labels]
    cfg = FinetuneConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_length=args.max_length,
        device=str(device),
        predict_batch_size=args.eval_batch_size,
        save_checkpoint=False,
    )
    tok, _ = load_classifier(source, cfg, 2, 0)
    ids = tokenize(tok, s.train_w2s.texts, args.max_length)
    test_ids = tokenize(tok, s.test.texts, args.max_length)
    train_ds = ref.dataset(ids, y, list(s.train_w2s.texts))
    test_ds = ref.dataset(test_ids, np.eye(2)[s.test.labels], list(s.test.texts))
    n_seen = args.n_train * args.epochs
    rates: dict[str, list[float]] = {}
    acc: dict[str, float] = {}
    ours = {"ours, fp32": cfg}  # label -> settings
    if args.unpacked:
        ours["ours, fp32, unpacked"] = cfg.model_copy(update={"packing": False})
    if args.cpu_bf16:
        ours["ours, bf16 autocast"] = cfg.model_copy(update={"cpu_bf16": True})
    for rep in range(-args.warmup, args.repeats):  # rounds below 0 are warm-ups, not counted
        for name, c in ours.items():
            clf = FinetuneClassifier(source, key, c, seed=0)
            clf.fit(s.train_w2s.texts, y, get_loss("xent"))
            rates.setdefault(f"{name} train", []).append(n_seen / clf.stats["train_seconds"])
            t = time.perf_counter()
            probs = clf.predict_proba(s.test.texts)
            rates.setdefault(f"{name} predict", []).append(args.n_test / (time.perf_counter() - t))
            acc[name] = float((probs.argmax(1) == s.test.labels).mean())
            del clf
            gc.collect()
        torch.manual_seed(0)
        model = ref.model(source).to(device)
        t = time.perf_counter()
        ref.train(
            model,
            train_ds,
            batch_size=args.batch_size,
            lr=args.lr,
            epochs=args.epochs,
            eval_every=0,
            minibatch_size=args.ref_minibatch,
            lr_schedule="cosine_anneal",
        )
        rates.setdefault("ref train", []).append(n_seen / (time.perf_counter() - t))
        t = time.perf_counter()
        results = ref.evaluate(model, test_ds, args.eval_batch_size)
        rates.setdefault("ref predict", []).append(args.n_test / (time.perf_counter() - t))
        acc["ref"] = float(np.mean(results["acc"]))
        del model, results
        gc.collect()
        round_name = "warm-up (not counted)" if rep < 0 else f"repeat {rep + 1}/{args.repeats}"
        print(f"  {round_name}: " + ", ".join(f"{k} {v[-1]:.2f}/s" for k, v in rates.items()), file=sys.stderr)
        if rep < 0:
            for v in rates.values():
                v.pop()
    med = {k: float(np.median(v)) for k, v in rates.items()}

    def ratio(name: str, what: str) -> str:
        v = [a / b for a, b in zip(rates[f"{name} {what}"], rates[f"ref {what}"])]
        return f"{np.median(v):.2f}x ({min(v):.2f}-{max(v):.2f})"

    rows = [
        ("model / device / threads", f"{args.model} / {device} / {torch.get_num_threads()}", ""),
        (
            "train / test examples, batch, epochs, ref minibatch",
            f"{args.n_train} / {args.n_test}, {args.batch_size}, {args.epochs}, {args.ref_minibatch}",
            "",
        ),
        ("weak-to-strong train_model (fp32): train examples/s", f"{med['ref train']:.2f}", ""),
        ("weak-to-strong eval_model_acc (fp32): predict examples/s", f"{med['ref predict']:.1f}", ""),
    ]
    for name in ours:
        rows += [
            (f"{name}: train examples/s", f"{med[f'{name} train']:.2f}", ""),
            (f"{name}: train ratio, median (range) of {args.repeats}", ratio(name, "train"), ">= 2x"),
            (f"{name}: predict examples/s", f"{med[f'{name} predict']:.1f}", ""),
            (f"{name}: predict ratio", ratio(name, "predict"), ""),
        ]
    rows += [
        ("test accuracy after training: " + " / ".join(acc), " / ".join(f"{a:.3f}" for a in acc.values()), ""),
        ("peak RSS", f"{peak_rss_mb():.0f} MB", ""),
    ]
    return rows


def w2s(args) -> None:
    from superalign.store import Store
    from superalign.summaries import print_summary
    from superalign.w2s import ExperimentConfig, run_experiment

    gt, w2s_n, val, test = (int(x) for x in args.w2s_sizes.split(","))
    seeds = [int(x) for x in args.w2s_seeds.split(",")]
    base = dict(sizes={"train_gt": gt, "train_w2s": w2s_n, "val": val, "test": test}, seeds=seeds)
    ft = FinetuneConfig(epochs=args.w2s_epochs, device=args.device)
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("probe", "finetune"):
            cfg = ExperimentConfig(**base, mode=mode, finetune=ft)
            t = time.perf_counter()
            res = run_experiment(cfg, Store(Path(tmp) / "runs"))
            print(
                f"\n{mode} mode: {time.perf_counter() - t:.0f} s, sizes {base['sizes']}, "
                f"finetune epochs {args.w2s_epochs}"
            )
            print_summary(res.summary)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="minilm", help="ladder name, folder or hub id of a Hugging Face model")
    ap.add_argument("--n-train", type=int, default=1024)
    ap.add_argument("--n-eval", type=int, default=256)
    ap.add_argument("--n-test", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--eval-batch-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--evals", type=int, default=4, help="val evaluations during training (+ a final one)")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2, help="alternating repeats; the best of each is reported")
    ap.add_argument("--warmup", type=int, default=1, help="--reference: untimed rounds of both sides first")
    ap.add_argument(
        "--pad-to-max", action="store_true", help="also time the reference loop padded to the dataset's longest"
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument(
        "--reference", help="a checkout of openai/weak-to-strong: compare against its own train_model instead"
    )
    ap.add_argument("--ref-minibatch", type=int, default=8, help="train_model's minibatch_size")
    ap.add_argument("--cpu-bf16", action="store_true", help="with --reference: also time ours under bf16 autocast")
    ap.add_argument("--unpacked", action="store_true", help="with --reference: also time ours without packing")
    ap.add_argument(
        "--w2s", action="store_true", help="also run the sentiment W2S experiment in finetune and probe mode"
    )
    ap.add_argument("--w2s-seeds", default="0,1,2")
    ap.add_argument("--w2s-sizes", default="1000,1000,250,1000", help="train_gt,train_w2s,val,test")
    ap.add_argument("--w2s-epochs", type=int, default=2)
    args = ap.parse_args()
    if args.warmup < 0:
        ap.error(f"--warmup must be 0 or more, got {args.warmup}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"load average before: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cpus)")
    if args.reference:
        print_measures(versus_reference(args, device))
    elif not args.skip_throughput:
        rows = throughput(args, device)
        print_measures(rows)
    if args.w2s:
        w2s(args)
    print(f"load average after: {os.getloadavg()[0]:.1f}; peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
