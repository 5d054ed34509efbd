"""Which runner a job's pipeline gets: `--runner=DirectRunner` (the default) is Beam's
FnApiRunner on every machine.

Beam's DirectRunner (2.77) first tries Prism, a Go runner it downloads from GitHub at run
time, and runs the pipeline on the FnApiRunner only when that fails. Offline (this machine,
an air-gapped Airflow worker) it fails at once; on a machine that reaches GitHub the same
night would run on Prism instead: another runner (its own process, data plane and worker
handling), which none of HintQ's tests, re-run checks or measurements ran on. Every try
also leaves a `beam-temp*` directory in the temp folder. The jobs therefore take the
DirectRunner's FnApiRunner path directly and never try Prism; a night that wants Prism
names `--runner=PrismRunner`.
"""
from __future__ import annotations

import threading

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TypeOptions
from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner
from apache_beam.runners.runner import PipelineResult, PipelineState
from apache_beam.runners.worker import statesampler

from pipelines.beam.coders import use_records_coder
from pipelines.beam.introspection import remember_dofn_specs, remember_option_views, remember_signatures
from pipelines.engines.heap import CollectingLess, ReleasingFreedMemory

# The names Beam resolves (case aside) to its DirectRunner.
DIRECT_RUNNER_NAMES = ("directrunner", "direct", "switchingdirectrunner")


class EmbeddedRunner(SwitchingDirectRunner):
    """The DirectRunner's batch path without its try of Prism: the FnApiRunner, given the
    job's options as the DirectRunner gives them (its workers read them from the provision
    info), honouring `--direct_num_workers` and `--direct_running_mode`. While it runs,
    the memory its stages free is handed back to the machine, and the garbage collector
    passes over what the process held before it (pipelines/engines/heap.py)."""

    def run_pipeline(self, pipeline, options):
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision_info = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        with ReleasingFreedMemory(), CollectingLess():
            return fn_runner.FnApiRunner(provision_info=provision_info).run_pipeline(pipeline, options)


def runs_embedded(options: PipelineOptions) -> bool:
    """Whether the options name the DirectRunner (or no runner): the EmbeddedRunner."""
    named = options.view_as(StandardOptions).runner
    return named is None or (isinstance(named, str) and named.lower() in DIRECT_RUNNER_NAMES)


def job_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """The job's pipeline: on the EmbeddedRunner where the options name the DirectRunner
    (or no runner), else on the runner they name (Dataflow, Flink, Spark, Prism).

    Without Beam's construction-time type check (`--no_pipeline_type_check`, on every
    runner): it checks declared type hints, of which HintQ's stages declare one, and it
    was a third of building a night's graphs (1k-shopper replayed night: x2q 2.09 → 1.16 s,
    u2q 2.60 → 1.90 s; the same bytes published). The stages' own tests build their
    graphs with it.

    Its records cross stages as their fields' values (pipelines/beam/coders.py), and Beam
    looks at each DoFn's methods once (pipelines/beam/introspection.py): replayed 8th
    night of the 1k-shopper world, x2q 25.6 → 19.8 s, u2q 39.9 → 29.5 s, the same bytes.
    Beam also reads each function's arguments and builds each options view once
    (introspection.py), and its bundles track their steps without a sampling thread
    (UnsampledStates): x2q 12.9 → 11.2 s, u2q 22.4 → 18.7 s on a faster machine."""
    options.view_as(TypeOptions).pipeline_type_check = False
    use_records_coder()
    remember_dofn_specs()
    remember_signatures()
    remember_option_views()
    stages_unsampled()
    return beam.Pipeline(runner=EmbeddedRunner() if runs_embedded(options) else None, options=options)


class UnsampledStates(statesampler.StateSampler):
    """Beam's state sampler without its sampling thread: it still tracks which step runs
    (Beam's counters find their step's metrics by it), but no thread samples how long
    each step took, for Beam's own `msecs` counters that HintQ does not read (its stage
    timers are its own: pipelines/beam/progress.py).

    Why: a worker starts the thread for every bundle and joins it when the bundle ends,
    and the thread sleeps up to 200 ms between samples: the join waited 13 ms a bundle
    on average, 1.7 s of the replayed 1k u2q night's 133 bundles and 0.8 s of x2q's 78."""

    def start(self) -> None:
        self.tracked_thread = threading.current_thread()
        statesampler.set_current_tracker(self)
        self.started = True

    def stop(self) -> None:
        statesampler.set_current_tracker(None)
        self.finished = True


def stages_unsampled() -> None:
    """Workers in this process make their bundles' state samplers UnsampledStates (the
    embedded runner's in-process worker; a remote runner's workers keep Beam's own)."""
    statesampler.StateSampler = UnsampledStates


def run_job(p: beam.Pipeline) -> PipelineResult:
    """Starts a job's pipeline. On the EmbeddedRunner, as Beam's DirectRunner would: without
    the runner-API round trip (the graph written to its proto and read back, only to check
    that it can be) that Beam's `run()` makes for a runner it does not know by name and that
    does not declare the Fn API (~3 s a table here; u2q is 372 transforms). Every other
    runner (Dataflow, Flink, Spark, Prism) keeps Beam's own choice."""
    return p.run(test_runner_api=False if isinstance(p.runner, EmbeddedRunner) else "AUTO")


def run_to_completion(p: beam.Pipeline) -> PipelineResult:
    """`run_job`, waited for; a pipeline that ends in any state but done raises, so that
    nothing it wrote is published or kept."""
    result = run_job(p)
    state = result.wait_until_finish()
    if state not in (PipelineState.DONE, None):
        raise RuntimeError(f"pipeline ended in state {state}; nothing published")
    return result
