import json
import logging
import os
import shutil

import numpy as np
import pytest

from superalign import assets
from superalign.errors import ModelError
from superalign.losses import get_loss
from superalign.models import (
    CachedEncoder,
    SentenceTransformerEncoder,
    StaticEncoder,
    TfidfClassifier,
    background,
    encoder_for,
)

from .conftest import require_assets


class CountingEncoder:
    key = "counting"

    def __init__(self):
        self.seen = []

    def encode(self, texts):
        self.seen.extend(texts)
        return np.array([[len(t), t.count("a")] for t in texts], dtype=np.float32)


def test_cached_encoder_encodes_each_text_once(tmp_path):
    inner = CountingEncoder()
    enc = CachedEncoder(inner, tmp_path)
    first = enc.encode(["a", "bb", "a", "cac"])
    assert inner.seen == ["a", "bb", "cac"]
    second = CachedEncoder(CountingEncoder(), tmp_path)  # a new process would see the same cache
    np.testing.assert_array_equal(second.encode(["cac", "a"]), first[[3, 0]])
    assert second.inner.seen == [] and second.hits == 2


def test_a_light_encoder_fills_its_cache_from_a_second_process(tmp_path, monkeypatch):
    """`models.background`: the child writes exactly the vectors this process would have encoded,
    with this process's superalign even from a folder holding another one."""
    require_assets("static", "vader")
    from superalign.data import get_task

    texts = list(get_task("sentiment").load().texts[:600])
    decoy = tmp_path / "cwd" / "superalign"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the superalign of the working directory')\n")
    monkeypatch.chdir(decoy.parent)
    enc = CachedEncoder(encoder_for("static"), tmp_path / "features")
    assert background.worth_a_process(enc, texts) and not background.worth_a_process(enc, texts[:100])
    with background.encoding_beside(enc, texts):
        pass
    assert enc.count_missing(texts) == 0
    np.testing.assert_array_equal(enc.encode(texts), encoder_for("static").encode(texts))
    assert enc.misses == 0


def test_bf16_features_are_cached_apart_and_stay_close_to_float32():
    """`probe.encoder_bf16`: a sentence-transformers model encodes under bf16 autocast, under its
    own key; the static model has no products to cast and keeps its key; off, configs dump as before."""
    require_assets("minilm", "static", "vader")
    from superalign.data import get_task
    from superalign.models import ModelFactory, ProbeConfig

    fp32, bf16 = ModelFactory("minilm", ProbeConfig()), ModelFactory("minilm", ProbeConfig(encoder_bf16=True))
    assert bf16.key == f"{fp32.key}+bf16" and bf16.encoder.path != fp32.encoder.path
    assert ModelFactory("static", ProbeConfig(encoder_bf16=True)).key == ModelFactory("static", ProbeConfig()).key
    assert "encoder_bf16" not in ProbeConfig().model_dump()
    texts = list(get_task("sentiment").load().texts[:64])
    a, b = fp32.encoder.inner.encode(texts), bf16.encoder.inner.encode(texts)  # inner: no cache writes
    assert b.dtype == np.float32 and not np.array_equal(a, b)
    assert (a * b).sum(1).min() > 0.999  # unit vectors: cosine similarity


class FailsElsewhere:
    """A light encoder that works in the process whose id is its `source` and raises in any other."""

    light = True

    def __init__(self, source: str, key: str = "fails-elsewhere"):
        self.source, self.key = source, key

    def encode(self, texts):
        if os.getpid() != int(self.source):
            raise RuntimeError("not in this process")
        return np.ones((len(texts), 2), dtype=np.float32)


def test_a_failed_second_process_loses_nothing(tmp_path, caplog):
    enc = CachedEncoder(FailsElsewhere(str(os.getpid())), tmp_path)
    texts = [f"text {i}" for i in range(600)]
    with caplog.at_level(logging.INFO, logger="superalign.models.background"), background.encoding_beside(enc, texts):
        pass
    assert "in a second process failed" in caplog.text
    assert enc.count_missing(texts) == len(texts)
    assert enc.encode(texts).shape == (600, 2) and enc.misses == 600


def test_unknown_model_is_a_model_error():
    with pytest.raises(ModelError, match="unknown model"):
        encoder_for("definitely not a model")


