"""How HintQ's records cross from one stage to the next: as their fields' values.

A runner encodes every element that leaves a fused stage (into a GroupByKey, a Flatten, a
side input) and decodes it on the other side. Beam's default coder for an untyped
PCollection (FastPrimitivesCoder) encodes strings, numbers, tuples, lists and dicts itself
and pickles anything else, one `pickle.dumps` per record. A record here is a frozen
dataclass or a NamedTuple of such values, and the 1k-shopper u2q night moved ~530,000
elements: most of them records, ~640,000 pickles.

`RecordsCoder` is that same coder, with one fallback before pickle: a record of a class in
RECORD_TYPES is written as the class's place in that tuple and the tuple of its fields'
values, which the coder encodes itself (a nested record the same way). Anything else is
pickled, as before. Decoding builds the record from the values without calling its
`__init__`, as unpickling does, so a record comes back equal, field for field, to what was
encoded, and the tables written from it are the same bytes.

The coder travels in the pipeline's proto (Beam pickles a Python coder it has no URN for),
so a remote worker decodes with the same RECORD_TYPES: the order is part of the code
version, like the records themselves. Keys of a GroupByKey keep Beam's deterministic coder.
"""
from __future__ import annotations

import dataclasses
from operator import attrgetter
from typing import Any, Callable

from apache_beam.coders import coder_impl, coders, typecoders

from pipelines.core.channels import UserDay
from pipelines.core.memory import CarriedProfile
from pipelines.core.ranker import CandidateRecord, RankCandidate
from pipelines.core.ranking import PopularQuery
from pipelines.core.records import (Candidate, Discard, EnrichedEvent, Event, Evidence, Generation, Item, Profile,
                                    Prompt, Rejection, Suggestion, Trigger, TriggerCandidates, UserCandidates,
                                    VerifiedQuery)

# The records that cross stages, each written as its place here (never reorder within a
# code version: a worker decodes with this order) and its fields' values.
RECORD_TYPES: tuple[type, ...] = (
    Event, Item, EnrichedEvent, Rejection, Evidence, Profile, Trigger, Prompt, Generation, Candidate, Discard,
    UserCandidates, TriggerCandidates, VerifiedQuery, Suggestion, CarriedProfile, UserDay, PopularQuery,
    RankCandidate, CandidateRecord,
)
_PICKLED = 0  # the tag of a value that is not a record: pickled, as Beam's default coder does


def _field_names(cls: type) -> tuple[str, ...]:
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return tuple(cls._fields)
    raise TypeError(f"{cls.__name__} is neither a dataclass nor a NamedTuple")


def _values_getter(cls: type) -> Callable[[Any], tuple]:
    """The record's fields' values as one tuple, in field order."""
    names = _field_names(cls)
    if issubclass(cls, tuple):
        return tuple  # a NamedTuple is its values
    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda record: (get(record),)
    return attrgetter(*names)


def _builder(cls: type) -> Callable[[tuple], Any]:
    """The record from its fields' values, without its `__init__` (as unpickling builds it)."""
    if issubclass(cls, tuple):
        return lambda values: tuple.__new__(cls, values)
    names = _field_names(cls)
    new = object.__new__

    def build(values):
        record = new(cls)
        record.__dict__.update(zip(names, values))
        return record
    return build


class _RecordsImpl(coder_impl.StreamCoderImpl):
    """FastPrimitivesCoderImpl's fallback: a record as its tag and its values (encoded by
    `values_impl`, the FastPrimitivesCoderImpl this falls back from), else pickled."""

    def __init__(self, record_types: tuple[type, ...], pickled: coder_impl.CoderImpl):
        self.pickled = pickled
        self.values_impl: coder_impl.CoderImpl | None = None
        self.encoders = {cls: (tag, _values_getter(cls)) for tag, cls in enumerate(record_types, start=1)}
        self.builders = [None, *(_builder(cls) for cls in record_types)]

    def encode_to_stream(self, value, out, nested):
        encoder = self.encoders.get(type(value))
        if encoder is None:
            out.write_byte(_PICKLED)
            self.pickled.encode_to_stream(value, out, nested)
            return
        tag, values = encoder
        out.write_byte(tag)
        self.values_impl.encode_to_stream(values(value), out, nested)

    def decode_from_stream(self, in_stream, nested):
        tag = in_stream.read_byte()
        if tag == _PICKLED:
            return self.pickled.decode_from_stream(in_stream, nested)
        return self.builders[tag](self.values_impl.decode_from_stream(in_stream, nested))


class RecordsCoder(coders.FastPrimitivesCoder):
    """Beam's FastPrimitivesCoder, with HintQ's records written as their fields' values
    instead of pickled (see the module's docstring). Its fallback, equality and hash are
    FastPrimitivesCoder's (pickle; by type)."""

    def _create_impl(self):
        records = _RecordsImpl(RECORD_TYPES, self._fallback_coder.get_impl())
        impl = coder_impl.FastPrimitivesCoderImpl(records)
        records.values_impl = impl
        return impl

    def as_deterministic_coder(self, step_label, error_message=None):
        # A key is compared by its bytes: Beam's deterministic coder, as without this one.
        return coders.FastPrimitivesCoder().as_deterministic_coder(step_label, error_message)


def use_records_coder(registry: typecoders.CoderRegistry = typecoders.registry) -> None:
    """Makes RecordsCoder the coder of every PCollection this process builds without a
    declared type (once; a second call changes nothing)."""
    if not getattr(registry, "_hintq_records_coder", False):
        registry.register_fallback_coder(RecordsCoder())
        registry._hintq_records_coder = True
