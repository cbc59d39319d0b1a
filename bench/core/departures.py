"""What a generator does differently from its published configuration, declared in one place.

Every generator class carries one :class:`Departures` (``Generator.departures``): the basis of its
schedule (``published``: the paper's or public code's schedule, against which ``schedule_fraction``
is measured; ``own default``: no published configuration exists, so the fraction is measured
against ehrbench's own default) and the departures from the published code at its defaults, one
phrase each. The run's manifest records it, and the ‡ footnotes, every caption and the report's
departures table are generated from it alone, so no table passes a departure off as the published
method and none calls a schedule "published" that is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PUBLISHED = "published"
OWN_DEFAULT = "own default"
BASES = (PUBLISHED, OWN_DEFAULT)


@dataclass(frozen=True)
class Departures:
    """A generator's schedule basis and its departures from the published configuration."""

    schedule: str = PUBLISHED
    changes: tuple[str, ...] = ()
    #: what a named preset changes beyond a shorter schedule (which ``schedule_fraction`` shows)
    presets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.schedule not in BASES:
            raise ValueError(f"schedule basis must be one of {', '.join(BASES)}, got {self.schedule!r}")
        if isinstance(self.changes, str):
            object.__setattr__(self, "changes", (self.changes,) if self.changes else ())

    def text(self, preset: str | None = None) -> str:
        """The departures in one line ("" when none), with ``preset``'s own changes if it has any."""
        parts = list(self.changes)
        if preset and self.presets.get(preset):
            parts.append(f"preset {preset}: {self.presets[preset]}")
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {"schedule": self.schedule, "changes": list(self.changes), "presets": dict(self.presets)}

    @classmethod
    def from_json(cls, obj: object) -> Departures:
        """From a manifest: the dict :meth:`to_json` writes, or the one-line string older
        manifests hold (its schedule basis then unknown: published)."""
        if isinstance(obj, Departures):
            return obj
        if isinstance(obj, dict):
            return cls(str(obj.get("schedule", PUBLISHED)), tuple(obj.get("changes") or ()),
                       dict(obj.get("presets") or {}))
        return cls(PUBLISHED, (str(obj),) if obj else ())
