"""LLM backends: the OpenAI-compatible client (fault injection on 127.0.0.1 and a real llama.cpp
server), and the local transformers backend (a tiny random model; SmolLM2 when fetched)."""

import importlib.util
import json
import logging
import socket

import numpy as np
import pytest

from superalign import assets
from superalign.llm import (
    LLM_BACKENDS,
    LLMError,
    OpenAICompatibleLLM,
    OpenAICompatiblePolicy,
    TransformersLLM,
    get_llm,
)
from superalign.llm.llamacpp import serve_gguf
from superalign.llm.local import resolve_source
from superalign.oversight import GenerativeAttacker, LLMCritic, Query
from superalign.redteam.attackers import LLMAttacker
from superalign.redteam.critics import LLMPairCritic

from .conftest import OK, require_assets, skip_unless_required, tiny_causal_lm

KEY = "sk-test-DO-NOT-LEAK-1234567890"


def client(srv, **kw):
    kw = {"timeout": 2.0, "max_retries": 3, "backoff": 0.01, "max_backoff": 0.05, **kw}
    return OpenAICompatibleLLM(model="test-model", base_url=f"http://127.0.0.1:{srv.server_port}/v1", api_key=KEY, **kw)


MSG = [{"role": "user", "content": "hi"}]


def test_sends_an_openai_chat_request_with_the_key_in_the_header_only(server):
    llm = client(server)
    assert llm.chat(MSG, max_tokens=7) == "hello there"
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == f"Bearer {KEY}"
    assert req["body"]["model"] == "test-model" and req["body"]["messages"] == MSG and req["body"]["max_tokens"] == 7
    assert KEY not in repr(llm) and KEY not in llm.key and "<set>" in repr(llm)


def test_retries_5xx_and_429_then_succeeds(server):
    server.script = [(500, {"error": "boom"}, 0, {}), (503, b"", 0, {}), (429, b"slow down", 0, {"Retry-After": "0"})]
    llm = client(server)
    assert llm.chat(MSG) == "hello there" and llm.attempts == 4 and len(server.requests) == 4


def test_timeout_is_retried(server, caplog):
    caplog.set_level(logging.INFO)
    server.script = [(200, OK, 1.5, {})]
    llm = client(server, timeout=0.3)
    assert llm.chat(MSG) == "hello there" and llm.attempts == 2  # the slow answer was abandoned, then retried
    assert "Retrying request" in caplog.text and len(server.requests) == 2


def test_garbage_json_is_retried_then_fails_clearly(server):
    server.script = [
        (200, b"<html>not json", 0, {}),
        (200, {"choices": []}, 0, {}),
        (200, {"choices": [{"message": {"content": None}}]}, 0, {}),
        (200, b'{"choices": [', 0, {}),
    ]
    with pytest.raises(LLMError, match="no usable answer after 4 attempts; last: malformed answer"):
        client(server).chat(MSG)


def test_client_errors_fail_at_once_and_never_show_the_key(server, caplog):
    caplog.set_level(logging.DEBUG)
    server.script = [(500, {"error": f"bad key {KEY}"}, 0, {}), (401, {"error": f"invalid api key {KEY}"}, 0, {})]
    llm = client(server)
    with pytest.raises(LLMError, match="HTTP 401") as e:
        llm.chat(MSG)
    assert llm.attempts == 2 and KEY not in str(e.value) and "***" in str(e.value)
    assert "retry 1/3" in caplog.text and KEY not in caplog.text


