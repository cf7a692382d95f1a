"""The cached stages of one W2S seed: what each stage's model sees, as its content key, and
how it is fit.

Every fitted model is a store stage keyed by the content hash of exactly what it sees
(`StageKeys`, the one place those keys are built), so a rerun, a second method or a sweep that
shares a stage never computes it twice. A key also holds what the stage *computes*: the method's
and loss's parameters with their defaults filled in, the stage's code version
(`STAGE_VERSIONS`) and the package version; a change to any of them recomputes exactly the
stages it touches.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

import superalign

from ..data import Splits, fingerprint, one_hot
from ..errors import ConfigError
from ..models import Classifier, ModelFactory, background, classifier_builder, encoder_for
from ..store import Store
from .boosting import BOOST_VERSION, boosted
from .config import ExperimentConfig
from .methods import Supervisor, check_method, get_method
from .tuning import candidates

STAGE_VERSIONS = {"weak": 1, "ceiling": 1, "rung": 1, "student": 1, "supervisor": 1, "lm_pretrain": 1}
"""Bump a stage's number when the code changes what that stage computes: its cache is then recomputed."""

LOSSES_SOURCE = Path(__file__).resolve().parents[1] / "losses.py"  # read, not imported: no torch on a cached run


@functools.cache
def _loss_defaults_in(source: Path) -> dict[str, dict[str, Any]]:
    """Default hyper-parameters of each ``@register_loss(name)`` function in `source`, from its syntax
    tree; a loss whose defaults are not literals is left out."""
    out: dict[str, dict[str, Any]] = {}
    for node in ast.parse(source.read_text()).body if source.is_file() else []:
        names = [
            d.args[0].value
            for d in getattr(node, "decorator_list", [])
            if isinstance(d, ast.Call) and getattr(d.func, "id", None) == "register_loss"
            if d.args and isinstance(d.args[0], ast.Constant) and isinstance(d.args[0].value, str)
        ]
        if not isinstance(node, ast.FunctionDef) or not names:
            continue
        a = node.args
        positional = [*a.posonlyargs, *a.args]
        pairs = [*zip(positional[len(positional) - len(a.defaults) :], a.defaults), *zip(a.kwonlyargs, a.kw_defaults)]
        hyper = {p.arg for p in [*positional, *a.kwonlyargs][3:]}  # after (logits, targets, step_frac)
        try:
            out[names[0]] = {p.arg: ast.literal_eval(d) for p, d in pairs if p.arg in hyper and d is not None}
        except ValueError:
            continue
    return out


def loss_params(name: str, params: dict[str, Any]) -> list[tuple[str, Any]]:
    """Loss `name`'s hyper-parameters as it trains with them (defaults filled in), sorted; torch-free
    for the losses of ``superalign/losses.py``, others are asked (imports torch)."""
    defaults = _loss_defaults_in(LOSSES_SOURCE).get(name)
    if defaults is None:
        from ..losses import LOSSES, loss_params_model

        fields = loss_params_model(name).model_fields if name in LOSSES else {}
        defaults = {k: f.default for k, f in fields.items() if not f.is_required()}
    return sorted({**defaults, **params}.items())


def method_params(method: str, params: dict[str, Any]) -> list[tuple[str, Any]]:
    """A method's parameters as it runs them: its defaults filled in, and those of the loss it trains with."""
    m = get_method(method)
    if m.params is None:
        return loss_params(method, params)
    p = m.parse(params).model_dump()
    return sorted({**p, "loss_params": loss_params(p["loss"], p["loss_params"])}.items())


def user_code(method: str, params: dict[str, Any]) -> list[str]:
    """Source hashes of the user-defined code a student of `method` runs: the intervention (or
    loss) registered outside superalign, and a user loss it trains with. Empty for the library's
    own methods and losses, so their keys are unchanged; torch is imported only for a loss that
    ``superalign/losses.py`` does not define (as `loss_params` does)."""
    from ..registry import code_identity

    m = get_method(method)
    loss = method if m.params is None else m.parse(params).loss
    objs: list[Any] = [] if m.params is None else [m.run]
    if loss not in _loss_defaults_in(LOSSES_SOURCE):
        from ..losses import LOSSES

        objs += [LOSSES[loss]] if loss in LOSSES else []
    return [h for h in map(code_identity, objs) if h]


def _code(stage: str) -> tuple:
    """Code identity of a stage that trains with plain cross-entropy: its version, the package's, xent's parameters."""
    return stage, STAGE_VERSIONS[stage], superalign.__version__, loss_params("xent", {})


