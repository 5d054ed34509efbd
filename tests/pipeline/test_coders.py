"""Records cross stages as their fields' values (pipelines/beam/coders.py), and come back
the same; Beam's look at a DoFn's methods is kept per DoFn, a function's arguments per
function and an options view per options (pipelines/beam/introspection.py)."""
from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import pickle
from typing import Any

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.coders import VarIntCoder, coder_impl, typecoders
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TypeOptions
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core, userstate
from apache_beam.transforms.timeutil import TimeDomain

from jobs.runner import job_pipeline, run_job
from pipelines.beam import introspection
from pipelines.beam.coders import RECORD_TYPES, RecordsCoder, _RecordsImpl
from pipelines.core import records
from pipelines.core.ranker import CandidateRecord
from pipelines.core.records import EnrichedEvent, Event, Item, Rejection, VerifiedQuery

EVENT = Event(user_id="u1", ts_us=1_793_491_200_123_456, event_type="click", item_id="i9", query=None,
              source_file="part-0.parquet", source_row=7, original='{"user_id": "u1"}')
ITEM = Item(item_id="i9", title="red running shoes", category_path="shoes > running", leaf="running",
            brand="acme", price=math.nan, source_file="catalog-0.parquet", source_row=3, first_seen="2026-10-30")
CHECK = VerifiedQuery(query="red shoes", passed=True, reason="ok", support=0.61, category="running",
                      hit_categories=(("running", 0.75), ("trail", 0.25)), evidence=("i9", "i4"), n_hits=4,
                      best=0.8, vector=b"\x00\x01\x02\x03")
CANDIDATE = CandidateRecord("u1", "red shoes", None, "generated", (("gen", 1),), (0.5, -0.0, math.inf),
                            None, None, 2, 0.123456)


def _round_trip(coder, value):
    return coder.decode(coder.encode(value))


def _same(a, b) -> bool:
    """Equal, of the same types all the way down, NaN equal to NaN, every field compared
    (VerifiedQuery's vector does not take part in ==)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if dataclasses.is_dataclass(a):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("value", [
    EVENT, ITEM, EnrichedEvent(event=EVENT, item=ITEM), EnrichedEvent(event=EVENT, item=None), CHECK, CANDIDATE,
    Rejection("events", "sessionize", "over_user_cap", "part-0.parquet", 7, None, '{"a": 1}'),
    ("u1", [EVENT, EnrichedEvent(EVENT, ITEM)]),
    {"checks": {"red shoes": CHECK}, "list": [CANDIDATE], "set": {1, 2}, "frozen": frozenset({"a"})},
], ids=lambda v: type(v).__name__)
def test_a_record_comes_back_the_same_in_every_field_and_type(value):
    coder = RecordsCoder()
    assert _same(_round_trip(coder, value), value)
    assert _same(_round_trip(coder.get_impl(), value), value)  # unnested, as a whole element


class _Unpicklable:
    def __reduce__(self):
        raise AssertionError("pickled")


def test_records_are_written_as_their_values_never_pickled_and_the_rest_still_is():
    refuse = coder_impl.CallbackCoderImpl(lambda v: pickle.dumps(_Unpicklable()), pickle.loads)
    records = _RecordsImpl(RECORD_TYPES, refuse)
    impl = coder_impl.FastPrimitivesCoderImpl(records)
    records.values_impl = impl
    nested = ("u1", [EnrichedEvent(EVENT, ITEM)], CHECK, CANDIDATE)
    assert _same(impl.decode(impl.encode(nested)), nested)
    with pytest.raises(AssertionError, match="pickled"):
        impl.encode(object())  # not a record: handed to pickle, as Beam's default coder does
    assert len(RecordsCoder().encode(EVENT)) < len(pickle.dumps(EVENT, pickle.HIGHEST_PROTOCOL))


def test_every_record_type_of_the_core_is_written_as_its_values():
    declared = {cls for _, cls in inspect.getmembers(records, inspect.isclass)
                if cls.__module__ == records.__name__ and dataclasses.is_dataclass(cls)}
    assert declared <= set(RECORD_TYPES)
    assert len(set(RECORD_TYPES)) == len(RECORD_TYPES)


def test_a_key_keeps_beams_deterministic_coder():
    deterministic = RecordsCoder().as_deterministic_coder("GroupByUser")
    assert type(deterministic) is not RecordsCoder and deterministic.is_deterministic()
    assert deterministic.decode(deterministic.encode(("u1", 3))) == ("u1", 3)


def test_a_jobs_pipeline_moves_records_with_it_and_groups_them_intact(tmp_path):
    p = job_pipeline(PipelineOptions([f"--temp_location={tmp_path}"]))
    assert isinstance(typecoders.registry.get_coder(Any), RecordsCoder)
    item = dataclasses.replace(ITEM, price=12.5)  # NaN would make the comparison false
    events = [dataclasses.replace(EVENT, source_row=i, user_id=f"u{i % 3}") for i in range(9)]
    grouped = (p | beam.Create(events) | beam.Map(lambda e, i=item: (e.user_id, EnrichedEvent(e, i)))
               | beam.GroupByKey() | beam.MapTuple(lambda u, es, i=item: (u, sorted(e.event.source_row for e in es),
                                                                          {e.item == i for e in es})))
    assert_that(grouped, equal_to([("u0", [0, 3, 6], {True}), ("u1", [1, 4, 7], {True}),
                                   ("u2", [2, 5, 8], {True})]))
    run_job(p).wait_until_finish()


class _Plain(beam.DoFn):
    def process(self, element):
        yield element


class _Stateful(beam.DoFn):
    SEEN = userstate.BagStateSpec("seen", VarIntCoder())
    FLUSH = userstate.TimerSpec("flush", TimeDomain.WATERMARK)

    def process(self, element, seen=beam.DoFn.StateParam(SEEN), flush=beam.DoFn.TimerParam(FLUSH)):
        yield element

    @userstate.on_timer(FLUSH)
    def flushed(self, seen=beam.DoFn.StateParam(SEEN)):
        yield from seen.read()


class _NoCallback(beam.DoFn):
    LOST = userstate.TimerSpec("lost", TimeDomain.WATERMARK)

    def process(self, element, lost=beam.DoFn.TimerParam(LOST)):
        yield element


class _ByValue(_Plain):
    def __eq__(self, other):
        return type(self) is type(other)

    __hash__ = object.__hash__


def _beams_own(installed):
    """Beam's own function under an installed memo, and a list of what it was asked."""
    unremembered = getattr(installed, "__wrapped__", installed)
    asked = []
    return asked, unremembered, lambda *args: asked.append(args[-1]) or unremembered(*args)


