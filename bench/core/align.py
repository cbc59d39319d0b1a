"""Columns of one dataset seen through another's: for scoring on a dataset other than the one a
generator trained on (transportability), where columns are matched by their ids."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from bench.core.data import EHRDataset
from bench.core.errors import DatasetError


def align_columns(train_ds: EHRDataset, eval_ds: EHRDataset, fill_missing: bool = False) -> EHRDataset:
    """``eval_ds`` with the columns of ``train_ds``, matched by column id and in its order.

    For scoring on another dataset than the one trained on (transportability): a model or
    generator fitted on ``train_ds`` sees column j as ``train_ds.columns[j]``. Columns of
    ``eval_ds`` that ``train_ds`` lacks are dropped. A column of ``train_ds`` that ``eval_ds``
    lacks is a DatasetError naming it, unless ``fill_missing`` adds it as zeros (nobody in the
    evaluation data has that code). The kinds (binary / count) must agree. Labels, name and
    source stay those of ``eval_ds``; the dataset is returned as is when already aligned.
    """
    if train_ds.kind != eval_ds.kind:
        raise DatasetError(
            f"cannot align dataset {eval_ds.name!r} ({eval_ds.kind}) with {train_ds.name!r} ({train_ds.kind}): "
            "the kinds differ"
        )
    want = list(train_ds.columns)
    if list(eval_ds.columns) == want:
        return eval_ds
    where = {c: j for j, c in enumerate(eval_ds.columns)}
    missing = [c for c in want if c not in where]
    if missing and not fill_missing:
        shown = ", ".join(missing[:10]) + (f", ... ({len(missing)} in all)" if len(missing) > 10 else "")
        raise DatasetError(
            f"dataset {eval_ds.name!r} lacks {len(missing)} column(s) of {train_ds.name!r}: {shown}; "
            "zero-fill them explicitly (fill_missing) or use datasets with the same columns"
        )
    src = eval_ds.X_sparse
    order = np.array([where.get(c, -1) for c in want], dtype=np.int64)
    present = order >= 0
    # a selection matrix maps eval columns to train positions; a missing column gets no entry (zeros)
    S = sparse.csr_array(
        (np.ones(int(present.sum()), dtype=np.float32), (order[present], np.flatnonzero(present))),
        shape=(eval_ds.n_codes, len(want)),
    )
    X = sparse.csr_array(src @ S)
    if not eval_ds.is_sparse:
        X = X.toarray()
    eval_names = None if eval_ds.names is None else list(eval_ds.names)
    train_names = None if train_ds.names is None else list(train_ds.names)
    names = None
    if eval_names is not None or train_names is not None:
        names = [
            eval_names[where[c]] if eval_names is not None and c in where
            else (train_names[j] if train_names is not None else c)
            for j, c in enumerate(want)
        ]
    return EHRDataset(
        X=X, y=eval_ds.y, columns=want, kind=eval_ds.kind, name=eval_ds.name, names=names,
        label_name=eval_ds.label_name, source=eval_ds.source,
    )