class StageKeys:
    """Content keys of one seed's stages; each holds everything its model is fit on or predicts,
    and the code identity of what the stage computes.

    Each stage keys its own model's weights and recipe (``key``, ``settings``): a rung's are its
    own, not the strong model's. ``val`` enters a strong stage only when the model consumes it
    (fine-tuning's early stopping), with the labels the stage's supervisor gives it.
    """

    def __init__(self, splits: Splits, seed: int, strong: ModelFactory):
        self.splits, self.seed, self.strong = splits, seed, strong

    def _seen_val(self, labels: np.ndarray) -> tuple:
        return (self.splits.val.texts, labels) if self.strong.uses_val else ()

    def _model(self, f: ModelFactory) -> tuple:
        return f.key, f.settings, self.seed, self.splits.test.texts

    def weak(self, weak: ModelFactory) -> str:
        s = self.splits
        return fingerprint(
            *_code("weak"),
            *self._model(weak),
            s.train_gt.texts,
            s.train_gt.labels,
            s.train_w2s.texts,
            s.val.texts,
        )

    def ceiling(self) -> str:
        w2s = self.splits.train_w2s
        return fingerprint(
            *_code("ceiling"),
            *self._model(self.strong),
            w2s.texts,
            w2s.labels,
            *self._seen_val(self.splits.val.labels),
        )

    def rung(self, rung: ModelFactory, labels: np.ndarray) -> str:
        return fingerprint(*_code("rung"), *self._model(rung), self.splits.train_w2s.texts, labels)

    def student(
        self,
        method: str,
        params: dict,
        labels: np.ndarray,
        weak_val: np.ndarray,
        supervisors: list[np.ndarray],
        extra: tuple = (),
    ) -> str:
        """`extra`: anything else the method reads (e.g. the task's label names); empty for most."""
        return fingerprint(
            "student",
            STAGE_VERSIONS["student"],
            superalign.__version__,
            method,
            method_params(method, params),
            *self._model(self.strong),
            self.splits.train_w2s.texts,
            labels,
            *self._seen_val(weak_val),
            *([supervisors] if supervisors else []),
            *([extra] if extra else []),
            *([("user code", code)] if (code := user_code(method, params)) else []),
        )

    def supervisor(self, f: ModelFactory, sub_seed: int, texts: list, labels: np.ndarray, boost: tuple = ()) -> str:
        """`boost`: (rounds, the other member models' keys and recipes) of a boosted supervisor."""
        return fingerprint(
            *_code("supervisor"),
            f.key,
            f.settings,
            sub_seed,
            texts,
            labels,
            self.splits.train_w2s.texts,
            *(("boost", BOOST_VERSION, boost) if boost else ()),
        )


def fit_predict(
    factory: ModelFactory,
    seed: int,
    texts,
    targets,
    loss_name: str,
    params: dict,
    predict: dict,
    val: tuple | None = None,
    workdir: Path | None = None,
) -> dict[str, np.ndarray]:
    """Fit a fresh classifier of `factory` and predict every named input set of `predict`."""
    from ..losses import get_loss  # imports torch: only when a stage is actually computed

    model = factory(seed, workdir)
    model.fit(texts, targets, get_loss(loss_name, **params), loss_name=loss_name, val=val if factory.uses_val else None)
    return {name: model.predict_proba(x) for name, x in predict.items()}


def check_methods(cfg: ExperimentConfig) -> None:
    """Fail fast on unknown methods, hyper-parameters or supervisor models, before any model is trained."""
    for name, params in cfg.method_params.items():
        check_method(name, params)
    if cfg.tune.criterion == "knn_weak_acc" and cfg.tune.enabled and cfg.factory(cfg.strong).encoder is None:
        raise ConfigError(
            f"tune.criterion knn_weak_acc needs the strong model's frozen features; {cfg.strong!r} has none "
            f"in {cfg.mode} mode (use confident_weak_acc)"
        )
    for name, grid in cfg.tune.grid.items():
        for point in candidates(grid, cfg.method_params.get(name, {})):
            check_method(name, point)
    for m in cfg.methods:
        params = cfg.method_params.get(m, {})
        check_method(m, params)
        method = get_method(m)
        if method.uses_features and classifier_builder(cfg.strong) is not None:
            raise ConfigError(f"method {m!r} needs the strong model's features; {cfg.strong!r} has no frozen encoder")
        for sup in method.supervisors(method.parse(params), cfg.weak):
            if (
                classifier_builder(sup.model) is None
            ):  # models without an encoder (tfidf, profanity_check) need no check
                encoder_for(sup.model)  # unknown models are a ModelError now, not after the weak stage


def student_factory(strong: ModelFactory, seed: int, workdir: Path) -> Callable[[], Classifier]:
    """Fresh strong classifiers for one method; each gets its own checkpoint folder (a method
    such as s2s trains several students in turn, and a folder's checkpoint is reused on refit)."""
    count = iter(range(1_000_000))
    return lambda: strong(seed, workdir / f"student{next(count)}")


def strong_features(factory: ModelFactory) -> Callable:
    """The strong model's frozen features (for kNN methods), or a ConfigError when it has none."""

    def encode(texts):
        if factory.encoder is None:
            raise ConfigError(f"this method needs the strong model's features; {factory.spec!r} has no frozen encoder")
        return factory.encoder.encode(texts)

    return encode


