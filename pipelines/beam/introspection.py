"""What Beam works out again at every step that asks, worked out once: a DoFn's state and
timer specs (per DoFn), a function's arguments (per function), an options view (per
options and view class). Each is installed once per process by `jobs.runner.job_pipeline`.

`apache_beam.transforms.userstate.get_dofn_specs` finds a DoFn's state and timer
parameters by taking the signature of every method the DoFn has (~29, most of them
inherited from `beam.DoFn`), and Beam asks it again at each step: twice when a ParDo is
made, three times when the graph is written to its proto, twice when a worker builds the
stage. A 1k-shopper night asked 5,188 times (x2q 1,970, u2q 3,218: ~160,000 signatures),
4.9 s of the night. Beam 2.77 keeps none of the answers (a memo was proposed upstream in
apache/beam#9925 and not merged).

`remember_dofn_specs` keeps each DoFn's answer while the DoFn lives. A DoFn's state and
timer parameters are the defaults of its methods, fixed once it is made, so the answer
for the same object does not change; a DoFn whose class compares by value (not by
identity) is asked every time, as before.
"""
from __future__ import annotations

import types
import weakref

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import core, userstate

_MARK = "_hintq_remembers"


def _install(owner, name: str, remembering) -> None:
    """`owner.name` replaced by `remembering(owner.name)`, once per process: a second call
    changes nothing. The memo keeps what it wraps as `__wrapped__`."""
    beams_own = getattr(owner, name)
    if getattr(beams_own, _MARK, False):
        return
    remembered = remembering(beams_own)
    setattr(remembered, _MARK, True)
    remembered.__wrapped__ = beams_own
    setattr(owner, name, remembered)


def remember_dofn_specs() -> None:
    """Installs the memo of a DoFn's specs in this process (once)."""
    _install(userstate, "get_dofn_specs", _remembering)


def _remembering(get_dofn_specs):
    answers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def remembered_dofn_specs(dofn):
        if type(dofn).__eq__ is not object.__eq__:
            return get_dofn_specs(dofn)
        try:
            state_specs, timer_specs = answers[dofn]
        except KeyError:
            state_specs, timer_specs = answers[dofn] = get_dofn_specs(dofn)
        except TypeError:  # not weakly referenceable
            return get_dofn_specs(dofn)
        return set(state_specs), set(timer_specs)  # the caller's own sets, as Beam gives them

    return remembered_dofn_specs


def remember_signatures() -> None:
    """Installs, in this process (once), a memo of the arguments Beam reads from a
    function's signature (`core.get_function_args_defaults`): every step that builds a
    DoFn's method wrapper asks for each of its ~29 methods again, and a worker builds
    them again for every stage it runs (22,644 asks on the replayed 1k u2q night, after
    the DoFn memo above: 1.2 s under the profiler)."""
    _install(core, "get_function_args_defaults", _remembering_signatures)


def _remembering_signatures(get_function_args_defaults):
    # A plain function's (or a method's function's) answer, kept with the code and defaults
    # it was read from: a function given other defaults or code later is read again. A
    # wrapper (`__wrapped__`, `__signature__`), a partial or a callable object is read
    # every time, as before.
    answers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def remembered_args_defaults(f):
        function = getattr(f, "__func__", f)
        if (type(function) is not types.FunctionType or hasattr(function, "__wrapped__")
                or hasattr(function, "__signature__")):
            return get_function_args_defaults(f)
        key = (function.__code__, function.__defaults__, function.__kwdefaults__)
        bound = function is not f
        known = answers.get(function)
        if known is None or any(a is not b for a, b in zip(known[0], key)):  # by identity: defaults may not compare
            known = answers[function] = (key, {})
        if bound not in known[1]:
            known[1][bound] = get_function_args_defaults(f)
        args, defaults = known[1][bound]
        return list(args), list(defaults)  # the caller's own lists, as Beam gives them

    return remembered_args_defaults


def remember_option_views() -> None:
    """Installs, in this process (once), a memo of `PipelineOptions.view_as`: a view is
    built by parsing the job's flags again (an argparse parser per view), and Beam asks
    for a view at every transform it applies (1,969 views while building the replayed 1k
    u2q graph: 2.8 s under the profiler). A view shares its options' values (Beam keeps
    them in one dict that every view of the options reads and writes), so the view a
    call built serves every later call for the same class."""
    _install(PipelineOptions, "view_as", _remembering_views)


def _remembering_views(view_as):
    views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def remembered_view_as(options, cls):
        try:
            of_options = views.setdefault(options, {})
        except TypeError:  # not weakly referenceable
            return view_as(options, cls)
        view = of_options.get(cls)
        if view is None or view._all_options is not getattr(options, "_all_options", None):
            view = of_options[cls] = view_as(options, cls)
        return view

    return remembered_view_as
