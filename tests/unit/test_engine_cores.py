"""Engines of a multi-process run take separate cores (HINTQ_ENGINE_CORES)."""
import fcntl
import os

import pytest

from pipelines.engines import generator


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setattr(generator, "_CLAIMED_CORES", [])
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    return tmp_path


def _hold(folder, cores: str) -> int:
    fd = os.open(folder / f"{cores}.lock", os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_an_engine_takes_the_first_core_list_no_other_engine_holds(fresh, monkeypatch):
    monkeypatch.setenv(generator.ENGINE_CORES_ENV, "0|1")
    other = _hold(fresh, "0")  # another worker process's engine
    try:
        assert generator.claim_engine_cores(str(fresh)) == "1"
        assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "1"
        assert generator.claim_engine_cores(str(fresh)) == "1", "a process claims once"
    finally:
        os.close(other)


def test_no_setting_changes_nothing_and_too_few_lists_is_an_error(fresh, monkeypatch):
    monkeypatch.delenv(generator.ENGINE_CORES_ENV, raising=False)
    assert generator.claim_engine_cores(str(fresh)) is None and "VLLM_CPU_OMP_THREADS_BIND" not in os.environ
    monkeypatch.setenv(generator.ENGINE_CORES_ENV, "0")
    other = _hold(fresh, "0")
    try:
        with pytest.raises(RuntimeError, match="every core list is held"):
            generator.claim_engine_cores(str(fresh))
    finally:
        os.close(other)
