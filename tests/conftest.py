import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from superalign import assets
from superalign.data import SplitSizes
from superalign.store import Store
from superalign.w2s import ExperimentConfig

# No hub access here: fail fast instead of retrying (the hub code path is tested with local folders).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SMALL = SplitSizes(train_gt=300, train_w2s=400, val=50, test=300)


REQUIRE = "SUPERALIGN_REQUIRE_SHARED"  # set (=1) by .ci/run: missing shared data or assets fail, not skip


def skip_unless_required(reason: str) -> None:
    """Skip the test for a missing input, or fail it when the environment says inputs are required."""
    if os.environ.get(REQUIRE, "") not in ("", "0"):
        pytest.fail(f"{reason} ({REQUIRE} is set)")
    pytest.skip(reason)


def require_assets(*names: str) -> None:
    missing = [n for n in names if not assets.get(n).ready]
    if missing:
        skip_unless_required(f"assets {missing} not fetched (run: superalign assets fetch)")


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "runs")


@pytest.fixture
def small_cfg():
    """Real sentiment data, fast models (tfidf -> static), small splits, 2 seeds."""
    require_assets("vader", "static")
    return ExperimentConfig(weak="tfidf", strong="static", seeds=[0, 1], sizes=SMALL, n_bootstrap=200)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def shared_data_dir():
    """The project's shared real data (env SUPERALIGN_DATA, else <repo>/../shared/data), or None."""
    from pathlib import Path

    env = os.environ.get("SUPERALIGN_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return path if (path / "SOURCES.md").exists() else None


def require_shared():
    """The shared real data folder; skips the test without it (fails it under SUPERALIGN_REQUIRE_SHARED)."""
    path = shared_data_dir()
    if path is None:
        skip_unless_required("shared real data not found (set SUPERALIGN_DATA or place it at <repo>/../shared/data)")
    return path


@pytest.fixture
def shared_data():
    return require_shared()


@pytest.fixture
def one_torch_thread():
    """Tiny torch models on a shared 2-core box: one thread avoids OpenMP oversubscription stalls."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Folders of a tiny random BERT (encoder) and GPT-2 (causal LM) with MiniLM's tokenizer,
    built offline from configs: fine-tuning tests run in about a second each."""
    require_assets("minilm")
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel, GPT2Config, GPT2Model

    tok = AutoTokenizer.from_pretrained(assets.require("minilm"))
    root = tmp_path_factory.mktemp("tiny_models")
    torch.manual_seed(0)
    models = {
        "bert": BertModel(
            BertConfig(
                vocab_size=tok.vocab_size,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=64,
                max_position_embeddings=64,
            )
        ),
        "gpt2": GPT2Model(
            GPT2Config(
                vocab_size=tok.vocab_size,
                n_embd=32,
                n_layer=2,
                n_head=2,
                n_positions=64,
                bos_token_id=tok.cls_token_id,
                eos_token_id=tok.sep_token_id,
            )
        ),
    }
    for name, model in models.items():
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
    return {name: str(root / name) for name in models}


def tiny_causal_lm(folder, layers: int = 2, seed: int = 0, arch: str = "llama", eos_is_sep: bool = False):
    """Save a random causal LM (Llama, or GPT-2 with absolute positions) with the MiniLM tokenizer in
    `folder` and return it: tiny, offline, fast. `eos_is_sep` names [SEP] as the tokenizer's EOS (SFT needs one)."""
    require_assets("minilm")
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(assets.require("minilm")))
    if eos_is_sep:
        tok.eos_token = tok.sep_token
    torch.manual_seed(seed)
    ids = dict(vocab_size=len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.sep_token_id)
    if arch == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=layers, n_head=2, n_positions=256, **ids))
    else:
        cfg = LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            **ids,
        )
        model = LlamaForCausalLM(cfg)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


# --- a scripted OpenAI-compatible server on 127.0.0.1 (the HTTP LLM and policy tests) -----------------

OK = {"choices": [{"message": {"role": "assistant", "content": "hello there"}}]}


class Script(BaseHTTPRequestHandler):
    """Answers each POST with the next scripted (status, body, delay, headers); records requests."""

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        sent = json.loads(self.rfile.read(n))
        self.server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": sent})
        default = (200, getattr(self.server, "default", OK), 0, {})
        status, body, delay, headers = self.server.script.pop(0) if self.server.script else default
        time.sleep(delay)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Script)
    srv.script, srv.requests = [], []
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
