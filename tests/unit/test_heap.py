"""The engines hand back the memory each batch freed (pipelines/engines/heap.py); what that
saves is measured in benchmarks/embedding_memory.py, never asserted here."""
import ctypes.util
import gc
import time
import weakref
from types import SimpleNamespace

import numpy as np
import pytest

from pipelines.core.records import Prompt
from pipelines.engines import embedder, generator, heap
from tests.conftest import wait_for


def _counting(monkeypatch, module, events: list):
    monkeypatch.setattr(module, "release_freed_memory", lambda: events.append("released") or True)


def test_each_embedding_batch_hands_back_what_it_freed(monkeypatch):
    events = []
    _counting(monkeypatch, embedder, events)

    class Model:
        def get_embedding_dimension(self):
            return 4

        def preprocess(self, texts):
            return {"attention_mask": np.ones((len(texts), 3), dtype="int64")}  # one token length

        def encode(self, texts, **_):
            events.append(f"encoded {len(texts)}")
            return np.ones((len(texts), 4), dtype="float64")

    spec = embedder.EmbedderSpec("fake", "/nowhere", "r", batch_size=2)
    rows = spec.encode(Model(), ["a", "b", "c"])
    spec.encode(Model(), ["d"])
    assert rows.dtype == np.float32 and rows.shape == (3, 4)
    # each call: one forward pass of FORWARD_ROWS (its texts made up with repeats), then one hand-back
    rows_a_pass = embedder.FORWARD_ROWS
    assert events == [f"encoded {rows_a_pass}", "released", f"encoded {rows_a_pass}", "released"]


def test_each_generation_batch_hands_back_what_it_freed(monkeypatch):
    events = []
    _counting(monkeypatch, generator, events)

    class LLM:
        def reset_prefix_cache(self):
            return True

        def generate(self, texts, sampling, use_tqdm):
            events.append(f"generated {len(texts)}")
            return [SimpleNamespace(prompt_token_ids=[1, 2], outputs=[SimpleNamespace(
                text='{"queries": []}', finish_reason="stop", token_ids=[3])]) for _ in texts]

    engine = generator._VllmEngine(LLM(), {"direct": object()})
    prompts = [Prompt(key=f"u{i}", task="direct", text="p", n_tokens=2, n_evidence=0, subject=None)
               for i in range(3)]
    assert [g.key for g in engine.generate(prompts)] == ["u0", "u1", "u2"]
    assert events == ["generated 3", "released"]


def test_without_glibc_nothing_is_trimmed(monkeypatch):
    heap._malloc_trim.cache_clear()
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    try:
        assert heap.release_freed_memory() is False
    finally:
        heap._malloc_trim.cache_clear()


def test_trimming_takes_at_most_its_share_of_the_time(monkeypatch):
    """A trim that took 0.1 s is skipped for the next 0.1 / TRIM_TIME_SHARE seconds."""
    now, calls = [100.0], []

    def trim(pad):
        calls.append(now[0])
        now[0] += 0.1  # the heap walk
        return 1

    monkeypatch.setattr(heap, "_malloc_trim", lambda: trim)
    monkeypatch.setattr(heap, "_clock", lambda: now[0])
    monkeypatch.setattr(heap, "_next_trim_at", [0.0])
    wait = 0.1 / heap.TRIM_TIME_SHARE
    assert heap.release_freed_memory() is True
    now[0] += wait - 0.2  # before the share allows another
    assert heap.release_freed_memory() is False
    now[0] += 0.2
    assert heap.release_freed_memory() is True
    assert calls == [100.0, 100.0 + 0.1 + wait]


def test_freed_memory_is_released_periodically_while_in_with_and_not_after(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "release_freed_memory", lambda: calls.append(time.monotonic()) or True)
    with heap.ReleasingFreedMemory(every_s=0.01) as releasing:
        assert wait_for(lambda: len(calls) >= 3)
    assert not releasing._thread.is_alive()
    after = len(calls)
    time.sleep(0.05)
    assert len(calls) == after


class _Node:
    pass


def test_while_collecting_less_the_process_so_far_is_frozen_and_young_collections_are_rarer():
    before = gc.get_threshold()
    with heap.CollectingLess():
        assert gc.get_threshold() == (heap.YOUNG_COLLECTION_EVERY, *before[1:])
        assert gc.get_freeze_count() > 0  # what the process held at the start is left alone
        node = _Node()
        node.itself = node  # garbage made while in `with`: a reference cycle, still collected
        gone = weakref.ref(node)
        del node
        gc.collect()
        assert gone() is None
    # after: the collector as it was, nothing frozen (the pipeline's graph, garbage now, is collected)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_collecting_less_gives_the_collector_back_when_the_pipeline_fails():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with heap.CollectingLess():
            raise RuntimeError("a stage failed")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
