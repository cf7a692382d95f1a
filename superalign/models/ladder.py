"""The model ladder: names (and local folders or hub ids) -> classifiers.

Built in, weakest to strongest: ``tfidf`` (trained from scratch), ``static`` (64-d static
embeddings), ``minilm`` (all-MiniLM-L6-v2), ``mpnet`` (all-mpnet-base-v2, ``assets fetch --large``),
``smollm2`` (SmolLM2-135M-Instruct, a causal LM, ``assets fetch --large``).
Off the ladder: ``profanity_check``, a pretrained offensive-language scorer used as shipped
(a weak supervisor nobody trains in the run; text tasks only).
Any other model argument is a local folder (sentence-transformers, plain transformers, or
model2vec format) or a Hugging Face hub id, probed with a head like the built-in encoders.

In ``mode: finetune`` the Hugging Face models (`hf_source`: minilm, mpnet, smollm2, folders, hub
ids) are fine-tuned instead; tfidf and static have no transformer to fine-tune and keep their
own classifier.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import assets
from ..errors import ModelError
from ..registry import unknown_name
from .classifiers import Classifier, ProfanityCheckClassifier, TfidfClassifier
from .encoders import Encoder, SentenceTransformerEncoder, StaticEncoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    rank: int  # position on the ladder, weakest first
    encoder: Callable[[], Encoder] | None  # None: not a frozen-encoder model
    classifier: Callable[[int], Classifier] | None = None  # seed -> classifier, for models without an encoder
    hf_asset: str | None = None  # asset holding a Hugging Face model folder (fine-tunable)


def _asset_encoder(asset: str, cls: type) -> Callable[[], Encoder]:
    def build() -> Encoder:
        a = assets.get(asset)
        return cls(str(assets.model_folder(asset)), key=f"{asset}@{a.sha256[0][:12]}")

    return build


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in [
        ModelSpec(
            "tfidf",
            "TF-IDF word 1-2 grams + logistic regression (scikit-learn)",
            0,
            None,
            lambda seed: TfidfClassifier(seed=seed),
        ),
        ModelSpec(
            "profanity_check",
            "pretrained offensive-language scorer (alt-profanity-check), used as shipped: fit does nothing",
            0,
            None,
            lambda seed: ProfanityCheckClassifier(seed=seed),
        ),
        ModelSpec(
            "static", "tokenlearn static embeddings, 64-d (model2vec)", 1, _asset_encoder("static", StaticEncoder)
        ),
        ModelSpec(
            "minilm",
            "all-MiniLM-L6-v2, 22.7M params, 384-d (sentence-transformers)",
            2,
            _asset_encoder("minilm", SentenceTransformerEncoder),
            hf_asset="minilm",
        ),
        ModelSpec(
            "mpnet",
            "all-mpnet-base-v2, 110M params, 768-d (sentence-transformers; fetch --large)",
            3,
            _asset_encoder("mpnet", SentenceTransformerEncoder),
            hf_asset="mpnet",
        ),
        ModelSpec(
            "smollm2",
            "SmolLM2-135M-Instruct, causal LM, 576-d (probe: mean hidden state; converted from GGUF once)",
            4,
            _asset_encoder("smollm2", SentenceTransformerEncoder),
            hf_asset="smollm2",
        ),
    ]
}


def _folder_key(folder: Path) -> str:
    """Identify a local model folder by its files' names, sizes and modification times."""
    h = hashlib.sha256(str(folder.resolve()).encode())
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return f"{folder.name}@{h.hexdigest()[:12]}"


def _is_static_folder(folder: Path) -> bool:
    cfg = folder / "config.json"
    if not (cfg.exists() and (folder / "tokenizer.json").exists()) or (folder / "modules.json").exists():
        return False
    try:
        conf = json.loads(cfg.read_text())  # transformers configs always name their model_type
        return not {"hidden_size", "model_type"} & set(conf) and (folder / "model.safetensors").exists()
    except json.JSONDecodeError:
        return False


def _locate(spec: str) -> tuple[str, str]:
    """Where a model argument points: ("ladder", name), ("static", folder) for a model2vec folder,
    ("folder", path) for a transformers / sentence-transformers folder, or ("hub", id)."""
    if spec in MODELS:
        return "ladder", spec
    path = Path(spec).expanduser()
    if path.is_dir():
        if _is_static_folder(path):
            return "static", str(path)
        if (path / "config.json").exists():
            return "folder", str(path)
        raise ModelError(f"{path} is not a model folder (no config.json)")
    if assets.is_hub_id(spec):
        return "hub", spec
    unknown = unknown_name("model", spec, list(MODELS), error=ModelError)
    raise ModelError(f"{unknown}; or a local folder, or a hub id (org/name)")


def encoder_for(spec: str) -> Encoder:
    """The raw (uncached) encoder for a ladder name, local folder or hub id."""
    kind, where = _locate(spec)
    if kind == "ladder":
        build = MODELS[spec].encoder
        if build is None:
            raise ModelError(f"model {spec!r} has no frozen encoder")
        return build()
    if kind == "static":
        return StaticEncoder(where, key=f"static:{_folder_key(Path(where))}")
    if kind == "folder":
        return SentenceTransformerEncoder(where, key=f"st:{_folder_key(Path(where))}")
    return SentenceTransformerEncoder(where, key=hub_key(where))


def hub_revision(repo_id: str) -> str | None:
    """The commit sha a hub model resolves to: asked of the hub when it is reachable, else read from
    the local Hugging Face cache (the snapshot ``main`` points at); None when neither knows it."""
    from huggingface_hub import HfApi, constants, try_to_load_from_cache

    if not constants.HF_HUB_OFFLINE:
        try:
            return HfApi().model_info(repo_id, timeout=10).sha
        except Exception as e:  # no network, no such repo, rate limit: fall back to the cache
            log.info("hub revision of %s unavailable (%s); trying the local cache", repo_id, type(e).__name__)
    cached = try_to_load_from_cache(repo_id, "config.json")
    return Path(cached).parent.name if isinstance(cached, str) else None


def hub_key(repo_id: str) -> str:
    """The cache identity of a hub model: its id pinned to the resolved commit (``hub:org/name@sha``),
    or the id alone, with a warning, when no revision can be resolved (then a new upload under the same
    id is not noticed)."""
    sha = hub_revision(repo_id)
    if sha is None:
        log.warning("hub model %s: no revision found (offline and not cached); keyed by its name only", repo_id)
        return f"hub:{repo_id}"
    return f"hub:{repo_id}@{sha}"


def classifier_builder(spec: str) -> Callable[[int], Classifier] | None:
    """seed -> classifier for the ladder models without a frozen encoder (tfidf, profanity_check)."""
    m = MODELS.get(spec)
    return m.classifier if m is not None and m.encoder is None else None


def hf_source(spec: str) -> tuple[str, str] | None:
    """(path or hub id, weights key) of a fine-tunable Hugging Face model; None for tfidf/static."""
    kind, where = _locate(spec)
    if kind == "ladder":
        asset = MODELS[spec].hf_asset
        if asset is None:
            return None
        return str(assets.model_folder(asset)), f"{asset}@{assets.get(asset).sha256[0][:12]}"
    if kind == "static":
        return None
    if kind == "folder":
        return where, f"hf:{_folder_key(Path(where))}"
    return where, hub_key(where)


def model_key(spec: str) -> str:
    """A stable identity of the model's weights, for cache keys."""
    build = classifier_builder(spec)
    return build(0).key if build is not None else encoder_for(spec).key