def test_a_dofns_specs_are_beams_own_found_once_per_dofn():
    asked, _, beams_own = _beams_own(userstate.get_dofn_specs)
    remembered = introspection._remembering(beams_own)
    plain, stateful, by_value = _Plain(), _Stateful(), _ByValue()
    assert remembered(plain) == (set(), set())
    assert remembered(stateful) == ({_Stateful.SEEN}, {_Stateful.FLUSH})
    for dofn in (plain, stateful, plain, stateful, by_value, by_value):
        remembered(dofn)
    assert asked == [plain, stateful, by_value, by_value]  # a DoFn equal by value: asked each time
    remembered(stateful)[0].clear()  # a caller's sets are its own
    assert remembered(stateful) == ({_Stateful.SEEN}, {_Stateful.FLUSH})


def test_with_the_memo_beam_still_refuses_a_timer_without_its_callback():
    introspection.remember_dofn_specs()
    introspection.remember_dofn_specs()  # once: a second call wraps nothing again
    assert not hasattr(userstate.get_dofn_specs.__wrapped__, "__wrapped__")
    dofn = _NoCallback()
    for _ in range(2):
        with pytest.raises(ValueError, match="TimerSpec without an associated on_timer"):
            userstate.validate_stateful_dofn(dofn)
    assert userstate.is_stateful_dofn(_Stateful()) and not userstate.is_stateful_dofn(_Plain())


def _shoes(query, k=3, *, exact=False):
    return query, k, exact


def test_a_functions_arguments_are_beams_own_read_once_per_function():
    asked, unremembered, beams_own = _beams_own(core.get_function_args_defaults)
    remembered = introspection._remembering_signatures(beams_own)
    plain, stateful = _Plain(), _Stateful()
    for f in (_shoes, plain.process, stateful.process, _Stateful.process):
        assert remembered(f) == unremembered(f)
    assert len(asked) == 4  # a method bound and the same function unbound: two answers
    for f in (_shoes, plain.process, _Plain().process, stateful.process, _Stateful.process):
        remembered(f)
    assert len(asked) == 4  # another instance's bound method: its class's function, known
    remembered(_shoes)[1].clear()  # a caller's lists are its own
    assert remembered(_shoes) == (["query", "k"], [3])


def test_a_function_given_other_defaults_or_a_wrapper_is_read_again():
    asked, unremembered, beams_own = _beams_own(core.get_function_args_defaults)
    remembered = introspection._remembering_signatures(beams_own)

    def later(query, k=3):
        return query, k

    assert remembered(later) == (["query", "k"], [3])
    later.__defaults__ = (5,)
    assert remembered(later) == (["query", "k"], [5])
    shape = np.array([2, 3])  # a default whose == is no truth value: compared by identity
    later.__defaults__ = (shape,)
    assert remembered(later)[1][0] is shape
    later.__defaults__ = (np.array([2, 3]),)
    assert remembered(later)[1][0] is later.__defaults__[0]
    partial = functools.partial(_shoes, k=4)
    assert remembered(partial) == remembered(partial) == unremembered(partial)
    assert asked == [later, later, later, later, partial, partial]


def test_with_the_memos_a_job_builds_and_runs_as_before():
    introspection.remember_signatures()
    introspection.remember_option_views()
    introspection.remember_signatures()  # once: a second call wraps nothing again
    assert not hasattr(core.get_function_args_defaults.__wrapped__, "__wrapped__")
    assert not hasattr(PipelineOptions.view_as.__wrapped__, "__wrapped__")
    p = job_pipeline(PipelineOptions([]))
    out = (p | beam.Create([("a", 1), ("b", 2), ("a", 3)]) | beam.CombinePerKey(sum)
           | beam.Map(lambda kv, extra=10: (kv[0], kv[1] + extra)))
    assert_that(out, equal_to([("a", 14), ("b", 12)]))
    run_job(p).wait_until_finish()


def test_an_options_view_is_built_once_and_shares_the_options_values():
    built, unremembered, beams_own = _beams_own(PipelineOptions.view_as)
    view_as = introspection._remembering_views(beams_own)
    options, other = PipelineOptions(["--runner=DirectRunner"]), PipelineOptions(["--runner=DataflowRunner"])
    standard = view_as(options, StandardOptions)
    assert view_as(options, StandardOptions) is standard and built == [StandardOptions]
    assert view_as(other, StandardOptions).runner == "DataflowRunner" and standard.runner == "DirectRunner"
    view_as(options, TypeOptions).pipeline_type_check = False
    assert view_as(options, TypeOptions).pipeline_type_check is False
    assert options.get_all_options()["pipeline_type_check"] is False  # the options' own values
    standard.streaming = True
    assert unremembered(options, StandardOptions).streaming is True  # a fresh view sees it too
    options._all_options = dict(options._all_options)  # values replaced: views built again
    assert view_as(options, StandardOptions) is not standard
