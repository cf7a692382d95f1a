"""Fine-tuning backend: pooling, batching, the training loop, checkpoints (tiny random models).

Tiny BERT / GPT-2 models (conftest.tiny_models) are built offline from a config, with the MiniLM
asset's tokenizer; each fit takes about a second. Slow tests fine-tune the real MiniLM and SmolLM2.
"""

import json
import os

import numpy as np
import pytest
import torch

from superalign.errors import ModelError
from superalign.losses import get_loss
from superalign.models import FinetuneConfig
from superalign.models.finetune import FinetuneClassifier
from superalign.models.hf import (
    collate,
    is_causal_lm,
    last_token_index,
    length_grouped_batches,
    load_classifier,
    pack,
    random_batches,
    tokenize,
)

from .conftest import require_assets, tiny_causal_lm

WORDS = "the a movie film plot actor scene story was is very quite and".split()


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    pass


@pytest.fixture(scope="module")
def tiny(tiny_models):
    return tiny_models


def keyword_data(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Sentences of filler words with one 'good' (label 1) or 'bad' (label 0) at a random place."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        y = int(rng.integers(2))
        words = list(rng.choice(WORDS, int(rng.integers(2, 14))))
        words.insert(int(rng.integers(len(words) + 1)), "good" if y else "bad")
        texts.append(" ".join(words))
        labels.append(y)
    return texts, np.array(labels)


FAST = dict(epochs=2, batch_size=16, lr=2e-3, max_length=32, dropout=False)


# ------------------------------------------------------------------------------------- pooling
def test_last_token_index_under_left_right_and_no_padding():
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 1]])
    assert last_token_index(mask).tolist() == [2, 4, 4, 0, 4]


@pytest.mark.parametrize("arch", ["gpt2", "bert"])
def test_pooled_logits_do_not_depend_on_padding(tiny, arch):
    """A sequence scores the same alone, right-padded and left-padded in a batch (pad id != 0).

    For the causal LM this needs both the last *non-pad* token and position ids from the mask;
    the reference's ``input_ids != 0`` rule picks a pad token here."""
    cfg = FinetuneConfig(max_length=32)
    tok, model = load_classifier(tiny[arch], cfg, 2, seed=0)
    assert model.causal == (arch == "gpt2") and model.pooling == ("last" if arch == "gpt2" else "mean")
    torch.nn.init.normal_(model.head.weight)  # a non-zero head, so logits reflect the pooled state
    model.eval()
    seqs = tokenize(
        tok, ["a short one", "a much longer sentence with quite a few more words in it", "mid length text"], 32
    )
    pad = 7  # a real token id, as for GPT-2 tokenizers whose pad is eos
    with torch.no_grad():
        alone = torch.cat([model(*collate([s], pad)) for s in seqs])
        sides = ["right", "left"] if arch == "gpt2" else ["right"]  # encoders keep their own positions: right padding
        for side in sides:
            batched = model(*collate(seqs, pad, side=side))
            torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-4)
        if arch == "gpt2":  # the reference rule: last index = (ids != 0).sum() - 1 -> a pad position
            ids, _ = collate(seqs, pad)
            naive = (ids != 0).sum(-1) - 1
            assert naive.tolist() != [len(s) - 1 for s in seqs]


def test_pack_places_every_sequence_once_and_restarts_positions():
    seqs = [[5] * n for n in (9, 3, 7, 1, 4, 6, 2)]
    b = pack(seqs, pad_id=0, row_tokens=10)
    assert b.input_ids.shape[1] <= 10 and b.input_ids.shape[0] == 4  # 32 tokens, first fit decreasing
    cells = set()
    for i, s in enumerate(seqs):
        r, e = int(b.row[i]), int(b.end[i])
        span = range(e - len(s) + 1, e + 1)
        assert b.position_ids[r, list(span)].tolist() == list(range(len(s)))
        assert b.input_ids[r, list(span)].tolist() == s
        assert cells.isdisjoint((r, t) for t in span)
        cells |= {(r, t) for t in span}
    assert int((b.input_ids != 0).sum()) == sum(map(len, seqs))  # the rest is padding
    assert pack([[1] * 40], 0, row_tokens=10).input_ids.shape == (1, 40)  # a long sequence gets a row of its own


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_packed_logits_equal_padded_logits(tiny, tmp_path, arch):
    """Packing is the same computation: every sequence scores as it does in a padded batch."""
    source = tiny["gpt2"] if arch == "gpt2" else str(tiny_causal_lm(tmp_path / "llama"))
    tok, model = load_classifier(source, FinetuneConfig(max_length=32), 2, seed=0)
    assert model.packable
    torch.nn.init.normal_(model.head.weight)
    model.eval()
    texts = ["a short one", "a much longer sentence with quite a few more words in it", "mid length text", "x"]
    seqs = tokenize(tok, texts * 3, 32)
    with torch.no_grad():
        padded = model(*collate(seqs, 7))
        packed = model.forward_packed(pack(seqs, 7, row_tokens=24))
    torch.testing.assert_close(packed, padded, atol=1e-5, rtol=1e-4)


