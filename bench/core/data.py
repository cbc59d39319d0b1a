"""The one data model every loader produces and every generator and metric consumes.

A dataset is held either dense (a float32 array) or sparse (a scipy CSR matrix, passed as ``X``).
Sparse datasets keep ``.X`` working: the dense float32 copy is built on first access and kept, so
code written for dense data runs unchanged, while loaders, ``split`` and ``subset`` never build
it. Code that can work in batches uses ``iter_batches`` or ``X_sparse`` and never holds the whole
dense matrix (see docs/datasets.md, "Memory").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from bench.core.errors import DatasetError

KINDS = ("binary", "count")
# Demographic columns a loader may add (omop/eunomia ``demographics=true``): one 0/1 column per sex
# and per age band, named by these prefixes so that metrics can tell them from codes.
SEX_FEMALE, SEX_MALE = "sex:F", "sex:M"
AGE_PREFIX = "age:"


def is_demographic(column: str) -> bool:
    """True for the ``sex:F`` / ``sex:M`` / ``age:<band>`` columns of the naming convention."""
    return column in (SEX_FEMALE, SEX_MALE) or column.startswith(AGE_PREFIX)
FINGERPRINT_DENSE_CELLS = 1 << 28  # 1 GiB as float32: above it, fingerprints hash the CSR arrays


@dataclass(frozen=True, eq=False)
class EHRDataset:
    """Records x codes, with an optional binary label, validated on construction.

    ``X`` is dense float32 (records x codes). ``y`` is an int64 label vector with two classes, or
    ``None`` for unlabelled data. ``columns`` are stable code ids (e.g. OMOP concept ids);
    ``names`` are human-readable where the source has them.

    ``X`` may also be given as any scipy sparse matrix: it is then kept as float32 CSR
    (``X_sparse``), ``subset``/``split``/``with_label_as_column`` stay sparse, and ``.X`` builds
    the dense float32 copy on first access (``drop_dense`` frees it again).
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
        if sparse.issparse(self.X):
            self._init_sparse(where)
            return
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
        self._check_columns(where, X.shape[1])
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "columns", [str(c) for c in self.columns])
        if self.y is not None:
            object.__setattr__(self, "y", _validate_label(self.y, X.shape[0], where, self.label_name))

    def _check_columns(self, where: str, n_cols: int) -> None:
        if len(self.columns) != n_cols:
            raise DatasetError(f"{where}: {len(self.columns)} column ids for {n_cols} columns in the matrix")
        if len(set(self.columns)) != len(self.columns):
            raise DatasetError(f"{where}: column ids are not unique")
        if self.names is not None and len(self.names) != n_cols:
            raise DatasetError(f"{where}: {len(self.names)} column names for {n_cols} columns")

    def _init_sparse(self, where: str) -> None:
        """Validate a sparse matrix on its stored values only, so no dense copy is ever made.

        The checks and messages are those of the dense path; the matrix is kept as canonical CSR
        (duplicates summed, explicit zeros dropped, indices sorted) so that stored values run in
        row-major order and the first bad value found is the first bad cell of the dense matrix.
        """
        shape = self.X.shape
        if len(shape) != 2:
            raise DatasetError(f"{where}: the record matrix must be 2-D, got shape {shape}")
        if shape[0] == 0 or shape[1] == 0:
            raise DatasetError(f"{where}: the record matrix is empty (shape {tuple(shape)})")
        if not np.issubdtype(self.X.dtype, np.number) and self.X.dtype != bool:
            raise DatasetError(f"{where}: the record matrix must be numeric, got dtype {self.X.dtype}")
        M = sparse.csr_array(self.X, dtype=np.float32)
        if not M.has_canonical_format or not M.data.all():
            if M.format == self.X.format and np.shares_memory(M.indices, self.X.indices):
                M = M.copy()  # never rewrite the caller's matrix in place
            M.sum_duplicates()
            M.eliminate_zeros()
        if M.indices.dtype != np.int32 and M.nnz < 2**31 and M.shape[1] < 2**31:
            M.indices = M.indices.astype(np.int32)  # new arrays: half the memory of int64 indices
            M.indptr = M.indptr.astype(np.int32)
        data = M.data

        def cell(k: int) -> tuple[int, int]:
            r = int(np.searchsorted(M.indptr, k, side="right")) - 1
            return r, int(M.indices[k])

        finite = np.isfinite(data)
        if not finite.all():
            r, c = cell(int(np.argmin(finite)))
            raise DatasetError(
                f"{where}: non-finite values ({int((~finite).sum())} cells), first in column "
                f"{self._col(c)!r} (record {r})"
            )
        if (data < 0).any():
            r, c = cell(int(np.argmax(data < 0)))
            raise DatasetError(f"{where}: negative counts in column {self._col(c)!r} (record {r})")
        if self.kind == "binary":
            bad = data != 1
            if bad.any():
                r, c = cell(int(np.argmax(bad)))
                raise DatasetError(
                    f"{where}: binary data holds values other than 0/1 "
                    f"({int(bad.sum())} cells), first in column {self._col(c)!r} (record {r})"
                )
        elif (np.round(data) != data).any():
            c = cell(int(np.argmax(np.round(data) != data)))[1]
            raise DatasetError(f"{where}: count data holds non-integer values in column {self._col(c)!r}")
        self._check_columns(where, M.shape[1])
        object.__setattr__(self, "_csr", M)
        object.__setattr__(self, "_sparse_backed", True)
        object.__delattr__(self, "X")  # ``X`` is now built on demand by __getattr__
        object.__setattr__(self, "columns", [str(c) for c in self.columns])
        if self.y is not None:
            object.__setattr__(self, "y", _validate_label(self.y, M.shape[0], where, self.label_name))

    def __getattr__(self, attr: str) -> object:
        # Only reached when normal lookup fails: for a sparse dataset whose dense copy is not built.
        if attr == "X":
            csr = self.__dict__.get("_csr")
            if csr is not None:
                dense = csr.toarray()
                object.__setattr__(self, "X", dense)
                return dense
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    def __repr__(self) -> str:
        # Aggregates only: a dataset's repr must never print records into logs.
        n, d = self.shape
        return (
            f"EHRDataset(name={self.name!r}, records={n}, codes={d}, kind={self.kind!r}, "
            f"labelled={self.y is not None}, sparse={self.is_sparse})"
        )

    def _col(self, c: int) -> str:
        return str(self.columns[c]) if c < len(self.columns) else f"#{c}"

    @property
    def is_sparse(self) -> bool:
        """True when the records are held as CSR (``.X`` then builds a dense copy on first use)."""
        return bool(self.__dict__.get("_sparse_backed", False))

    @property
    def has_dense(self) -> bool:
        """True when a dense copy is in memory (always for dense datasets)."""
        return "X" in self.__dict__

    @property
    def shape(self) -> tuple[int, int]:
        M = self.__dict__.get("_csr")
        if M is None:
            M = self.X
        return int(M.shape[0]), int(M.shape[1])

    @property
    def X_sparse(self) -> sparse.csr_array:
        """The records as float32 CSR; for a dense dataset, built from ``X`` on first use and kept."""
        M = self.__dict__.get("_csr")
        if M is None:
            M = sparse.csr_array(self.X)
            object.__setattr__(self, "_csr", M)
        return M

    def drop_dense(self) -> None:
        """Free the cached dense copy of a sparse dataset (it is rebuilt if ``.X`` is read again)."""
        if self.is_sparse and "X" in self.__dict__:
            object.__delattr__(self, "X")

    def iter_batches(
        self, batch_size: int = 1024, shuffle: bool = False, seed: int | None = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Dense float32 batches ``(X_batch, y_batch)``: only one batch is dense at a time."""
        if batch_size <= 0:
            raise DatasetError(f"batch_size must be positive, got {batch_size}")
        n = self.n_records
        order = np.random.default_rng(seed).permutation(n) if shuffle else None
        src = self.__dict__.get("_csr") if "X" not in self.__dict__ else self.X
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size] if order is not None else slice(start, start + batch_size)
            block = src[idx]
            block = block.toarray() if sparse.issparse(block) else np.asarray(block)
            yield block, (None if self.y is None else self.y[idx])

    @property
    def density(self) -> float:
        """Fraction of non-zero cells."""
        n, d = self.shape
        if self.is_sparse:
            return float(self._csr.nnz / (n * d))
        return float((self.X > 0).mean())

    @property
    def n_records(self) -> int:
        return self.shape[0]

    @property
    def n_codes(self) -> int:
        return self.shape[1]

    @property
    def has_label(self) -> bool:
        return self.y is not None

    @property
    def fingerprint(self) -> str:
        """A content hash: same matrix, labels, columns and kind give the same fingerprint.

        Dense and sparse datasets of the same content agree. Up to ``FINGERPRINT_DENSE_CELLS``
        cells the hash runs over the dense float32 bytes (built a block of rows at a time when
        the dataset is sparse); beyond that, where a dense copy could not be held anyway, over
        the canonical CSR arrays, which is hundreds of times faster at that size.
        """
        if not self._fingerprint:
            h = hashlib.sha256()
            h.update(self.kind.encode())
            n, d = self.shape
            h.update(repr((n, d)).encode())
            if n * d > FINGERPRINT_DENSE_CELLS:
                M = self.X_sparse
                h.update(b"csr")
                small = M.nnz < 2**31 and d < 2**31  # index width follows the content, not the object
                itype = np.int32 if small else np.int64
                h.update(np.ascontiguousarray(M.indptr, dtype=itype).tobytes())
                step = 1 << 22
                for start in range(0, M.nnz, step):
                    h.update(np.ascontiguousarray(M.indices[start : start + step], dtype=itype).tobytes())
                h.update(np.ascontiguousarray(M.data, dtype=np.float32).tobytes())
            elif self.has_dense:
                h.update(np.ascontiguousarray(self.X).tobytes())
            else:  # the same bytes as the dense matrix, a block of rows at a time
                M = self._csr
                step = max(1, (1 << 22) // max(1, d))  # 16 MB of dense rows at a time
                for start in range(0, n, step):
                    h.update(M[start : start + step].toarray().tobytes())
            h.update(b"y" if self.y is None else np.ascontiguousarray(self.y).tobytes())
            h.update("\x1f".join(self.columns).encode())
            self._fingerprint.append(h.hexdigest()[:16])
        return self._fingerprint[0]

    def subset(self, index: np.ndarray, suffix: str = "") -> EHRDataset:
        src = self._csr if self.is_sparse else self.X  # a sparse dataset stays sparse
        return EHRDataset(
            X=src[index],
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

    def split3(self, seed: int = 0, val_size: float = 0.1, test_size: float = 0.2) -> Splits:
        """Train / validation / test split, each part stratified on the label, fixed by ``seed``.

        ``val_size`` and ``test_size`` are fractions of the whole dataset. The test part is exactly
        :meth:`split`'s held-out part for the same ``seed`` and ``test_size``; the validation part
        is then drawn, stratified, from the rest. Generators and any tuning see train and
        validation only; the leaderboard scores test. Each seed draws its own split, so the spread
        over seeds includes the split's variance.
        """
        from sklearn.model_selection import train_test_split

        if not 0 < val_size < 1:
            raise DatasetError(f"val_size must be in (0, 1), got {val_size}")
        if not 0 < test_size < 1 or val_size + test_size >= 1:
            raise DatasetError(
                f"test_size must be in (0, 1) and val_size + test_size below 1, got {val_size} + {test_size}"
            )
        idx = np.arange(self.n_records)
        y = self.y
        try:
            rest, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y)
            tr, va = train_test_split(
                rest, test_size=val_size / (1 - test_size), random_state=seed,
                stratify=None if y is None else y[rest],
            )
        except ValueError as exc:  # too few records of a class to stratify
            raise DatasetError(f"dataset {self.name!r}: cannot split into train/validation/test: {exc}") from None
        return Splits(
            self.subset(np.sort(tr), "/train"), self.subset(np.sort(va), "/validation"),
            self.subset(np.sort(te), "/test"), seed,
        )

    def with_label_as_column(self) -> EHRDataset:
        """The label appended as the last column, for generators that cannot condition on it."""
        if self.y is None:
            return self
        if not self.is_sparse:
            X = np.hstack([self.X, self.y[:, None].astype(np.float32)])
        else:
            X = sparse.hstack([self._csr, sparse.csr_array(self.y[:, None].astype(np.float32))], format="csr")
        return EHRDataset(
            X=X,
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
            "density": self.density,
            "label": self.label_name if self.y is not None else None,
            "prevalence": None if self.y is None else float(self.y.mean()),
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True, eq=False)
class Splits:
    """The three disjoint parts of one dataset drawn by :meth:`EHRDataset.split3` with ``seed``."""

    train: EHRDataset
    validation: EHRDataset
    test: EHRDataset
    seed: int

    def __iter__(self):  # train, validation, test = data.split3(seed)
        return iter((self.train, self.validation, self.test))


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
