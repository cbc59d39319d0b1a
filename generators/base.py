"""The contract every generator follows, ours and third parties' alike.

A generator is a scikit-learn estimator (it subclasses ``sklearn.base.BaseEstimator``):
hyperparameters are set in ``__init__`` and stored as given, all work happens in ``fit``, learned
state lives in trailing-underscore attributes, and ``get_params`` / ``set_params`` /
``sklearn.base.clone`` work. ``device`` and ``random_state`` are hyperparameters like any other.

Two faces of ``fit`` and ``sample``:

- what a subclass writes: ``fit(self, data: EHRDataset)`` and ``sample(self, n, labels=None)``
  returning arrays ``(X, y)`` (``y`` None when unconditional): one data model to implement against;
- what a caller gets: ``fit(X, y=None)`` accepting an ``EHRDataset``, a numpy array, a scipy
  sparse matrix or a pandas DataFrame (0/1 codes or counts), and ``sample(n, labels=None)``
  returning records in the form ``fit`` was given (:mod:`generators.inputs` says how, the label
  included). An ``EHRDataset`` is the harness's form: ``sample`` then returns its arrays
  ``(X, y)``, and :meth:`Generator.sample_dataset` an ``EHRDataset`` with the training columns.

The base class joins the two when a subclass is defined (``__init_subclass__`` wraps the
subclass's own ``fit`` and ``sample``, as scikit-learn's ``set_output`` wraps ``transform``), so a
subclass written against the data model, and every existing caller of one, work unchanged.
"""

from __future__ import annotations

import functools
import inspect
import time
import typing
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from bench.core.data import EHRDataset
from bench.core.departures import Departures
from bench.core.errors import GeneratorError, OptionError
from bench.core.progress import ProgressCallback
from generators.inputs import InputForm, as_dataset, as_input_form, split_label_column

PROGRESS_INTERVAL_S = 0.25  # at most about four reports a second reach the callback

# Preset names every built-in generator understands; a generator without one of them (a baseline
# with nothing to scale) runs its defaults under it. Any other preset must be the generator's own.
SUITE_PRESETS = ("cpu", "quick")


def _public_fit(impl):
    """``fit(X, y=None)`` of any accepted form around a subclass's ``fit(data: EHRDataset)``.

    Only the outermost call converts: a subclass's ``super().fit(data)`` reaches the parent's
    implementation with the dataset as it is."""

    @functools.wraps(impl)
    def fit(self, X, y=None, **kwargs):
        if self.__dict__.get("_in_public_call"):
            return impl(self, X, **kwargs)
        data, form = as_dataset(X, y, name=f"input of {self.name or type(self).__name__}.fit")
        form = replace(form, kind=data.kind)
        if form.form != "dataset" and data.y is not None and not self.supports_conditioning:
            data = data.with_label_as_column()  # learned as one more column, as the harness does
            form = replace(form, label_as_column=True)
        self._in_public_call = True
        try:
            out = impl(self, data, **kwargs)
        finally:
            del self._in_public_call
        self.input_form_ = form
        return out

    return fit


def _public_sample(impl):
    """``sample(n, labels=None)`` returning the form ``fit`` was given, around a subclass's
    ``sample`` that returns arrays ``(X, y)``."""

    @functools.wraps(impl)
    def sample(self, n, labels=None, **kwargs):
        if self.__dict__.get("_in_public_call"):
            return impl(self, n, labels, **kwargs)
        form: InputForm | None = self.__dict__.get("input_form_")
        self._in_public_call = True
        try:
            if form is not None and form.label_as_column:
                if labels is not None:
                    raise OptionError(f"generator {self.name!r} cannot condition on given labels; "
                                      "sample(n) draws each record's label with it")
                X, y = split_label_column(impl(self, n, None, **kwargs)[0])
            else:
                X, y = impl(self, n, None if labels is None else np.asarray(labels), **kwargs)
        finally:
            del self._in_public_call
        if form is None or form.form == "dataset":
            return X, y
        return as_input_form(np.asarray(X, dtype=np.float32), y, form)

    return sample


