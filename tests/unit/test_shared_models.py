"""A process loads each kind of model once (pipelines/engines/shared.py): a model stays
loaded while other models are acquired, and a handle asked for another model loads it."""
import gc

from apache_beam.utils import shared

from pipelines.engines.shared import acquire_kept


def test_a_kept_model_stays_loaded_while_other_models_are_acquired():
    loads = []

    def model(name):
        return lambda: loads.append(name) or [name]

    embedders, codecs = shared.Shared(), shared.Shared()
    embedder = acquire_kept(embedders, model("embedder"), tag="embedder:1")
    acquire_kept(codecs, model("codec"), tag="codec:1")  # Beam's Shared keeps only this one alive
    gc.collect()
    assert acquire_kept(embedders, model("embedder"), tag="embedder:1") is embedder
    assert loads == ["embedder", "codec"]
    assert acquire_kept(embedders, model("embedder 2"), tag="embedder:2") == ["embedder 2"]  # another model
    acquire_kept(codecs, model("codec"), tag="codec:1")
    assert loads == ["embedder", "codec", "embedder 2"]
