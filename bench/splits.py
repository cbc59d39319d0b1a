"""What data each job trains on and is scored on: repeated splits and transportability.

**Repeated splits.** Each seed draws its own stratified train / validation / test split of every
dataset (:meth:`EHRDataset.split3` with the job's seed), so the spread over seeds includes the
split's variance and not only the generator's. A pinned split seed (``--split-seed N``) gives
every seed the same split. The generator fits on *train*. *Validation* is reserved for tuning
and is never passed to ``fit``: the Generator contract's ``fit(data)`` has no place for it, and a
default is chosen on validation, never on the test records the leaderboard scores. The metrics
score against *test*. ``val_size`` 0 draws no validation part (the train / test split of
:meth:`EHRDataset.split`, the one runs used before validation existed).

**Tuning.** ``score_on="validation"`` (``--score-on validation``) scores against the validation
part instead: the same training records, the same metrics, and the test records never seen. That
is how a default is chosen or re-checked; its tables say they were scored on validation, and
they are not results to cite.

**Transportability.** A job whose training dataset A has an evaluation dataset B trains on A's
train part, like any job, and is scored on B. B is aligned to A's columns by id
(:func:`bench.core.align.align_columns`), then split with the same split seed and sizes as A.
The metrics see B's train part as their real reference records (``real_train``) and B's test
part as the held-out records (``real_test``). These are the very records B's own job is scored
on, so an ``A → B`` cell reads directly against the ``B`` cell of a run on B: the difference is
what the shift costs. Privacy metrics are not applicable to such a job: the generator never saw
a record of B, so a membership or distance attack on B measures nothing about it (its privacy is
scored in A's own job).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.core.align import align_columns
from bench.core.data import EHRDataset
from bench.core.errors import DatasetError

TRANSPORT_ARROW = " → "
SCORE_ON = ("test", "validation")  # what the metrics score against: the leaderboard's part, or tuning's


def transport_label(train_label: str, eval_label: str) -> str:
    """The table label of a job trained on ``train_label`` and scored on ``eval_label``."""
    return f"{train_label}{TRANSPORT_ARROW}{eval_label}"


@dataclass(frozen=True, eq=False)
class JobData:
    """The real records one job sees.

    ``train`` is what the generator fits on; ``validation`` is reserved for tuning (None when
    ``val_size`` is 0) and never passed to ``fit``; ``test`` is the training dataset's held-out
    part. ``score_train`` and ``score_test`` are what the metrics receive as ``real_train`` and
    ``real_test``: ``train`` and ``test`` themselves, or, for a transported job, the evaluation
    dataset's train and test parts aligned to ``train``'s columns.
    """

    train: EHRDataset
    validation: EHRDataset | None
    test: EHRDataset
    split_seed: int
    score_train: EHRDataset
    score_test: EHRDataset
    transported: bool = False
    score_on: str = "test"  # "validation": a tuning job, scored against the validation part

    def fingerprints(self) -> dict[str, object]:
        """Split seed and content hash of every part: the manifest's record and the job key's data."""
        out: dict[str, object] = {
            "split_seed": self.split_seed,
            "train": self.train.fingerprint,
            "validation": None if self.validation is None else self.validation.fingerprint,
            "test": self.test.fingerprint,
        }
        if self.transported:
            out["eval_train"] = self.score_train.fingerprint
            out["eval_test"] = self.score_test.fingerprint
        if self.score_on != "test":  # a job scored on another part is another job
            out["scored_on"] = self.score_on
        return out

    def sizes(self) -> dict[str, int]:
        out = {"train": self.train.n_records,
               "validation": 0 if self.validation is None else self.validation.n_records,
               "test": self.test.n_records}
        if self.transported:
            out["eval_train"] = self.score_train.n_records
            out["eval_test"] = self.score_test.n_records
        return out


def draw(data: EHRDataset, seed: int, val_size: float, test_size: float
         ) -> tuple[EHRDataset, EHRDataset | None, EHRDataset]:
    """Train, validation (None when ``val_size`` is 0) and test parts of ``data``, drawn by ``seed``."""
    if val_size == 0:
        train, test = data.split(seed=seed, test_size=test_size)
        return train, None, test
    parts = data.split3(seed=seed, val_size=val_size, test_size=test_size)
    return parts.train, parts.validation, parts.test


def aligned_eval(train_data: EHRDataset, eval_data: EHRDataset, train_label: str, eval_label: str,
                 fill_missing: bool) -> EHRDataset:
    """``eval_data`` with the columns of ``train_data``; a missing column is an error naming the
    datasets, the column(s) and the option that zero-fills them."""
    try:
        return align_columns(train_data, eval_data, fill_missing=fill_missing)
    except DatasetError as exc:
        raise DatasetError(
            f"--eval-dataset {eval_label!r} cannot score jobs trained on {train_label!r}: {exc}"
            + ("" if fill_missing else " (--eval-fill-missing zero-fills missing columns)")
        ) from None


def job_data(data: EHRDataset, split_seed: int, val_size: float, test_size: float,
             eval_data: EHRDataset | None = None, score_on: str = "test") -> JobData:
    """The parts of ``data`` (and of an already aligned ``eval_data``) one split seed draws;
    ``score_on="validation"`` hands the metrics the validation part as their held-out records."""
    train, validation, test = draw(data, split_seed, val_size, test_size)
    if score_on == "validation":
        if validation is None or eval_data is not None:
            raise DatasetError(f"dataset {data.name!r}: scoring on validation needs a validation part "
                               "and no evaluation dataset")
        return JobData(train, validation, test, split_seed, train, validation, score_on=score_on)
    if eval_data is None:
        return JobData(train, validation, test, split_seed, train, test)
    eval_train, _, eval_test = draw(eval_data, split_seed, val_size, test_size)
    return JobData(train, validation, test, split_seed, eval_train, eval_test, transported=True)