class Generator(BaseEstimator, ABC):
    """Learns a distribution over EHR records and samples synthetic ones.

    Subclasses set ``name``; they set ``supports_conditioning = True`` when ``sample`` can generate
    records for given labels. For the others the harness appends the label as one more column
    before ``fit`` and splits it off after ``sample`` (see :mod:`bench.conditioning`).

    ``presets`` maps a preset name (``quick``, ``cpu``) to hyperparameter overrides, so that any
    scaling from the published defaults is explicit and documented, never silent.
    """

    name: ClassVar[str] = ""
    supports_conditioning: ClassVar[bool] = False
    supported_kinds: ClassVar[tuple[str, ...]] = ("binary", "count")
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    reference: ClassVar[str] = ""  # the citation of the published method
    # a reference point, not a contestant (the independent-codes and copy baselines): tables show
    # it apart, marked, and never rank or bold it
    is_reference: ClassVar[bool] = False
    #: its records are the training records themselves (the copy baseline): never written to disk,
    #: not even by ``--save-synthetic``, since real patient rows must not leave the data loader
    releases_training_records: ClassVar[bool] = False
    #: rows that show what each contribution of the method does (row label -> generator spec), expanded by
    #: ``-g all`` and the leaderboard: e.g. MedDiff's plain, guided and accelerated configurations
    variants: ClassVar[dict[str, str]] = {}
    #: the basis of its schedule (published / ehrbench's own default) and what this implementation
    #: still does differently from the published code at its defaults and per preset
    #: (bench.core.departures): the run's manifest, every caption, the ‡ footnotes and the
    #: report's departures table are generated from it, so a table never passes a departure off as
    #: the published method
    departures: ClassVar[Departures] = Departures()

    random_state: int | None

    # Where a fit reports how far it has come (set by the harness's job, never a hyperparameter:
    # not an __init__ argument, so never in get_params, the job key or the manifest). None: silent.
    progress_callback: ProgressCallback | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "fit" in own and not getattr(own["fit"], "_public", False):
            cls.fit = _public_fit(own["fit"])  # type: ignore[method-assign]
            cls.fit._public = True  # type: ignore[attr-defined]
        if "sample" in own and not getattr(own["sample"], "_public", False):
            cls.sample = _public_sample(own["sample"])  # type: ignore[method-assign]
            cls.sample._public = True  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ contract
    @abstractmethod
    def fit(self, data: EHRDataset) -> Generator:
        """Learn from ``data`` (training records only). Returns ``self``.

        What a subclass implements; callers may pass arrays and DataFrames (module docstring)."""

    @abstractmethod
    def sample(self, n: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Return ``n`` synthetic records (float32, same columns and kind as the training data)
        and their labels. Conditional generators honour ``labels`` when given and draw labels
        from the training prevalence when not; unconditional ones return ``None`` for labels.

        What a subclass implements; callers get the form ``fit`` was given (module docstring).
        """

    def sample_dataset(self, n: int, labels: np.ndarray | None = None, **kwargs: Any) -> EHRDataset:
        """``n`` records as an :class:`EHRDataset` with the training columns, kind and label name."""
        form: InputForm | None = self.__dict__.get("input_form_")
        if form is None:
            raise GeneratorError(f"generator {self.name!r}: call fit() before sample_dataset()")
        self.__dict__["input_form_"] = replace(form, form="dataset")
        try:
            X, y = self.sample(n, labels, **kwargs)
        finally:
            self.__dict__["input_form_"] = form
        return EHRDataset(X=np.asarray(X, dtype=np.float32), y=y, columns=list(form.columns), kind=form.kind,
                          name=f"{self.name or type(self).__name__} synthetic", label_name=form.label or "label")

    def validate_params(self) -> None:  # noqa: B027 - optional hook
        """Raise :class:`OptionError` naming a bad hyperparameter. Called before any work."""

    def diagnostics(self) -> dict[str, float]:
        """Extra scalars for the results (network evaluations, privacy budget, ...)."""
        return {}

    def training_history(self) -> list[dict[str, float]]:
        """Per-epoch losses (``{"epoch": 1, "loss_g": ..., ...}``), saved as loss curves in the run.

        Neural generators fill ``history_`` during ``fit``; the harness writes it to the run
        directory and the report draws it.
        """
        return list(getattr(self, "history_", []))

    # ------------------------------------------------------------------ helpers
    def _report_progress(self, done: int, total: int, unit: str = "epoch") -> None:
        """Tell the progress callback, if any, that ``done`` of ``total`` ``unit``s are done.

        Training loops call it after every update or epoch; it costs an attribute lookup when no
        callback is set and passes on at most about four reports a second (the first and last of
        a phase always), so it never slows a fit and touches no random state or number. A callback
        that raises is dropped: a broken display must not end a training.
        """
        callback = self.progress_callback
        if callback is None:
            return
        now = time.monotonic()
        last = getattr(self, "_progress_last", None)
        phase = (unit, total)
        if last is not None and last[0] == phase and done < total and now - last[1] < PROGRESS_INTERVAL_S:
            return
        self._progress_last = (phase, now)
        try:
            callback(int(done), int(total), unit)
        except Exception:
            self.progress_callback = None

    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        return {
            p.name: p.default
            for p in sig.parameters.values()
            if p.name != "self" and p.default is not inspect.Parameter.empty
        }

    @classmethod
    def param_types(cls) -> dict[str, type]:
        """The type of each option whose default is None, from its annotation (``int | None``: int),
        so a spec's text is read and checked as that type (``steps=abc`` is not an integer), as it
        is for an option with a typed default. An option without one plain type is left out."""
        try:
            hints = typing.get_type_hints(cls.__init__)
        except (NameError, TypeError):  # a plug-in's annotation that does not resolve: no types
            return {}
        out: dict[str, type] = {}
        for name, default in cls.param_defaults().items():
            args = [a for a in typing.get_args(hints.get(name)) if a is not type(None)]
            if default is None and len(args) == 1 and args[0] in (bool, int, float, str):
                out[name] = args[0]
        return out

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise GeneratorError(f"generator {self.name!r}: call fit() before sample()")

    def _check_data(self, data: EHRDataset) -> None:
        if data.kind not in self.supported_kinds:
            raise OptionError(
                f"generator {self.name!r} supports {', '.join(self.supported_kinds)} data, "
                f"not {data.kind!r} (dataset {data.name!r})"
            )

    @staticmethod
    def _check_n(n: int, labels: np.ndarray | None) -> None:
        if not isinstance(n, (int, np.integer)) or n <= 0:
            raise OptionError(f"number of records to sample must be a positive integer, got {n!r}")
        if labels is not None and len(labels) != n:
            raise OptionError(f"{len(labels)} labels given for {n} records to sample")



def check_positive(gen: Generator, *names: str, integer: bool = True) -> None:
    """Shared validation: each named hyperparameter must be a positive number."""
    for name in names:
        v = getattr(gen, name)
        ok = isinstance(v, (int, np.integer)) if integer else isinstance(v, (int, float, np.number))
        if isinstance(v, bool) or not ok or v <= 0:
            kind = "a positive integer" if integer else "a positive number"
            raise OptionError(f"generator {gen.name!r}: option {name!r} must be {kind}, got {v!r}")


def check_choice(gen: Generator, name: str, choices: tuple[str, ...]) -> None:
    v = getattr(gen, name)
    if v not in choices:
        raise OptionError(
            f"generator {gen.name!r}: option {name}={v!r} is not one of {', '.join(choices)}"
        )


def record_budget(
    gen: Generator, updates: int, published_updates: int, epochs: float, published_epochs: float
) -> dict[str, float]:
    """Put the training budget in the open: what a fit ran against its published schedule.

    Sets ``gen.budget_`` (``updates``: optimiser updates run, over every network;
    ``published_updates``: those of the published schedule on the same data;
    ``schedule_fraction``: their ratio; ``epochs`` and ``published_epochs``: the main phase's
    epochs run and published) and ``gen.schedule_fraction_``, which tables use to mark rows
    trained below 100 %. Returns the dict, which generators merge into their diagnostics.
    """
    frac = float(updates) / float(published_updates) if published_updates > 0 else float("nan")
    gen.budget_ = {  # type: ignore[attr-defined]
        "updates": float(updates),
        "published_updates": float(published_updates),
        "schedule_fraction": frac,
        "epochs": float(epochs),
        "published_epochs": float(published_epochs),
    }
    gen.schedule_fraction_ = frac  # type: ignore[attr-defined]
    return dict(gen.budget_)  # type: ignore[attr-defined]


def budget_diagnostics(gen: Generator) -> dict[str, float]:
    """The ``budget_`` of a fitted generator under diagnostic names (empty before ``fit``)."""
    b = getattr(gen, "budget_", None)
    if not b:
        return {}
    return {
        "updates": b["updates"],
        "published_updates": b["published_updates"],
        "schedule_fraction": b["schedule_fraction"],
        "epochs_run": b["epochs"],
        "published_epochs": b["published_epochs"],
    }
