"""Train / validation / test splits by genomic region: whole contigs or pieces of one contig.

Users of a single assembled chromosome (plants, fungi, a new assembly) hold data out by
region, not by chromosome, so every plugin that splits annotated data takes::

    --train-regions / --val-regions / --test-regions  CONTIG[:START-END],...

``START-END`` is 1-based and inclusive, as samtools writes a region (``chr1:1-16000000`` is the
0-based, end-exclusive interval [0, 16,000,000)); a bare ``CONTIG`` is the whole contig.
Contig names compare without a leading ``chr`` (GENCODE ``chr1`` == Ensembl ``1``).

A feature (a transcript, a window) belongs to a split only when it lies wholly inside one of the
split's regions; one that crosses a region edge belongs to none, so nothing leaks across a
boundary. When ``--train-regions`` is not given, training is everything outside the validation
and test regions (the same whole-inside rule applies to that complement).

:class:`RegionSplits` is parsed from the option strings, then :meth:`RegionSplits.check`ed
against the contig lengths (FASTA or annotation) before any expensive step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from genotool.errors import UserError
from genotool.genome.fasta import canonical

SPLITS = ("train", "val", "test")
OPTIONS = {"train": "--train-regions", "val": "--val-regions", "test": "--test-regions"}
_RANGE = re.compile(r"^(\d+)-(\d+)$")


@dataclass(frozen=True)
class Region:
    """One contig, or the 0-based half-open piece [start, end) of it (``end=None``: to its end)."""

    contig: str
    start: int = 0
    end: int | None = None

    @property
    def key(self) -> str:
        """The contig's name without a leading 'chr' (how names are compared)."""
        return canonical(self.contig)

    def stop(self, length: int) -> int:
        """End of the region on a contig of ``length`` bp."""
        return length if self.end is None else self.end

    def contains(self, contig: str, start: int, end: int) -> bool:
        """Whether [start, end) on ``contig`` lies wholly inside this region."""
        return (canonical(contig) == self.key and start >= self.start
                and (self.end is None or end <= self.end))

    def overlaps(self, other: "Region") -> bool:
        if self.key != other.key:
            return False
        a_end = float("inf") if self.end is None else self.end
        b_end = float("inf") if other.end is None else other.end
        return self.start < b_end and other.start < a_end

    def __str__(self) -> str:
        if self.end is None and self.start == 0:
            return self.contig
        end = "" if self.end is None else str(self.end)
        return f"{self.contig}:{self.start + 1}-{end}"


def parse_region(text: str, option: str) -> Region:
    """``CONTIG`` or ``CONTIG:START-END`` (1-based inclusive) -> :class:`Region`.

    A contig whose own name holds ':' (HLA-style) is read whole when its tail is no range."""
    text = text.strip()
    if not text:
        raise UserError(f"{option}: empty region")
    name, colon, rng = text.rpartition(":")
    if not colon or not re.fullmatch(r"[\d_]*-[\d_]*", rng):
        return Region(text)   # a whole contig (its name may hold ':')
    m = _RANGE.match(rng.replace("_", ""))
    if m is None or not name:
        raise UserError(f"{option}: '{text}' is not CONTIG:START-END (1-based, inclusive, e.g. chr1:1-16000000)")
    start, end = int(m.group(1)), int(m.group(2))
    if start < 1:
        raise UserError(f"{option}: '{text}': START is 1-based (the first base is 1, as samtools counts)")
    if end < start:
        raise UserError(f"{option}: '{text}': END {end} is before START {start}")
    return Region(name, start - 1, end)


def parse_regions(text: str | None, option: str) -> list[Region]:
    """A comma-separated list of regions (empty or None -> [])."""
    return [parse_region(part, option) for part in (text or "").split(",") if part.strip()]


@dataclass
class RegionSplits:
    """Which regions make up train, val and test. ``train`` empty: everything not held out."""

    train: list[Region] = field(default_factory=list)
    val: list[Region] = field(default_factory=list)
    test: list[Region] = field(default_factory=list)

    @classmethod
    def parse(cls, train: str | None = None, val: str | None = None, test: str | None = None) -> "RegionSplits":
        """From the three option strings; overlapping regions of two splits are an error."""
        splits = cls(parse_regions(train, OPTIONS["train"]), parse_regions(val, OPTIONS["val"]),
                     parse_regions(test, OPTIONS["test"]))
        splits._check_disjoint()
        return splits

    def regions(self, split: str) -> list[Region]:
        return getattr(self, split)

    @property
    def held_out(self) -> list[Region]:
        return self.val + self.test

    def _check_disjoint(self) -> None:
        named = [(s, r) for s in SPLITS for r in self.regions(s)]
        for i, (sa, a) in enumerate(named):
            for sb, b in named[i + 1:]:
                if a.overlaps(b):
                    where = OPTIONS[sa] if sa == sb else f"{OPTIONS[sa]} and {OPTIONS[sb]}"
                    raise UserError(f"{where}: regions {a} and {b} overlap (a base may be in one split only)")

    def check(self, lengths: dict[str, int], source) -> None:
        """Every region's contig must exist in ``lengths`` (name -> bp, from ``source``, a FASTA
        or annotation named in the message) and end inside it; at least one test region."""
        by_key = {canonical(k): v for k, v in lengths.items()}
        for split in SPLITS:
            for r in self.regions(split):
                length = by_key.get(r.key)
                if length is None:
                    some = ", ".join(list(lengths)[:3])
                    raise UserError(f"{OPTIONS[split]}: contig '{r.contig}' is not in {source} (it has {some}...)")
                if r.start >= length or (r.end is not None and r.end > length):
                    raise UserError(f"{OPTIONS[split]}: region {r} lies outside contig '{r.contig}' "
                                    f"({length:,} bp in {source})")

    def split_of(self, contig: str, start: int, end: int) -> str | None:
        """The split holding [start, end) on ``contig`` wholly, or None (crosses an edge, or is
        outside every region while train regions were given)."""
        for split in ("test", "val", "train"):
            if any(r.contains(contig, start, end) for r in self.regions(split)):
                return split
        if self.train:
            return None
        key = canonical(contig)
        if any(r.key == key and r.start < end and (r.end is None or start < r.end) for r in self.held_out):
            return None   # touches a held-out region
        return "train"

    def intervals(self, split: str, lengths: dict[str, int]) -> list[Region]:
        """The split's pieces as concrete [start, end) regions over the contigs of ``lengths``
        (for windowing a genome). Train without explicit regions: each contig minus the held-out
        pieces on it."""
        by_key = {canonical(k): (k, v) for k, v in lengths.items()}
        if split != "train" or self.train:
            out = []
            for r in self.regions(split):
                name, length = by_key[r.key]
                out.append(Region(name, r.start, r.stop(length)))
            return out
        out = []
        for name, length in lengths.items():
            cuts = sorted((r.start, r.stop(length)) for r in self.held_out if r.key == canonical(name))
            pos = 0
            for a, b in cuts:
                if a > pos:
                    out.append(Region(name, pos, a))
                pos = max(pos, b)
            if pos < length:
                out.append(Region(name, pos, length))
        return out

    def describe(self) -> dict[str, list[str]]:
        """For metadata.json: each split's regions as the user would write them."""
        return {s: [str(r) for r in self.regions(s)] or (["everything else"] if s == "train" else [])
                for s in SPLITS}
