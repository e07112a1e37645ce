"""Damage met while decoding a stream: undecodable packets and an early end.

An archive holds many files with a corrupt frame or a cut tail. A player conceals such
damage and plays the rest; so does the decoding here (binaural.io.video): an undecodable
audio packet becomes silence of its length (the audio stays in sync with the picture),
an undecodable video packet is skipped, and a stream that ends early is padded. The
record below says how much was lost and where; an item fails only when the lost share
of its length is over a threshold (scene.max_lost_fraction).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_TIMES = 5  # places named in a warning; the count says how many there were
MIN_SHORT_S = 0.1  # a stream this much shorter than stated is cut (codec padding is less)


@dataclass
class Damage:
    """What one stream lost while it was decoded (filled in as decoding goes)."""

    stream: str  # "audio" or "video"
    packets: int = 0  # undecodable packets
    packets_lost_s: float = 0.0
    times_s: list[float] = field(default_factory=list)  # where, the first MAX_TIMES
    ended_at_s: float | None = None  # where a stream cut short stopped
    short_s: float = 0.0  # how much was missing at its end

    def packet(self, time_s: float, duration_s: float) -> None:
        """Record one undecodable packet starting at `time_s`."""
        self.packets += 1
        self.packets_lost_s += max(0.0, duration_s)
        if len(self.times_s) < MAX_TIMES:
            self.times_s.append(round(time_s, 3))

    def ended(self, at_s: float, stated_s: float) -> None:
        """Record where the stream stopped against its stated duration."""
        if stated_s - at_s >= MIN_SHORT_S:
            self.ended_at_s, self.short_s = round(at_s, 3), stated_s - at_s

    @property
    def lost_s(self) -> float:
        return self.packets_lost_s + self.short_s

    def __bool__(self) -> bool:
        return bool(self.packets or self.short_s)

    def lost_fraction(self, duration_s: float) -> float:
        return self.lost_s / duration_s if duration_s > 0 else 0.0

    def describe(self) -> str:
        """One line: how many packets, where, what was lost and how it was filled."""
        parts = []
        if self.packets:
            where = ", ".join(f"{t:.2f}" for t in self.times_s)
            more = ", ..." if self.packets > len(self.times_s) else ""
            fill = "silence" if self.stream == "audio" else "skipped"
            parts.append(f"{self.packets} undecodable {self.stream} packet"
                         f"{'s' if self.packets > 1 else ''} at {where}{more} s "
                         f"({self.packets_lost_s:.3f} s, {fill})")
        if self.short_s:
            parts.append(f"{self.stream} stream ends at {self.ended_at_s:.2f} s, "
                         f"{self.short_s:.2f} s before its stated end (file cut short?)")
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {"packets": self.packets, "times_s": list(self.times_s),
                "lost_s": round(self.lost_s, 4), "ended_at_s": self.ended_at_s}


def judge(damage: Damage, duration_s: float, max_lost_fraction: float) -> str | None:
    """The warning for `damage` (None when there is none).

    Raises:
        ValueError: more than `max_lost_fraction` of the duration was lost (the caller's
            MediaError names the file).
    """
    if not damage:
        return None
    share = damage.lost_fraction(duration_s)
    text = f"{damage.describe()}; {100 * share:.1f}% of {duration_s:.2f} s lost"
    if share > max_lost_fraction:
        raise ValueError(f"{text}, over the {100 * max_lost_fraction:g}% allowed")
    return text
