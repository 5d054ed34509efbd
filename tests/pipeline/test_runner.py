"""`--runner=DirectRunner` runs a job's pipeline on the FnApiRunner, never on Prism."""
from __future__ import annotations

import gc
import tempfile
import threading
import time

import apache_beam as beam
import pytest
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, TypeOptions
from apache_beam.runners.portability import prism_runner
from apache_beam.runners.worker import statesampler
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.counters import CounterFactory

from jobs.runner import EmbeddedRunner, UnsampledStates, job_pipeline, run_job
from pipelines.engines import heap
from tests.conftest import wait_for


@pytest.fixture(autouse=True)
def temp_folder_in_tmp_path(monkeypatch, tmp_path):
    """A pipeline built here and never run keeps its `beam-pipeline-temp*` folder (Beam
    removes it in run()): in tmp_path, not in the machine's /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def prism_tries(monkeypatch, tmp_path):
    """Records every try of Prism (Beam's DirectRunner swallows its failure) and points the
    temp folder at tmp_path, where a try would leave its `beam-temp*` directory."""
    tries = []

    def offline(self, pipeline, options):
        tries.append(pipeline)
        raise RuntimeError("no network")

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", offline)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tries


def _squares(p: beam.Pipeline) -> None:
    assert_that(p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x * x), equal_to([1, 4, 9]))


@pytest.mark.parametrize("argv", [[], ["--runner=DirectRunner"], ["--runner=directrunner"],
                                  ["--direct_num_workers=2", "--direct_running_mode=multi_threading"]])
def test_a_direct_runner_job_runs_on_the_fnapi_runner_without_trying_prism(argv, prism_tries, tmp_path):
    p = job_pipeline(PipelineOptions(argv))
    assert isinstance(p.runner, EmbeddedRunner)
    _squares(p)
    run_job(p).wait_until_finish()
    assert prism_tries == []
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the temp folder


def test_a_job_is_run_without_the_runner_api_round_trip(monkeypatch):
    """Beam's run() would copy the graph through its proto first for a runner it does not
    know by name; the DirectRunner never did, and neither does run_job."""
    round_trips = []
    real = beam.Pipeline.from_runner_api
    monkeypatch.setattr(beam.Pipeline, "from_runner_api",
                        staticmethod(lambda *a, **k: round_trips.append(1) or real(*a, **k)))
    p = job_pipeline(PipelineOptions([]))
    _squares(p)
    run_job(p).wait_until_finish()
    assert round_trips == []
    p = job_pipeline(PipelineOptions([]))
    _squares(p)
    p.run().wait_until_finish()  # what run_job avoids
    assert round_trips == [1]


def test_beams_own_direct_runner_does_try_prism(prism_tries, tmp_path):
    """What the EmbeddedRunner avoids: the fixture does see Beam's DirectRunner try Prism."""
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    _squares(p)
    p.run().wait_until_finish()
    assert len(prism_tries) == 1


def test_a_named_runner_is_left_to_beam():
    assert not isinstance(job_pipeline(PipelineOptions(["--runner=PrismRunner"])).runner, EmbeddedRunner)


def test_stage_tests_run_on_the_jobs_runner():
    assert isinstance(TestPipeline().runner, EmbeddedRunner)


def test_other_runners_keep_beams_own_choice_of_round_trip(monkeypatch):
    asked = []
    monkeypatch.setattr(beam.Pipeline, "run", lambda self, test_runner_api="AUTO": asked.append(test_runner_api))
    run_job(job_pipeline(PipelineOptions(["--runner=BundleBasedDirectRunner"])))
    run_job(job_pipeline(PipelineOptions([])))
    assert asked == ["AUTO", False]


# The releases the test below counts. A module-level list read by a module-level function:
# Beam pickles a nested function with a copy of what it closes over, taken when the graph
# is written, so a closure saw only the releases made before that (a race the faster graph
# writing of pipelines/beam/introspection.py lost); this module's functions are pickled by
# reference and see this list itself.
_RELEASES: list[int] = []


def _waits_for_a_release(x):
    return x, wait_for(lambda: bool(_RELEASES))


def test_the_embedded_runner_hands_freed_memory_back_while_its_stages_run(monkeypatch):
    """The runner frees each stage's input and output in its own code; a thread releases
    what the heap kept while the pipeline runs (pipelines/engines/heap.py), and stops after."""
    _RELEASES.clear()
    monkeypatch.setattr(heap, "release_freed_memory", lambda: _RELEASES.append(1) or True)
    monkeypatch.setattr(heap, "RELEASE_EVERY_S", 0.01)

    p = job_pipeline(PipelineOptions([]))
    assert_that(p | beam.Create([1]) | beam.Map(_waits_for_a_release), equal_to([(1, True)]))
    run_job(p).wait_until_finish()
    after = len(_RELEASES)
    time.sleep(0.05)
    assert after and len(_RELEASES) == after


def test_the_embedded_runner_runs_its_stages_with_the_collector_collecting_less():
    """While the stages run, the collector leaves the process's heap so far alone and
    collects the young generation less often (pipelines/engines/heap.py); after, as before."""
    before = gc.get_threshold()

    def collector(x):
        return x, gc.get_threshold()[0], gc.get_freeze_count() > 0

    p = job_pipeline(PipelineOptions([]))
    assert_that(p | beam.Create([1]) | beam.Map(collector), equal_to([(1, heap.YOUNG_COLLECTION_EVERY, True)]))
    run_job(p).wait_until_finish()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_jobs_graph_is_built_without_beams_type_check():
    """Construction-time checks of declared type hints: a job skips them (jobs/runner.py);
    a stage's test pipeline keeps them."""
    assert job_pipeline(PipelineOptions([])).options.view_as(TypeOptions).pipeline_type_check is False
    assert TestPipeline().options.view_as(TypeOptions).pipeline_type_check is True


def _tracker_and_counted(x):
    Metrics.counter("test_runner", "seen").inc(x)
    tracker = statesampler.get_current_tracker()
    return type(tracker).__name__, tracker.started, tracker.finished


def test_a_jobs_stages_track_their_steps_without_a_sampling_thread():
    """Each bundle's state sampler tracks the step that runs (Beam's counters are found by
    it) but starts no thread that a bundle's end would wait for (jobs/runner.py)."""
    p = job_pipeline(PipelineOptions([]))
    assert_that(p | beam.Create([1, 2, 3]) | beam.Map(_tracker_and_counted),
                equal_to([("UnsampledStates", True, False)] * 3))
    result = run_job(p)
    result.wait_until_finish()
    seen = result.metrics().query(MetricsFilter().with_name("seen"))["counters"]
    assert [c.committed for c in seen] == [6]
    sampler = UnsampledStates("test", CounterFactory())
    threads = threading.active_count()
    sampler.start()
    assert statesampler.get_current_tracker() is sampler and threading.active_count() == threads
    sampler.stop()
    assert statesampler.get_current_tracker() is None and sampler.finished
