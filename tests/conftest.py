"""Shared fixtures: a tiny sample world, the real embedder spec, and ONE real vLLM engine
per test session (held here so every end-to-end test reuses it)."""
from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The real datasets sit beside the repository (../shared/data); HINTQ_SHARED_DATA points elsewhere.
SHARED_DATA = Path(os.environ.get("HINTQ_SHARED_DATA", REPO.parent / "shared" / "data"))
TINY_DAY = "2026-11-01"

os.environ.setdefault("HINTQ_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
sys.path.insert(0, str(REPO))
_KEEP_ALIVE: list = []


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """20 shoppers, 400 items, 2 days, every kind of bad row, a 3,000-event bot."""
    from datasets.sample_world import write_world

    root = tmp_path_factory.mktemp("tiny_world")
    write_world(root, dt.date.fromisoformat(TINY_DAY), days=2, n_users=20, seed=11, n_items=400,
                bad_share=0.01, bot_events=3000)
    return root


@pytest.fixture(scope="session")
def embedder_spec():
    from pipelines.core.config import PACKAGED_EMBEDDER
    from pipelines.engines.embedder import EmbedderSpec
    from pipelines.engines.model_store import resolve_embedder

    m = resolve_embedder(PACKAGED_EMBEDDER)
    return EmbedderSpec(m.name, m.path, m.revision, batch_size=64)


@pytest.fixture(scope="session")
def real_generator():
    """The real default model, converted once, with one engine kept alive for the session."""
    from pipelines.core.config import HintQConfig
    from pipelines.engines.generator import VllmGeneratorSpec, engine_holder

    spec = VllmGeneratorSpec.for_config(HintQConfig())
    holder = engine_holder(spec)
    _KEEP_ALIVE.append(holder)  # the pipelines' DoFns acquire this same engine by its tag
    return spec


def wait_for(condition, timeout_s: float = 10.0) -> bool:
    """Polls `condition` until it holds or `timeout_s` passes; returns whether it held
    (for what another thread does: no fixed sleep to be too short on a slow machine)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return bool(condition())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, data_dir, *extra: str):
    """Starts Debian's redis-server on loopback and waits until it answers."""
    import shutil
    import subprocess
    import time

    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: `make test` installs it (apt-get install redis-server)")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--dir", str(data_dir), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return proc
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"redis-server did not start on port {port}")


@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server (Debian package) on a free loopback port, for one test."""
    port = free_port()
    proc = start_redis(port, tmp_path, "--appendonly", "no")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory) -> Path:
    """A random-weight Llama small enough to train in seconds, with the packaged model's
    tokenizer and chat template: the fine-tuning code path at toy size."""
    import shutil

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from pipelines.core.config import PACKAGED_GENERATOR
    from pipelines.engines.finetune import TOKENIZER_FILES
    from pipelines.engines.model_store import resolve_generator

    packaged = Path(resolve_generator(PACKAGED_GENERATOR).path)
    out = tmp_path_factory.mktemp("tiny_base")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, tie_word_embeddings=True,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2, max_position_embeddings=2048)
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (packaged / name).exists():
            shutil.copyfile(packaged / name, out / name)
    return out