def test_encoders_are_not_packed(tiny):
    _, model = load_classifier(tiny["bert"], FinetuneConfig(), 2, seed=0)
    assert not model.packable


def test_packed_training_learns_the_same_model_with_less_padding(tiny):
    texts, y = keyword_data(96, seed=0)
    test_texts, _ = keyword_data(50, seed=1)
    fits = {}
    for packing in (True, False):
        cfg = FinetuneConfig(**FAST, packing=packing, early_stopping=False, device="cpu")
        fits[packing] = FinetuneClassifier(tiny["gpt2"], "gpt2", cfg, seed=0).fit(texts, np.eye(2)[y], get_loss("xent"))
    assert fits[True].stats["packed"] and not fits[False].stats["packed"]
    assert fits[True].stats["padded_tokens"] < fits[False].stats["padded_tokens"]
    np.testing.assert_allclose(fits[True].predict_proba(test_texts), fits[False].predict_proba(test_texts), atol=1e-4)
    assert FinetuneConfig(packing=False).key() == FinetuneConfig().key()  # same computation, same cache key
    assert "packing" not in FinetuneConfig().model_dump()  # default dumps (and run hashes) unchanged


@pytest.mark.parametrize("dropout", [True, False])
def test_dropout_switch_zeroes_every_dropout_probability(tiny, dropout):
    _, model = load_classifier(tiny["gpt2"], FinetuneConfig(dropout=dropout), 2, seed=0)
    torch.nn.init.normal_(model.head.weight)
    model.train()
    x, m = collate([[101, 2000, 2001, 2002, 102]], 0)
    same = torch.equal(model(x, m), model(x, m))
    assert same != dropout


def _mapped_from(folder) -> list[tuple[int, int]]:
    """Address ranges this process maps from files in ``folder`` (Linux /proc/self/maps)."""
    ranges = []
    for line in open("/proc/self/maps"):
        parts = line.split()
        if len(parts) >= 6 and parts[5].startswith(str(folder)):
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            ranges.append((lo, hi))
    return ranges


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux /proc")
def test_trained_weights_leave_the_checkpoint_map_and_frozen_ones_stay(tiny):
    """Full fine-tuning on the CPU copies the weights out of the memory-mapped checkpoint (a first
    optimizer step would copy-on-write fault every page); LoRA's frozen backbone is never written,
    so it stays."""
    folder = os.path.realpath(tiny["gpt2"])

    def in_map(model) -> list[bool]:
        ranges = _mapped_from(folder)
        return [any(lo <= p.data_ptr() < hi for lo, hi in ranges) for p in model.backbone.parameters()]

    _, frozen = load_classifier(tiny["gpt2"], FinetuneConfig(lora=True, device="cpu"), 2, seed=0)
    assert any(in_map(frozen))  # the check sees a mapped weight when there is one
    _, full = load_classifier(tiny["gpt2"], FinetuneConfig(device="cpu"), 2, seed=0)
    assert not any(in_map(full))


def test_causal_detection():
    from transformers import BertConfig, GPT2Config, LlamaConfig, MPNetConfig

    assert is_causal_lm(GPT2Config()) and is_causal_lm(LlamaConfig())
    assert not is_causal_lm(BertConfig()) and not is_causal_lm(MPNetConfig())
    assert is_causal_lm(BertConfig(architectures=["BertLMHeadModel"]))


