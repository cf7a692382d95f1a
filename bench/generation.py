"""Benchmark generative weak-to-strong (issue 14): setting B and generation throughput.

1. Setting B on `sentiment_continuation`: SmolLM2-135M-Instruct samples continuations of test
   prompts; best-of-n under a weak reward model (a static-embedding probe fit on train_gt's human
   ratings) and under the gold judge (a MiniLM probe fit on the disjoint judge split), both scored
   by the gold judge, for n = 1, 2, 4, 8, 16: gold score [95% CI], PGR [95% CI], the weak RM's score
   of its own pick (its rise while the gold score stalls is over-optimization), fluency.
2. Generation throughput: tokens/s of the batched local policy (`TransformersPolicy.sample`) divided
   by a one-prompt-at-a-time `model.generate` loop on the same model, prompts and lengths, measured
   in this process (target >= 3x on 2 CPU cores); with ``--llama-server``, the same prompts and
   lengths through a llama.cpp OpenAI-compatible server on 127.0.0.1 serving the SmolLM2 GGUF
   (Q4_1; one request per prompt, as `OpenAICompatiblePolicy` sends them).

3. With --refusal: setting A on `refusal` at the default sizes (a tfidf prompt classifier fit on
   train_gt's labels decides what SmolLM2 is fine-tuned to refuse): base, weak, ceiling and each
   student's correct-behaviour rate [95% CI], PGR [95% CI], harmful compliance and over-refusal.

usage: python bench/generation.py [--seeds 0,1,2] [--test 64] [--ns 1,2,4,8,16] [--skip-bon] [--skip-speed]
                                  [--refusal] [--llama-server]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from _table import print_measures  # noqa: E402  (bench/ is on sys.path when a script in it runs)


def setting_b(args) -> None:
    from superalign.generation import BestOfNConfig, run_best_of_n
    from superalign.store import Store
    from superalign.summaries import print_best_of_n

    cfg = BestOfNConfig(
        seeds=[int(s) for s in args.seeds.split(",")],
        ns=[int(n) for n in args.ns.split(",")],
        weak=args.weak,
        judge=args.judge,
        policy=args.policy,
        sizes={"train_gt": args.train_gt, "train_w2s": 1, "val": 1, "test": args.test},
    )
    t = time.perf_counter()
    result = run_best_of_n(cfg, Store(args.store))
    print_best_of_n(result.summary, cached=not result.computed)
    print(f"{time.perf_counter() - t:.0f} s, {len(cfg.seeds)} seeds x {args.test} prompts x {max(cfg.ns)} samples")


def refusal(args) -> None:
    from superalign.generation import RefuseConfig, run_refuse
    from superalign.store import Store
    from superalign.summaries import print_refuse

    cfg = RefuseConfig(seeds=[int(s) for s in args.seeds.split(",")])
    t0 = time.perf_counter()
    summary = run_refuse(cfg, Store(args.store))
    print_refuse(summary, cached=not summary["computed"])
    print(f"setting A on refusal: {time.perf_counter() - t0:.0f} s for {len(cfg.seeds)} seeds")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)
    print(f"peak memory (max RSS of this process): {peak:.2f} GiB")


def throughput(args) -> None:
    import torch

    from superalign.data.generation import SentimentContinuationTask
    from superalign.llm import get_policy

    task = SentimentContinuationTask()
    prompts = [task.prompt_and_continuation(t)[0] for t in task.load().texts[: args.speed_prompts]]
    policy = get_policy(args.policy)
    policy.sample(prompts[:2], 1, seed=0, max_new_tokens=2)  # load the model
    model, tok = policy._model, policy._tok
    new = args.speed_tokens

    def count(texts: list[str]) -> int:  # generated tokens, counted the same way for both
        return sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)

    def batched() -> tuple[float, int]:
        t = time.perf_counter()
        out = policy.sample(prompts, 1, seed=0, temperature=1.0, max_new_tokens=new)
        return time.perf_counter() - t, count([o[0] for o in out])

    def one_by_one() -> tuple[float, int]:
        t, texts = time.perf_counter(), []
        torch.manual_seed(0)
        with torch.no_grad():
            for p in prompts:
                ids = tok(p, return_tensors="pt", add_special_tokens=False)
                gen = model.generate(**ids, max_new_tokens=new, do_sample=True, top_k=0, pad_token_id=tok.pad_token_id)
                texts.append(tok.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
        return time.perf_counter() - t, count(texts)

    fast, slow = [], []
    for _ in range(args.repeats):  # alternate, so drift in machine load hits both
        fast.append(batched())
        slow.append(one_by_one())
    rate_fast = max(n / s for s, n in fast)
    rate_slow = max(n / s for s, n in slow)
    print(
        f"\ngeneration throughput, {args.policy}, {len(prompts)} prompts, up to {new} new tokens, "
        f"{torch.get_num_threads()} threads, best of {args.repeats}"
    )
    rows = [
        ("batched policy.sample (generated tokens/s)", f"{rate_fast:.1f}", ""),
        ("one prompt at a time, model.generate (tokens/s)", f"{rate_slow:.1f}", ""),
        ("ratio", f"{rate_fast / rate_slow:.2f}x", ">= 3x"),
    ]
    if args.llama_server:
        rate_srv = served_rate(args, prompts, new, count)
        rows += [
            ("llama.cpp server, GGUF Q4_1, /v1/completions per prompt (tokens/s)", f"{rate_srv:.1f}", ""),
            ("server / one prompt at a time, model.generate", f"{rate_srv / rate_slow:.2f}x", ""),
        ]
    print_measures(rows)


def served_rate(args, prompts: list[str], new: int, count) -> float:
    """Generated tokens/s through a llama.cpp server on 127.0.0.1 serving the SmolLM2 GGUF (best of
    ``--repeats``), counted with the same tokenizer as the local loops."""
    from superalign import assets
    from superalign.llm import OpenAICompatiblePolicy
    from superalign.llm.llamacpp import serve_gguf

    gguf = assets.require("smollm2") / assets.get("smollm2").extra["gguf_file"]
    with serve_gguf(gguf, alias="smollm2") as base:
        remote = OpenAICompatiblePolicy(model="smollm2", base_url=base, timeout=300)
        remote.sample(prompts[:1], 1, seed=0, max_new_tokens=2)  # the server's first request loads its caches
        rates = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = remote.sample(prompts, 1, seed=0, temperature=1.0, max_new_tokens=new)
            rates.append(count([o[0] for o in out]) / (time.perf_counter() - t))
    return max(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--test", type=int, default=64, help="test prompts per seed")
    ap.add_argument("--train-gt", type=int, default=1000, help="human-rated sentences the weak RM is fit on")
    ap.add_argument("--ns", default="1,2,4,8,16")
    ap.add_argument("--weak", default="static")
    ap.add_argument("--judge", default="minilm")
    ap.add_argument("--policy", default="local:smollm2")
    ap.add_argument("--store", default="runs")
    ap.add_argument("--speed-prompts", type=int, default=32)
    ap.add_argument("--speed-tokens", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-bon", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--refusal", action="store_true", help="also run setting A on refusal")
    ap.add_argument(
        "--llama-server", action="store_true", help="throughput also through a llama.cpp server (llama-cpp-python)"
    )
    args = ap.parse_args()
    if args.refusal:
        refusal(args)
    if not args.skip_bon:
        setting_b(args)
    if not args.skip_speed:
        throughput(args)


if __name__ == "__main__":
    main()
