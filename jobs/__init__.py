"""One entry point per Beam job: parse options, build the pipeline, run it."""