def test_hf_source_resolves_finetunable_models(tiny):
    from superalign.models import hf_source

    assert hf_source("tfidf") is None and hf_source("static") is None  # nothing to fine-tune
    source, key = hf_source(tiny["gpt2"])  # a GPT-2 folder is not mistaken for a model2vec one
    assert source == tiny["gpt2"] and key.startswith("hf:gpt2@")
    assert hf_source("org/model") == ("org/model", "hub:org/model")
    with pytest.raises(ModelError, match="unknown model"):
        hf_source("no such model")


# ------------------------------------------------------------------------------------ batching
def test_length_grouped_batches_cover_each_example_once_and_cut_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=1000)
    grouped = length_grouped_batches(lengths, 16, np.random.default_rng(1))
    assert sorted(np.concatenate(grouped).tolist()) == list(range(1000))
    assert max(len(b) for b in grouped) == 16
    assert lengths[grouped[0]].max() == lengths.max()  # longest batch first
    padded = lambda batches: sum(len(b) * lengths[b].max() for b in batches)  # noqa: E731
    assert padded(grouped) < 0.7 * padded(random_batches(1000, 16, np.random.default_rng(1)))


def test_collate_pads_to_the_batch_longest():
    ids, mask = collate([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = collate([[5, 6, 7], [8]], pad_id=9, side="left")
    assert ids.tolist() == [[5, 6, 7], [9, 9, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


# ------------------------------------------------------------------------------------ training
@pytest.mark.parametrize("arch,lora", [("bert", False), ("gpt2", True)])
def test_finetune_learns_a_keyword_task(tiny, arch, lora):
    texts, y = keyword_data(240, seed=0)
    test_texts, test_y = keyword_data(200, seed=1)
    cfg = FinetuneConfig(**{**FAST, "epochs": 4, "lr": 1e-2 if lora else 2e-3}, lora=lora, early_stopping=False)
    clf = FinetuneClassifier(tiny[arch], arch, cfg, seed=0)
    untrained = FinetuneClassifier(tiny[arch], arch, cfg.model_copy(update={"epochs": 1, "lr": 1e-12}), seed=0)
    base = (
        untrained.fit(texts[:16], np.eye(2)[y[:16]], get_loss("xent")).predict_proba(test_texts).argmax(1) == test_y
    ).mean()
    p = clf.fit(texts, np.eye(2)[y], get_loss("xent")).predict_proba(test_texts)
    assert p.shape == (200, 2) and np.allclose(p.sum(1), 1)
    acc = (p.argmax(1) == test_y).mean()
    assert acc > 0.9 and acc > base + 0.3, (acc, base)
    n_trainable = sum(p.numel() for p in clf._trainable().values())
    n_total = sum(p.numel() for p in clf._model.parameters())
    assert (n_trainable < 0.2 * n_total) if lora else (n_trainable == n_total)


def test_every_step_passes_step_frac_to_the_loss(tiny):
    seen = []

    def spy(logits, targets, step_frac):
        seen.append((step_frac, len(logits)))
        return get_loss("xent")(logits, targets, step_frac)

    texts, y = keyword_data(40, seed=0)
    cfg = FinetuneConfig(**{**FAST, "epochs": 2, "batch_size": 8}, grad_accum=2, early_stopping=False)
    FinetuneClassifier(tiny["bert"], "bert", cfg).fit(texts, np.eye(2)[y], spy)
    total = 2 * 5  # epochs x steps per epoch
    assert [f for f, _ in seen] == [s / total for s in range(total) for _ in range(2)]  # two micro-batches per step
    assert {n for _, n in seen} == {4}


def test_sample_weights_and_gold_rows_as_for_the_probe(tiny):
    """Zero-weight rows with flipped labels are never drawn, so the model learns the clean rows;
    gold rows reach plain cross-entropy, never the W2S loss (the oversight learner's contract)."""
    texts, y = keyword_data(240, seed=0)
    test_texts, test_y = keyword_data(200, seed=1)
    noisy = np.r_[y[:120], 1 - y[120:]]
    w = np.r_[np.ones(120), np.zeros(120)]
    cfg = FinetuneConfig(**{**FAST, "epochs": 6}, early_stopping=False)
    accs = [
        (
            FinetuneClassifier(tiny["bert"], "bert", cfg, seed=0)
            .fit(texts, np.eye(2)[noisy], get_loss("xent"), sample_weight=sw)
            .predict_proba(test_texts)
            .argmax(1)
            == test_y
        ).mean()
        for sw in (w, None)
    ]
    assert accs[0] > 0.85 and accs[1] < 0.75, accs  # unweighted, half the labels are flipped
    seen = []

    def spy(logits, targets, step_frac):
        seen.append(len(logits))
        return get_loss("xent")(logits, targets, step_frac)

    gold = np.zeros(40, bool)
    gold[:8] = True
    small = FinetuneConfig(**{**FAST, "epochs": 1, "batch_size": 40}, early_stopping=False)
    FinetuneClassifier(tiny["bert"], "bert", small).fit(texts[:40], np.eye(2)[y[:40]], spy, gold_mask=gold)
    assert seen == [32]  # one batch of 40 rows: the 8 gold rows went to cross-entropy
    with pytest.raises(ValueError, match="sample_weight"):
        FinetuneClassifier(tiny["bert"], "bert", small).fit(
            texts[:40], np.eye(2)[y[:40]], spy, sample_weight=-np.ones(40)
        )


def test_grad_accumulation_and_checkpointing_do_not_change_training(tiny):
    texts, y = keyword_data(48, seed=0)
    preds, clfs = [], []
    for accum, ckpt in [(1, False), (4, False), (1, True)]:
        cfg = FinetuneConfig(
            **{**FAST, "epochs": 1}, grad_accum=accum, gradient_checkpointing=ckpt, early_stopping=False
        )
        clfs.append(FinetuneClassifier(tiny["bert"], "bert", cfg).fit(texts, np.eye(2)[y], get_loss("xent")))
        preds.append(clfs[-1].predict_proba(texts))
    np.testing.assert_allclose(preds[1], preds[0], atol=2e-5)
    np.testing.assert_allclose(preds[2], preds[0], atol=2e-5)
    # checkpointing really recomputes: in train mode a layer runs twice per forward + backward
    for clf, runs in [(clfs[0], 1), (clfs[2], 2)]:
        calls = []
        layer = clf._model.backbone.encoder.layer[0].attention  # inside the checkpointed call
        hook = layer.register_forward_hook(lambda *_: calls.append(1))
        clf._model.train()
        clf._model(*collate([[101, 2000, 102]], 0)).sum().backward()
        hook.remove()
        assert len(calls) == runs


def test_cpu_bf16_autocasts_the_backbone_only_when_asked_and_still_learns(tiny):
    texts, y = keyword_data(240, seed=0)
    test_texts, test_y = keyword_data(200, seed=1)
    for cpu_bf16 in (False, True):
        cfg = FinetuneConfig(**{**FAST, "epochs": 4}, cpu_bf16=cpu_bf16, early_stopping=False, device="cpu")
        clf = FinetuneClassifier(tiny["gpt2"], "gpt2", cfg, seed=0).fit(texts, np.eye(2)[y], get_loss("xent"))
        dtypes = []
        hook = clf._model.backbone.h[0].mlp.c_fc.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
        p = clf.predict_proba(test_texts)
        hook.remove()
        assert set(dtypes) == {torch.bfloat16 if cpu_bf16 else torch.float32}
        assert p.dtype == np.float64 and (p.argmax(1) == test_y).mean() > 0.9
    assert FinetuneConfig(cpu_bf16=True).key() != FinetuneConfig().key()  # a cache key of its own


def test_early_stopping_follows_the_supervisor_val_labels_and_keeps_the_best(tiny):
    """Val labels that contradict the training labels get worse with training: the run stops
    after `patience` evaluations and rolls back to the best evaluation."""
    texts, y = keyword_data(160, seed=0)
    val_texts, val_y = keyword_data(40, seed=2)
    cfg = FinetuneConfig(**{**FAST, "epochs": 6}, eval_every=2, patience=2)
    clf = FinetuneClassifier(tiny["bert"], "bert", cfg).fit(
        texts, np.eye(2)[y], get_loss("xent"), val=(val_texts, np.eye(2)[1 - val_y])
    )
    accs = [h["val_acc"] for h in clf.history]
    assert clf.stats["stopped_early"] and clf.stats["steps"] < clf.stats["total_steps"]
    assert len(accs) >= 3 and clf.history[-1]["step"] == clf.stats["steps"]
    best = clf.stats["best_step"]
    assert best == max(clf.history, key=lambda h: (h["val_acc"], -h["val_loss"]))["step"] < clf.stats["steps"]
    # the returned model is the best one: its val accuracy is the recorded best
    agree = (clf.predict_proba(val_texts).argmax(1) == 1 - val_y).mean()
    assert agree == pytest.approx(max(accs), abs=1e-6)


def test_checkpoint_is_reused_on_rerun(tiny, tmp_path):
    texts, y = keyword_data(64, seed=0)
    cfg = FinetuneConfig(**{**FAST, "epochs": 1}, lora=True, early_stopping=False)
    first = FinetuneClassifier(tiny["gpt2"], "gpt2", cfg, checkpoint_dir=tmp_path / "ck").fit(
        texts, np.eye(2)[y], get_loss("xent")
    )
    assert (tmp_path / "ck" / "weights.safetensors").exists() and (tmp_path / "ck" / "meta.json").exists()

    def never(*_):
        pytest.fail("trained again instead of loading the checkpoint")

    again = FinetuneClassifier(tiny["gpt2"], "gpt2", cfg, checkpoint_dir=tmp_path / "ck").fit(
        texts, np.eye(2)[y], never
    )
    assert again.loaded_from_checkpoint
    np.testing.assert_allclose(again.predict_proba(texts), first.predict_proba(texts), atol=1e-6)
    full = cfg.model_copy(update={"lora": False})
    with pytest.raises(ModelError, match="does not match this fit: settings lora True vs False"):
        FinetuneClassifier(tiny["gpt2"], "gpt2", full, checkpoint_dir=tmp_path / "ck").fit(texts, np.eye(2)[y], never)


def test_checkpoint_of_another_fit_is_refused_naming_what_differs(tiny, tmp_path):
    """Same folder, same model: a different loss, setting, seed or training data is a one-line ModelError."""
    texts, y = keyword_data(48, seed=0)
    cfg = FinetuneConfig(**{**FAST, "epochs": 1}, early_stopping=False)
    ck = tmp_path / "ck"
    FinetuneClassifier(tiny["bert"], "bert", cfg, checkpoint_dir=ck).fit(texts, np.eye(2)[y], get_loss("xent"))
    meta = json.loads((ck / "meta.json").read_text())
    assert {meta[k] for k in ("model", "loss", "seed")} == {"finetune(bert)", "xent", 0} and len(meta["data"]) == 16

    def never(*_):
        pytest.fail("trained instead of refusing the checkpoint")

    cases = {
        "loss 'xent' vs 'logconf'": dict(loss_name="logconf"),
        "settings lr 0.002 vs 0.001": dict(config=cfg.model_copy(update={"lr": 1e-3})),
        "seed 0 vs 1": dict(seed=1),
        "training data": dict(labels=np.eye(2)[1 - y]),
        "model 'finetune(bert)' vs 'finetune(other)'": dict(key="other"),
    }
    for expected, change in cases.items():
        clf = FinetuneClassifier(
            tiny["bert"], change.get("key", "bert"), change.get("config", cfg), change.get("seed", 0), checkpoint_dir=ck
        )
        with pytest.raises(ModelError, match="does not match this fit") as e:
            clf.fit(texts, change.get("labels", np.eye(2)[y]), never, loss_name=change.get("loss_name", "xent"))
        msg = str(e.value)
        assert expected in msg and ";" not in msg and "\n" not in msg, msg  # one line, only what differs
    again = FinetuneClassifier(tiny["bert"], "bert", cfg, checkpoint_dir=ck).fit(texts, np.eye(2)[y], never)
    assert again.loaded_from_checkpoint


def test_bad_inputs_are_model_errors(tiny, tmp_path):
    with pytest.raises(ModelError, match="cannot load"):
        FinetuneClassifier(str(tmp_path), "x").fit(["a"], np.eye(2)[[0]], get_loss("xent"))
    with pytest.raises(ModelError, match="soft labels"):
        FinetuneClassifier(tiny["bert"], "bert").fit(["a", "b"], np.eye(2)[[0]], get_loss("xent"))
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="CUDA is not available"):
            FinetuneClassifier(tiny["bert"], "bert", FinetuneConfig(device="cuda"))
    with pytest.raises(ValueError, match="divisible"):
        FinetuneConfig(batch_size=10, grad_accum=3)


# ----------------------------------------------------------------------------------- real model
@pytest.mark.slow
def test_minilm_finetuned_on_real_sentences_beats_untrained():
    """Real MiniLM, a few hundred human-rated sentences, better than its own untrained head."""
    require_assets("minilm", "vader")
    from superalign.data import get_task, make_splits
    from superalign.models import hf_source

    torch.set_num_threads(2)
    data = get_task("sentiment").load()
    s = make_splits(data, {"train_gt": 10, "train_w2s": 400, "val": 100, "test": 400}, seed=0)
    source, key = hf_source("minilm")
    cfg = FinetuneConfig(epochs=2, batch_size=16, lr=5e-5)
    untrained = FinetuneClassifier(
        source, key, cfg.model_copy(update={"epochs": 1, "lr": 1e-12, "early_stopping": False})
    )
    base = (
        untrained.fit(s.train_w2s.texts[:16], np.eye(2)[s.train_w2s.labels[:16]], get_loss("xent"))
        .predict_proba(s.test.texts)
        .argmax(1)
        == s.test.labels
    ).mean()
    clf = FinetuneClassifier(source, key, cfg).fit(
        s.train_w2s.texts, np.eye(2)[s.train_w2s.labels], get_loss("xent"), val=(s.val.texts, np.eye(2)[s.val.labels])
    )
    acc = (clf.predict_proba(s.test.texts).argmax(1) == s.test.labels).mean()
    assert acc > 0.7 and acc > base + 0.1, (acc, base)


@pytest.mark.slow
def test_smollm2_lora_last_token_head_learns():
    """The causal-LM path on the real SmolLM2-135M (converted from GGUF once): LoRA + last token."""
    require_assets("smollm2", "vader")
    from superalign.data import get_task, make_splits
    from superalign.models import hf_source

    torch.set_num_threads(2)
    s = make_splits(get_task("sentiment").load(), {"train_gt": 10, "train_w2s": 200, "val": 10, "test": 200}, seed=0)
    source, key = hf_source("smollm2")
    cfg = FinetuneConfig(lora=True, lr=5e-4, epochs=1, batch_size=16, early_stopping=False)
    clf = FinetuneClassifier(source, key, cfg).fit(s.train_w2s.texts, np.eye(2)[s.train_w2s.labels], get_loss("xent"))
    assert clf._model.causal and clf._model.pooling == "last"
    acc = (clf.predict_proba(s.test.texts).argmax(1) == s.test.labels).mean()
    assert acc > 0.6, acc


def test_a_checkpoint_that_cannot_be_saved_is_a_one_line_model_error(tiny, tmp_path, monkeypatch):
    """A checkpoint folder under a file, and a full disk inside safetensors: ModelError, nothing left behind."""
    import safetensors.torch
    from safetensors import SafetensorError

    texts, y = keyword_data(32, seed=0)
    cfg = FinetuneConfig(**{**FAST, "epochs": 1}, early_stopping=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelError, match="cannot save checkpoint .*file.ck: File exists"):
        FinetuneClassifier(tiny["bert"], "bert", cfg, checkpoint_dir=tmp_path / "file" / "ck").fit(
            texts, np.eye(2)[y], get_loss("xent")
        )

    def full(*_, **__):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(ModelError, match="No space left on device") as e:
        FinetuneClassifier(tiny["bert"], "bert", cfg, checkpoint_dir=tmp_path / "ck").fit(
            texts, np.eye(2)[y], get_loss("xent")
        )
    assert "\n" not in str(e.value) and list(tmp_path.iterdir()) == [tmp_path / "file"]
