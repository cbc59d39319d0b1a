"""The leaderboard's command-line choices, checked before any work: which parts (``--part``),
which rows to rebuild (``--rerun``) or retire (``--retire``), and the caption's sentence on
tuning. Kept apart from bench.leaderboard, which builds and renders the grid they choose; every
error names the option and what the grid holds instead."""

from __future__ import annotations

from pathlib import Path

from bench.config import RunConfig
from bench.core.errors import OptionError
from bench.core.io import read_json
from bench.core.options import DatasetSpec, GeneratorSpec
from generators import registry as generator_registry


def parse_parts(items: list[str] | None, labels: list[str]) -> list[str]:
    """``--part`` (repeatable, each a comma list in the dataset grammar) as grid labels, in grid
    order; none: every dataset. An unknown name is an error naming the option and the grid."""
    if not items:
        return list(labels)
    wanted = {s.label for item in items for s in DatasetSpec.parse_list(item)}
    unknown = sorted(wanted - set(labels))
    if unknown:
        raise OptionError(f"--part: {', '.join(repr(u) for u in unknown)} is not a dataset of the grid "
                          f"(its datasets: {', '.join(labels)}; --datasets sets them)")
    return [d for d in labels if d in wanted]


def parse_rerun(text: str | None, labels: list[str]) -> list[str]:
    """``--rerun`` (generator specs, as in ``-g``) as grid row labels; an unknown one is an error
    naming the option and the grid's rows."""
    if not text:
        return []
    wanted = [spec.label for spec in GeneratorSpec.parse_list(text)]
    unknown = [w for w in wanted if w not in labels]
    if unknown:
        raise OptionError(f"--rerun: {', '.join(repr(u) for u in unknown)} is not a row of the grid "
                          f"(its rows: {', '.join(labels)})")
    return list(dict.fromkeys(wanted))


def parse_retire(text: str | None, config: RunConfig, folder: Path) -> list[str]:
    """``--retire`` (generator specs, as in ``-g``) as row labels of the leaderboard rendered in
    ``folder``, which must be this grid with exactly those rows added: a row still in ``-g``, a row
    the committed leaderboard lacks, or any other difference of configuration is an error that
    names it."""
    if not text:
        return []
    wanted = list(dict.fromkeys(spec.label for spec in GeneratorSpec.parse_list(text)))
    still = [w for w in wanted if w in config.generator_labels]
    if still:
        raise OptionError(f"--retire: {', '.join(repr(w) for w in still)} is still a row of the grid; give -g "
                          "without it (a class's Generator.variants decide the rows of -g all)")
    try:
        m = read_json(folder / "manifest.json")
        theirs = m["config"]
    except (OSError, ValueError, KeyError, TypeError):
        raise OptionError(f"--retire: {folder / 'manifest.json'} is missing or unreadable; there is no rendered "
                          "leaderboard to retire rows from") from None
    rows = list(theirs.get("generators") or [])
    resumed = ((m.get("grid") or {}).get("rows_retired") or {}).keys()  # a retire stopped midway, run again
    unknown = [w for w in wanted if w not in rows and w not in resumed]
    if unknown:
        raise OptionError(f"--retire: {', '.join(repr(u) for u in unknown)} is not a row of the leaderboard in "
                          f"{folder} (its rows: {', '.join(rows)})")
    ours = {k: v for k, v in config.to_dict().items() if k != "save_synthetic"}
    kept = {**{k: v for k, v in theirs.items() if k != "save_synthetic"},
            "generators": [r for r in rows if r not in wanted]}
    differ = sorted(k for k in set(ours) | set(kept) if ours.get(k) != kept.get(k))
    if differ:
        raise OptionError(f"--retire: the leaderboard in {folder} is not this grid with those rows added; its "
                          f"configuration differs in {', '.join(differ)} (give the options it was built with)")
    return wanted


def tuning_policy(config: RunConfig) -> str:
    """The caption's tuning sentence: nothing tuned; each row at its declared defaults, a class's
    declared variants named as ablations, anything else set on the command line named too."""
    ablations, by_hand = [], []
    for spec in config.generators:
        if not spec.options:
            continue
        cls = generator_registry.get_class(spec.name)
        declared = {GeneratorSpec.parse(v).label for v in (cls.variants or {}).values()}
        (ablations if spec.label in declared else by_hand).append(spec.label)
    preset = f" at the '{config.preset}' preset" if config.preset else " (published defaults)"
    text = (f"nothing is tuned. Every contestant runs its declared defaults{preset}; no setting was chosen on "
            "these test records (every default was set or re-checked on validation data only: docs/generators.md)")
    if ablations:
        text += (f"; {', '.join(ablations)}: ablation rows of their class's contributions (Generator.variants), "
                 "fixed before any run, not tuned")
    if by_hand:
        text += f"; set by hand on the command line, not tuned by ehrbench: {', '.join(by_hand)}"
    return text + "."