def supervisor_labels(
    sup: Supervisor, cfg: ExperimentConfig, keys: StageKeys, store: Store, factories: dict[str, ModelFactory]
) -> tuple[np.ndarray, str]:
    """Soft labels of train_w2s from an extra weak supervisor fit on (a resample of) train_gt: a cached stage."""
    for m in (sup.model, *sup.cycle):  # each rung's factory is built once per run
        if m not in factories:
            factories[m] = cfg.factory(m)
    f, gt, w2s = factories[sup.model], keys.splits.train_gt, keys.splits.train_w2s
    sub_seed = keys.seed * 1000 + 1 + sup.index
    idx = np.random.default_rng(sub_seed).integers(0, len(gt), len(gt)) if sup.bag else np.arange(len(gt))
    if sup.cluster:  # a specialist: one topic cluster of train_gt (specialists.py)
        from .specialists import topic_cluster

        idx = topic_cluster(gt.texts, gt.labels, *sup.cluster, seed=keys.seed)
    texts, labels = [gt.texts[i] for i in idx], gt.labels[idx]
    if sup.boost > 1:
        members = [f, *(factories[m] for m in sup.cycle)]
        key = keys.supervisor(f, sub_seed, texts, labels, boost=(sup.boost, [(m.key, m.settings) for m in members]))
        out = store.stage(key, lambda: boosted(members, sub_seed, texts, labels, w2s.texts, sup.boost))
        return out["w2s"], key
    key = keys.supervisor(f, sub_seed, texts, labels)
    out = store.stage(key, lambda: fit_predict(f, sub_seed, texts, one_hot(labels), "xent", {}, {"w2s": w2s.texts}))
    return out["w2s"], key


def lm_pretrained(strong: ModelFactory, cfg: ExperimentConfig, splits: Splits, seed: int, store: Store) -> ModelFactory:
    """The strong model after generative fine-tuning (`models.lmtune`) on the unlabelled inputs of
    train_w2s and test, a cached stage keyed by its weights, settings, seed and those texts (no
    label); unchanged when ``lm_pretrain`` is off or the strong model is not fine-tuned."""
    if not cfg.lm_pretrain.enabled or not strong.finetune:
        return strong
    texts = _flat([*splits.train_w2s.texts, *splits.test.texts])
    key = fingerprint(
        "lm_pretrain",
        STAGE_VERSIONS["lm_pretrain"],
        superalign.__version__,
        strong.key,
        cfg.lm_pretrain.key(),
        seed,
        texts,
    )
    folder = store.checkpoint_dir(key) / "model"

    def compute() -> dict[str, np.ndarray]:
        from ..models.lmtune import lm_pretrain  # imports torch

        lm_pretrain(strong.source, texts, folder, cfg.lm_pretrain, seed)
        return {"n_texts": np.array(len(texts))}

    store.stage(key, compute)
    if not (folder / "config.json").exists():  # the stage is cached but its weights were removed
        compute()
    return strong.with_weights(str(folder), f"{strong.key}+lm:{key}")


def prefetch_features(weak: ModelFactory, strong: Sequence[ModelFactory], splits: Sequence[Splits]) -> None:
    """Encode, into the feature cache, every input each frozen encoder of the run will read, in
    one batched call per encoder: the weak model reads all four splits of every seed, the strong
    models (and chain rungs) all but ``train_gt``. One length-sorted pass fills fuller batches than
    a call per seed and split; the stages then find their features cached. No labels involved.

    A light weak encoder (static embeddings) encodes in a second process while this one loads and
    runs the strong ones (`models.background`): on a cold run its pass costs no wall time."""
    parts = {"weak": ("train_gt", "train_w2s", "val", "test"), "strong": ("train_w2s", "val", "test")}
    texts = {
        role: list(dict.fromkeys(t for s in splits for part in parts[role] for t in _flat(getattr(s, part).texts)))
        for role in parts
    }
    # a spelled model encodes normalised texts, in its own stages
    encoders = [f.encoder for f in strong if f.encoder is not None and f.spelling == "off"]
    weak_encoder = weak.encoder if weak.encoder is not None and weak.spelling == "off" else None
    beside = (
        weak_encoder is not None
        and background.worth_a_process(weak_encoder, texts["weak"])
        and any(e.count_missing(texts["strong"]) >= background.MIN_MISSES for e in encoders)  # a long pass here
    )
    with background.encoding_beside(weak_encoder, texts["weak"]) if beside else nullcontext():
        for encoder in encoders:
            encoder.encode(texts["strong"])
    if weak_encoder is not None:
        weak_encoder.encode(texts["weak"])  # cache hits once a second process has filled them


def _flat(inputs: Sequence) -> list[str]:
    """Texts, or both sides of (A, B) pairs."""
    return [t for x in inputs for t in (x if isinstance(x, (tuple, list)) else [x])]