def test_local_folders_and_hub_ids_resolve(tmp_path):
    require_assets("static", "minilm")
    st = encoder_for(str(assets.require("minilm")))
    assert isinstance(st, SentenceTransformerEncoder)
    assert isinstance(encoder_for(str(assets.require("static"))), StaticEncoder)
    hub = encoder_for("sentence-transformers/all-MiniLM-L6-v2")
    assert isinstance(hub, SentenceTransformerEncoder) and hub.key == "hub:sentence-transformers/all-MiniLM-L6-v2"
    with pytest.raises(ModelError, match="not a model folder"):
        encoder_for(str(tmp_path))


def test_static_encoder_encodes_exactly_as_model2vec():
    """Our reader of model2vec folders (vocabulary-quantized int8 vectors, a Unigram tokenizer whose
    unknown token is dropped, truncation) gives model2vec's own vectors, bit for bit."""
    require_assets("static", "vader")
    from model2vec import StaticModel

    from superalign.data import get_task

    texts = list(get_task("sentiment").load().texts[:500])
    texts += ["", "   ", ".", "zzqx", "héllo wörld 😀", "a long one " * 600]
    folder = str(assets.require("static"))
    ours = StaticEncoder(folder, key="static").encode(texts)
    theirs = np.asarray(StaticModel.from_pretrained(folder).encode(texts), dtype=np.float32)
    assert ours.dtype == np.float32 and ours.shape == (len(texts), 64)
    np.testing.assert_array_equal(ours, theirs)


def test_static_encoder_without_max_length_truncates_nothing_as_model2vec(tmp_path):
    """A model2vec config with ``max_length: null`` means no truncation, in both readers."""
    require_assets("static")
    from model2vec import StaticModel

    folder = tmp_path / "static"
    shutil.copytree(assets.require("static"), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "max_length": None}))
    texts = ["a long one " * 1200, "short"]
    ours = StaticEncoder(str(folder), key="static-untruncated").encode(texts)
    theirs = np.asarray(StaticModel.from_pretrained(str(folder)).encode(texts), dtype=np.float32)
    np.testing.assert_array_equal(ours, theirs)


def test_local_folder_copy_encodes_like_the_ladder_model(tmp_path):
    """The hub/local path is real code: a copied sentence-transformers folder loads and matches."""
    require_assets("minilm")
    folder = tmp_path / "my-minilm"
    shutil.copytree(assets.require("minilm"), folder)
    texts = ["a wonderful film", "dull and lifeless"]
    np.testing.assert_allclose(encoder_for(str(folder)).encode(texts), encoder_for("minilm").encode(texts), atol=1e-5)


def test_tfidf_learns_from_soft_labels():
    texts = ["good great fine", "great good", "good fine", "bad awful poor", "awful bad", "poor bad"] * 5
    soft = np.array([[0.2, 0.8]] * 3 + [[0.9, 0.1]] * 3 * 1, dtype=float)
    soft = np.tile(soft, (5, 1))
    clf = TfidfClassifier().fit(texts, soft, get_loss("xent"), loss_name="xent")
    p = clf.predict_proba(["good great", "awful poor"])
    assert p[0, 1] > 0.5 > p[1, 1]


def test_head_adamw_updates_exactly_as_torch_fused_adamw():
    """The probe's lean optimizer runs torch's fused AdamW kernel with the same state: every
    weight equal bit for bit to `torch.optim.AdamW(fused=True)` after a few steps."""
    import torch

    from superalign.models.training import HeadAdamW

    torch.manual_seed(0)
    ours, ref = torch.nn.Linear(16, 3), torch.nn.Linear(16, 3)
    ref.load_state_dict(ours.state_dict())
    lean = HeadAdamW(ours.parameters(), lr=3e-2, weight_decay=0.1)
    torch_opt = torch.optim.AdamW(ref.parameters(), lr=3e-2, weight_decay=0.1, fused=True)
    x, start = torch.randn(32, 16), ours.weight.detach().clone()
    for step in range(5):
        for model, opt in ((ours, lean), (ref, torch_opt)):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()
        assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), ref.parameters())), step
    assert not torch.equal(ours.weight, start)  # it trained
