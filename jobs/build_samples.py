"""The IL-SFT samples job: prompts of one day, answers from the next, both generators.

    python -m jobs.build_samples --dt 2026-11-01 --input data/input --warehouse data/warehouse

Needs the input days D and D+1 and, as the night of D did, the profile memory of D-1; the
u2q list published for D tops up Direct's answers where it exists. Publishes
`samples/dt=D` (warehouse/samples.py). Exit 2: refused before anything ran, with why.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from jobs.options import HintQOptions
from jobs.runner import job_pipeline, run_to_completion
from pipelines.core.config import resolve_config
from pipelines.core.normalize import load_blocklist
from pipelines.core.prompts import TASK_DIRECT
from pipelines.core.version import code_version
from pipelines.engines.generator import GeneratorSpec, VllmGeneratorSpec
from pipelines.samples import build_samples
from pipelines.stages.read_day import check_input_day
from pipelines.stages.read_published import read_profile_memory, read_u2q_lists
from warehouse.samples import SAMPLES_TABLE, publish_samples
from warehouse.staging import StagingLayout, StagingLock, new_run_id, run_staging_dir


def run(argv=None, test_pipeline=None, generator: GeneratorSpec | None = None) -> dict:
    """Builds and publishes the samples of the day its flags name. Returns the manifest."""
    options = PipelineOptions(argv)
    o = options.view_as(HintQOptions)
    o.require("dt", "input", "warehouse")
    labels_dt = (dt.date.fromisoformat(o.dt) + dt.timedelta(days=1)).isoformat()
    cfg = resolve_config(o.config, o.overrides, flags={"generate.model": o.model})
    input_root, warehouse = str(Path(o.input).resolve()), str(Path(o.warehouse).resolve())
    for day in (o.dt, labels_dt):
        check_input_day(input_root, day)
    # The prompts are rendered and counted with the served model's tokenizer (a registry
    # version's is the base's; `registry:promoted` resolves as Direct's).
    generator = generator or VllmGeneratorSpec.for_config(cfg, warehouse, TASK_DIRECT)
    run_id = new_run_id()
    staging = StagingLayout(str(run_staging_dir(warehouse, SAMPLES_TABLE, o.dt, run_id)))
    started = time.time()
    with StagingLock(warehouse, SAMPLES_TABLE, o.dt, run_id):
        p = test_pipeline or job_pipeline(options)
        carried, memory = read_profile_memory(p, warehouse, o.dt, o.bootstrap)
        published, top_up = read_u2q_lists(p, warehouse, o.dt)
        build_samples(p, input_root=input_root, dt=o.dt, labels_dt=labels_dt, staging=staging, cfg=cfg,
                      generator=generator, blocklist=load_blocklist(o.blocklist), carried=carried,
                      published_u2q=published)
        run_to_completion(p)
        return publish_samples(staging.root, warehouse, o.dt, labels_dt, {
            "run_id": run_id, "inputs": {"prompts": f"{input_root}/*/dt={o.dt}", "answers": f"{input_root}/*/dt={labels_dt}"},
            "profile_memory": memory, "top_up": top_up, "prompt_model": generator.describe(),
            "code_version": code_version(), "config": cfg.to_dict(), "pipeline_s": round(time.time() - started, 1)})


def main(argv=None) -> int:
    from jobs.nightly import REFUSED

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("transformers", "apache_beam", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        manifest = run(argv)
    except REFUSED as exc:
        print(json.dumps({"refused": type(exc).__name__, "error": str(exc)}))
        return 2
    print(json.dumps({"published": f"samples/dt={manifest['dt']}", "samples": manifest["samples"],
                      "set_aside": manifest["set_aside"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
