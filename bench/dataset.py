"""The one data model every loader produces and every generator and metric consumes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.errors import DatasetError

KINDS = ("binary", "count")


@dataclass(frozen=True, eq=False)
class EHRDataset:
    """Records x codes, with an optional binary label, validated on construction.

    ``X`` is dense float32 (records x codes). ``y`` is an int64 label vector with two classes, or
    ``None`` for unlabelled data. ``columns`` are stable code ids (e.g. OMOP concept ids);
    ``names`` are human-readable where the source has them.
    """

    X: np.ndarray
    y: np.ndarray | None
    columns: Sequence[str]
    kind: str = "binary"
    name: str = "dataset"
    names: Sequence[str] | None = None
    label_name: str = "label"
    source: str = ""
    _fingerprint: list[str] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"dataset {self.name!r}" + (f" ({self.source})" if self.source else "")
        if self.kind not in KINDS:
            raise DatasetError(f"{where}: kind must be one of {KINDS}, got {self.kind!r}")
        X = np.asarray(self.X)
        if X.ndim != 2:
            raise DatasetError(f"{where}: the record matrix must be 2-D, got shape {X.shape}")
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise DatasetError(f"{where}: the record matrix is empty (shape {X.shape})")
        if not np.issubdtype(X.dtype, np.number) and X.dtype != bool:
            raise DatasetError(f"{where}: the record matrix must be numeric, got dtype {X.dtype}")
        X = X.astype(np.float32, copy=False)
        finite = np.isfinite(X)
        if not finite.all():
            r, c = np.argwhere(~finite)[0]
            raise DatasetError(
                f"{where}: non-finite values ({int((~finite).sum())} cells), first in column "
                f"{self._col(c)!r} (record {r})"
            )
        if (X < 0).any():
            r, c = np.argwhere(X < 0)[0]
            raise DatasetError(f"{where}: negative counts in column {self._col(c)!r} (record {r})")
        if self.kind == "binary":
            bad = (X != 0) & (X != 1)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise DatasetError(
                    f"{where}: binary data holds values other than 0/1 "
                    f"({int(bad.sum())} cells), first in column {self._col(c)!r} (record {r})"
                )
        elif (np.round(X) != X).any():
            c = np.argwhere(np.round(X) != X)[0][1]
            raise DatasetError(f"{where}: count data holds non-integer values in column {self._col(c)!r}")
        if len(self.columns) != X.shape[1]:
            raise DatasetError(
                f"{where}: {len(self.columns)} column ids for {X.shape[1]} columns in the matrix"
            )
        if len(set(self.columns)) != len(self.columns):
            raise DatasetError(f"{where}: column ids are not unique")
        if self.names is not None and len(self.names) != X.shape[1]:
            raise DatasetError(f"{where}: {len(self.names)} column names for {X.shape[1]} columns")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "columns", [str(c) for c in self.columns])
        if self.y is not None:
            object.__setattr__(self, "y", _validate_label(self.y, X.shape[0], where, self.label_name))

    def _col(self, c: int) -> str:
        return str(self.columns[c]) if c < len(self.columns) else f"#{c}"

    @property
    def n_records(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_codes(self) -> int:
        return int(self.X.shape[1])

    @property
    def has_label(self) -> bool:
        return self.y is not None

    @property
    def fingerprint(self) -> str:
        """A content hash: same matrix, labels, columns and kind give the same fingerprint."""
        if not self._fingerprint:
            h = hashlib.sha256()
            h.update(self.kind.encode())
            h.update(repr(self.X.shape).encode())
            h.update(np.ascontiguousarray(self.X).tobytes())
            h.update(b"y" if self.y is None else np.ascontiguousarray(self.y).tobytes())
            h.update("\x1f".join(self.columns).encode())
            self._fingerprint.append(h.hexdigest()[:16])
        return self._fingerprint[0]

    def subset(self, index: np.ndarray, suffix: str = "") -> EHRDataset:
        return EHRDataset(
            X=self.X[index],
            y=None if self.y is None else self.y[index],
            columns=self.columns,
            kind=self.kind,
            name=self.name + suffix,
            names=self.names,
            label_name=self.label_name,
            source=self.source,
        )

    def split(self, seed: int = 0, test_size: float = 0.2) -> tuple[EHRDataset, EHRDataset]:
        """Train / held-out split, stratified on the label, fixed by ``seed``."""
        from sklearn.model_selection import train_test_split

        if not 0 < test_size < 1:
            raise DatasetError(f"test_size must be in (0, 1), got {test_size}")
        idx = np.arange(self.n_records)
        try:
            tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=self.y)
        except ValueError as exc:  # too few records of a class to stratify
            raise DatasetError(f"dataset {self.name!r}: cannot split into train/test: {exc}") from None
        return self.subset(np.sort(tr), "/train"), self.subset(np.sort(te), "/test")

    def with_label_as_column(self) -> EHRDataset:
        """The label appended as the last column, for generators that cannot condition on it."""
        if self.y is None:
            return self
        return EHRDataset(
            X=np.hstack([self.X, self.y[:, None].astype(np.float32)]),
            y=None,
            columns=[*self.columns, f"__label__{self.label_name}"],
            kind=self.kind,
            name=self.name,
            names=None if self.names is None else [*self.names, self.label_name],
            label_name=self.label_name,
            source=self.source,
        )

    def describe(self) -> dict[str, object]:
        """Aggregates only: safe to write into results and logs."""
        return {
            "name": self.name,
            "records": self.n_records,
            "codes": self.n_codes,
            "kind": self.kind,
            "density": float((self.X > 0).mean()),
            "label": self.label_name if self.y is not None else None,
            "prevalence": None if self.y is None else float(self.y.mean()),
            "fingerprint": self.fingerprint,
        }


def _validate_label(y: object, n: int, where: str, label_name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise DatasetError(f"{where}: label {label_name!r} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise DatasetError(
            f"{where}: label {label_name!r} has {arr.shape[0]} values for {n} records"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DatasetError(f"{where}: label {label_name!r} holds non-finite values")
    values = np.unique(arr)
    if not np.isin(values, [0, 1]).all():
        raise DatasetError(
            f"{where}: label {label_name!r} must be binary 0/1, found values {values[:5].tolist()}"
        )
    if values.size < 2:
        raise DatasetError(
            f"{where}: label {label_name!r} has one class only ({values.tolist()}); "
            "two are needed for stratified splits and utility metrics"
        )
    return arr.astype(np.int64)