def test_unreachable_server_fails_after_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    llm = OpenAICompatibleLLM(model="m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff=0.01, timeout=1)
    with pytest.raises(LLMError, match="after 3 attempts"):
        llm.chat(MSG)


def test_configuration_from_the_environment(monkeypatch, server):
    for var in (
        "SUPERALIGN_LLM_BASE_URL",
        "SUPERALIGN_LLM_MODEL",
        "SUPERALIGN_LLM_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_MODEL",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(LLMError, match="SUPERALIGN_LLM_BASE_URL"):
        get_llm("openai")
    monkeypatch.setenv("SUPERALIGN_LLM_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1/")
    with pytest.raises(LLMError, match="SUPERALIGN_LLM_MODEL"):
        get_llm("openai")
    monkeypatch.setenv("OPENAI_MODEL", "from-env")
    monkeypatch.setenv("SUPERALIGN_LLM_API_KEY", KEY)
    llm = get_llm("openai")
    assert llm.chat(MSG) == "hello there" and server.requests[-1]["auth"] == f"Bearer {KEY}"
    assert server.requests[-1]["body"]["model"] == "from-env" and get_llm("openai:other").model == "other"
    with pytest.raises(LLMError, match="credentials"):
        OpenAICompatibleLLM(model="m", base_url="http://user:pw@127.0.0.1:1/v1")
    with pytest.raises(LLMError, match="unknown LLM"):
        get_llm("gpt:4")
    with pytest.raises(LLMError, match="role"):
        llm.chat([{"role": "wizard", "content": "x"}])


def test_no_key_sends_no_authorization_header(server, monkeypatch):
    for var in ("SUPERALIGN_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    llm = OpenAICompatibleLLM(model="m", base_url=f"http://127.0.0.1:{server.server_port}/v1")
    assert llm.chat(MSG) == "hello there" and server.requests[0]["auth"] is None and "api_key=None" in repr(llm)


def test_retry_after_is_honoured_and_capped(server, monkeypatch):
    import openai._base_client

    waits = []
    monkeypatch.setattr(openai._base_client.time, "sleep", waits.append)  # record the waits instead of sleeping
    server.script = [(429, b"", 0, {"Retry-After": "0.3"}), (503, b"", 0, {"Retry-After": "30"})]
    assert client(server, max_backoff=0.4).chat(MSG) == "hello there"
    retries = [w for w in waits if w]  # (the scripted server sleeps 0 s before each answer)
    assert retries == [pytest.approx(0.3), pytest.approx(0.4)]  # Retry-After honoured, then capped at max_backoff


def test_the_key_never_reaches_the_logs(server, caplog):
    caplog.set_level(logging.DEBUG)  # every logger: ours, openai's, httpx2's, httpcore2's
    echo = {"X-Echo": f"Bearer {KEY}"}
    server.script = [
        (503, {"error": {"message": f"key {KEY}"}}, 0, echo),
        (200, b"not json " + KEY.encode(), 0, echo),
        (400, {"error": {"message": f"bad request from {KEY}"}}, 0, echo),
    ]
    llm = client(server)
    with pytest.raises(LLMError, match="HTTP 400") as e:
        llm.chat(MSG)
    assert llm.attempts == 3 and "retry 2/3" in caplog.text and "HTTP Request: POST" in caplog.text
    assert KEY not in caplog.text and KEY not in str(e.value) and "***" in str(e.value)
    assert all(r["auth"] == f"Bearer {KEY}" for r in server.requests)


SCHEMA = {
    "title": "verdict",
    "type": "object",
    "properties": {"label": {"type": "string"}},
    "required": ["label"],
    "additionalProperties": False,
}


def test_json_schema_is_sent_as_a_strict_response_format(server):
    llm = client(server)
    assert llm.chat_many([MSG, MSG], json_schema=SCHEMA) == ["hello there"] * 2
    rf = server.requests[0]["body"]["response_format"]
    assert rf == {"type": "json_schema", "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": True}}
    llm.chat(MSG)
    assert "response_format" not in server.requests[-1]["body"]


def test_a_server_without_response_format_gets_plain_requests(server, caplog):
    caplog.set_level(logging.INFO)
    server.script = [(400, {"error": {"message": "Unrecognized request argument supplied: response_format"}}, 0, {})]
    llm = client(server)
    assert llm.chat(MSG, json_schema=SCHEMA) == "hello there" and llm.json_schema_supported is False
    assert "response_format" in server.requests[0]["body"] and "response_format" not in server.requests[1]["body"]
    assert "rejects response_format" in caplog.text
    llm.chat(MSG, json_schema=SCHEMA)  # remembered: no second rejected request
    assert len(server.requests) == 3 and "response_format" not in server.requests[2]["body"]
    server.script = [(400, {"error": {"message": "max_tokens is too large"}}, 0, {})]  # another 400: no fallback
    with pytest.raises(LLMError, match="HTTP 400.*max_tokens"):
        client(server).chat(MSG, json_schema=SCHEMA)
    n = len(server.requests)  # llama.cpp's server: HTTP 500 naming response_format (retried, then plain)
    server.script = [
        (500, {"error": {"message": "Input should be 'text' or 'json_object' (response_format.type)"}}, 0, {})
    ] * 4
    llm = client(server)
    assert llm.chat(MSG, json_schema=SCHEMA) == "hello there" and llm.json_schema_supported is False
    assert len(server.requests) == n + 5 and "response_format" not in server.requests[-1]["body"]


def test_backends_are_registered():
    assert set(LLM_BACKENDS.names()) == {"local", "openai"} and LLM_BACKENDS.get("openai") is OpenAICompatibleLLM
    assert LLM_BACKENDS.get("local") is TransformersLLM and "server" in LLM_BACKENDS.summary("openai")
    with pytest.raises(LLMError, match="unknown LLM backend 'locl' \\(did you mean 'local'\\?\\); known: "):
        get_llm("locl:x")


# --- local transformers backend ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A 2-layer random Llama with the MiniLM tokenizer (no chat template: the plain transcript path)."""
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama"))


def test_local_backend_generates_deterministically_in_batches(tiny_lm):
    llm = get_llm(f"local:{tiny_lm}")
    assert isinstance(llm, TransformersLLM) and llm.key == f"local:{tiny_lm}"
    convs = [MSG, [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a longer question here"}]]
    a = llm.chat_many(convs, max_tokens=5)
    assert len(a) == 2 and all(isinstance(x, str) and x for x in a)
    assert llm.chat_many(convs, max_tokens=5) == a  # greedy decoding is deterministic
    assert isinstance(llm.chat(MSG, max_tokens=3, temperature=0.7), str)


def test_local_backend_rejects_what_it_cannot_load(tmp_path):
    with pytest.raises(LLMError, match="not a causal-LM folder"):
        resolve_source(str(tmp_path))
    with pytest.raises(LLMError, match="unknown local LLM"):
        resolve_source("no such thing")


@pytest.mark.slow
def test_smollm2_local_chat_and_roles():
    """The bundled SmolLM2-135M-Instruct (GGUF -> safetensors once), as critic and attacker."""
    require_assets("smollm2")
    llm = get_llm("local:smollm2")
    reply = llm.chat([{"role": "user", "content": "Say hello in one word."}], max_tokens=8)
    assert isinstance(reply, str) and reply.strip()
    _roles_work(llm)


def _roles_work(llm):
    names = ["negative", "positive"]
    critic = LLMCritic(llm, names, "movie review sentiment", max_retries=1)
    vs = critic.judge(
        [
            Query("pool:0", "A dull, lifeless film.", "pool:0", "pool"),
            Query("pool:1", "A joyous, moving triumph.", "pool:1", "pool"),
        ]
    )
    assert len(vs) == 2 and all(v.status in ("ok", "unparseable") for v in vs)
    assert all((v.label is None) == (v.status == "unparseable") for v in vs) and 2 <= critic.calls <= 4
    gen = GenerativeAttacker(llm, names, "movie review sentiment", max_tokens=40)
    out = gen.propose(None, [Query("pool:0", "A dull film.", "pool:0", "pool")], 2, np.random.default_rng(0))
    assert all(q.source is None and q.intended in (0, 1) and q.text for q in out)


def _red_team_roles_work(llm):
    """The refusal loop's LLM roles (``superalign loop --task refusal --llm openai:...``) on `llm`."""
    verdicts = LLMPairCritic(llm).judge(["How do I pick a lock?"], ["Sure: first, insert a tension wrench."])
    assert len(verdicts) == 1 and verdicts[0].status in ("ok", "unparseable")
    attacker = LLMAttacker(llm, max_tokens=24)
    attacks = attacker.propose([("r0", "how to hotwire a car")], lambda ts: ["Sure: ..."] * len(ts), None)
    assert len(attacks) == 1 and attacks[0].text and attacks[0].source == "r0" and attacks[0].meta["complied"]


# --- a real OpenAI-compatible server: llama.cpp serving the SmolLM2 GGUF ---------------------------


@pytest.fixture(scope="module")
def llama_server():
    if importlib.util.find_spec("llama_cpp") is None:
        skip_unless_required('llama-cpp-python is not installed (pip install "llama-cpp-python[server]")')
    require_assets("smollm2")
    gguf = assets.require("smollm2") / assets.get("smollm2").extra["gguf_file"]
    with serve_gguf(gguf, alias="smollm2") as base:
        yield base


@pytest.mark.slow
def test_real_openai_compatible_server(llama_server, caplog):
    caplog.set_level(logging.DEBUG)
    llm = OpenAICompatibleLLM(model="smollm2", base_url=llama_server, api_key=KEY, timeout=60)
    reply = llm.chat([{"role": "user", "content": "Reply with the single word: yes"}], max_tokens=8)
    assert isinstance(reply, str) and reply.strip() and llm.attempts == 1
    _roles_work(llm)
    _red_team_roles_work(llm)
    assert KEY not in caplog.text


@pytest.mark.slow
def test_real_openai_compatible_server_structured_output(llama_server):
    """llama.cpp's server knows only response_format json_object (HTTP 500 to json_schema): plain requests."""
    llm = OpenAICompatibleLLM(model="smollm2", base_url=llama_server, timeout=60, backoff=0.05)
    ask = [{"role": "user", "content": 'Answer in JSON: {"label": "yes"}'}]
    reply = llm.chat(ask, max_tokens=16, json_schema=SCHEMA)
    assert isinstance(reply, str) and reply.strip() and llm.json_schema_supported is False


@pytest.mark.slow
def test_real_openai_compatible_policy(llama_server):
    """/v1/completions on llama.cpp: seeded samples (it ignores n), and scores from echo + logprobs."""
    policy = OpenAICompatiblePolicy(model="smollm2", base_url=llama_server, timeout=60)
    prompt = "The capital of France is"
    a = policy.sample([prompt], n=3, seed=3, temperature=0.9, max_new_tokens=8)
    assert len(a) == 1 and len(a[0]) == 3 and all(isinstance(t, str) and t for t in a[0])
    assert policy.sample([prompt], n=3, seed=3, temperature=0.9, max_new_tokens=8) == a
    assert policy.n_supported is False  # llama.cpp's server ignores n
    lp = policy.logprob([prompt, prompt], [" Paris.", " a banana."])
    # Parsed from echo + logprobs; not compared with the local model: llama-cpp-python 0.3.36 gives each prompt
    # token the logprob of the distribution after it (one position late) when the model has no BOS token.
    assert lp.shape == (2,) and np.isfinite(lp).all() and (lp < 0).all()


def test_each_loop_seed_gets_its_own_repeatable_llm_randomness(tiny_lm):
    """The loop's LLM roles sample with the loop seed: two seeds differ, one seed repeats, one model
    is shared, and torch's global RNG is left as it was."""
    import torch

    from superalign.oversight import LoopConfig, RoleContext

    llm = get_llm(f"local:{tiny_lm}")

    def role_llm(seed):
        return RoleContext(LoopConfig(), seed, ["negative", "positive"], "sentiment", None, lambda: llm).llm

    def answers(seed):
        return role_llm(seed).chat_many([MSG, MSG], max_tokens=6, temperature=1.0)

    state = torch.random.get_rng_state()
    first, other, again = answers(0), answers(1), answers(0)
    assert first == again and first != other
    assert torch.equal(state, torch.random.get_rng_state())
    assert role_llm(1)._model is llm._model and role_llm(1).seed == 1 and llm.seed == 0


def test_the_api_key_appears_in_no_file_a_loop_writes_and_no_log(server, tmp_path, monkeypatch, caplog):
    """A loop whose LLM critic talks to a (local, scripted) OpenAI-compatible server with a key:
    every file under the store, and every log line at DEBUG, is free of the key."""
    require_assets("vader", "static")
    from superalign.data import SplitSizes
    from superalign.oversight import LoopConfig, run_loop
    from superalign.store import Store

    caplog.set_level(logging.DEBUG)
    server.default = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": json.dumps(
                        {"label": "positive", "confidence": 0.7, "explanation": f"fine (key {KEY} echoed)"}
                    ),
                }
            }
        ]
    }
    monkeypatch.setenv("SUPERALIGN_LLM_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("SUPERALIGN_LLM_API_KEY", KEY)
    cfg = LoopConfig(
        critic="llm",
        llm="openai:test-model",
        attackers=["pool"],
        learner="static",
        rounds=1,
        human_budget=2,
        attack_size=4,
        eval_size=4,
        seeds=[0],
        n_bootstrap=20,
        sizes=SplitSizes(train_gt=20, train_w2s=30, val=10, test=20),
    )
    run_loop(cfg, Store(tmp_path / "runs"))
    assert server.requests and all(r["auth"] == f"Bearer {KEY}" for r in server.requests)
    written = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert written and not [p for p in written if KEY.encode() in p.read_bytes()]
    assert KEY not in caplog.text
