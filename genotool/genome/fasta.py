"""Indexed FASTA access and chromosome-name matching.

:func:`open_fasta` opens a plain or bgzipped FASTA with pysam (htslib's faidx), which builds the
``.fai`` (and the ``.gzi`` of a bgzipped file) when it is missing. Every failure is one line
with its own cause: not found or unreadable, plain gzip (needs bgzip), not a FASTA, lines of
different lengths inside one sequence, or a folder where the index cannot be written.

A ``.fai`` left beside a FASTA that was edited or cut after indexing is refused (``delete it,
genotool rebuilds it``), never used: htslib reads bases at the index's byte offsets, so a stale
index returns wrong sequence, or fails halfway through a run. The check reads the file at the
index's offsets: each record's header line just before its sequence, its last base where the
index puts it and the next header (or the end of the file) right after it; modification times
are not compared (a copied or downloaded index can be older than its FASTA and still right).
Files of more than 256 records are checked at 256 records spread over the file, always
including the first and the last: an edit that adds or removes bytes moves every later record,
so one checked record after it finds it (50,000 records: 0.03-0.09 s plain, 0.3-0.5 s bgzip,
measured at load average 7.5 on 2 cores; once per process and file state).
"""

from __future__ import annotations

import bisect
import struct
from pathlib import Path

from genotool.errors import UserError

MAX_CHECKED_RECORDS = 256
HEADER_WINDOW = 1024              # bytes read before a record's offset to find its header line
_checked: set = set()            # (path, size, mtime, index size, index mtime) of indexes found valid


def canonical(name: str) -> str:
    """Chromosome names compare without a leading 'chr' (GENCODE 'chr1' == Ensembl '1')."""
    return name[3:] if name.lower().startswith("chr") else name


def open_fasta(path: Path):
    """Open an indexed FASTA (plain or bgzip); build the .fai if missing; one-line errors."""
    import pysam

    from genotool.genome.hts import quiet_htslib

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: FASTA not found" if not path.exists() else f"{path}: FASTA is not a file")
    kind = _compression(path)
    if kind == "gzip":
        raise UserError(f"{path}: FASTA is compressed with plain gzip, which cannot be indexed; recompress it "
                        f"with bgzip (`gunzip {path.name} && bgzip {path.stem}`) or leave it uncompressed")
    fai = Path(f"{path}.fai")
    gzi = Path(f"{path}.gzi")
    missing = [p for p in ((fai, gzi) if kind == "bgzf" else (fai,)) if not p.exists()]
    if missing:
        from genotool.outputs import check_writable

        try:
            check_writable(missing[0], option=str(path))
        except UserError as exc:
            raise UserError(f"{exc}: the FASTA has no index there and genotool cannot write one; index it with "
                            "`samtools faidx` in a folder you can write and put the index beside it, or copy "
                            "the FASTA to such a folder") from None
    else:
        check_index(path, fai, gzi if kind == "bgzf" else None)
    try:
        with quiet_htslib():
            return pysam.FastaFile(str(path))
    except (OSError, ValueError) as exc:
        raise UserError(_index_failure(path, kind, exc)) from None


def _compression(path: Path) -> str:
    """'plain', 'bgzf' (blocked gzip with the BC extra field) or 'gzip'; unreadable -> UserError."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(18)
    except OSError as exc:
        raise UserError(f"{path}: FASTA cannot be read ({exc.strerror or exc})") from None
    if head[:2] != b"\x1f\x8b":
        return "plain"
    bgzf = len(head) >= 16 and head[3] & 4 and head[12:14] == b"BC"
    return "bgzf" if bgzf else "gzip"


def _index_failure(path: Path, kind: str, exc: Exception) -> str:
    """The cause of an indexing failure, found by reading the FASTA as faidx would."""
    import gzip

    opener = gzip.open if kind == "bgzf" else open
    try:
        with opener(path, "rb") as fh:
            cause = _layout_problem(fh)
    except (OSError, EOFError) as err:
        cause = f"FASTA cannot be read to the end ({err})"
    if cause:
        return f"{path}: {cause}"
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{path}: FASTA cannot be indexed: {msg}"


def _layout_problem(fh) -> str | None:
    """What faidx cannot index in this FASTA text: no header, or lines of different lengths
    inside one sequence (each but the last line of a sequence must be as long as the first)."""
    rewrap = "rewrap it to one line length, e.g. `seqkit seq -w 60`"
    name, width, short, n = None, None, None, 0        # short: (line, bases) of a line shorter than width
    for n, raw in enumerate(fh, start=1):
        line = raw.rstrip(b"\r\n")
        if line.startswith(b">"):
            name, width, short = (line[1:].split() or [b""])[0].decode(errors="replace"), None, None
            continue
        if name is None:
            if line.strip():
                return f"not a FASTA file: line {n} comes before any '>' header line"
            continue
        if not line:
            short = short or (n, 0)
            continue
        if short is not None:
            what = "an empty line" if short[1] == 0 else f"a line of {short[1]} bases"
            return (f"FASTA line {short[0]}: sequence '{name}' has {what} before more sequence (faidx needs every line "
                    f"of a sequence but the last to be {width} bases long); {rewrap}")
        if width is None:
            width = len(line)
        elif len(line) > width:
            return (f"FASTA line {n}: sequence '{name}' has a line of {len(line)} bases after lines of {width} (faidx "
                    f"needs one line length per sequence); {rewrap}")
        elif len(line) < width:
            short = (n, len(line))
    return "the FASTA is empty" if n == 0 else None


class _Bytes:
    """Reads uncompressed byte ranges of a plain or bgzipped file (bgzip through its .gzi)."""

    def __init__(self, path: Path, gzi: Path | None):
        self.gzi = gzi
        if gzi is None:
            self.fh = open(path, "rb")
            return
        import pysam

        self.fh = pysam.BGZFile(str(path), "rb")
        data = gzi.read_bytes()
        (n,) = struct.unpack_from("<Q", data)
        pairs = struct.unpack_from(f"<{2 * n}Q", data, 8) if len(data) >= 8 + 16 * n else ()
        if len(pairs) != 2 * n:
            raise ValueError(f"{gzi} is truncated")
        self.blocks = [(0, 0)] + [(pairs[2 * i + 1], pairs[2 * i]) for i in range(n)]   # (uncompressed, compressed)
        self.csize = path.stat().st_size
        if any(c >= self.csize for _, c in self.blocks[1:]):
            raise ValueError(f"{gzi} points past the end of the file")

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0:
            return b""
        if self.gzi is None:
            self.fh.seek(offset)
            return self.fh.read(n)
        i = bisect.bisect_right(self.blocks, (offset, float("inf"))) - 1
        u, c = self.blocks[i]
        try:
            self.fh.seek((c << 16) | (offset - u))
            return self.fh.read(n)
        except (OSError, ValueError):
            return b""

    def close(self) -> None:
        self.fh.close()


def check_index(path: Path, fai: Path, gzi: Path | None = None) -> None:
    """Refuse (one line) a .fai (and .gzi) that does not describe ``path`` as it is now."""
    st, fst = path.stat(), fai.stat()
    key = (str(path.absolute()), st.st_size, st.st_mtime_ns, fst.st_size, fst.st_mtime_ns)
    if key in _checked:
        return
    problem = _index_problem(path, fai, gzi)
    if problem:
        extra = f" and {gzi.name}" if gzi is not None else ""
        raise UserError(f"{path}: its index {fai.name} does not match the FASTA ({problem}): the file changed after "
                        f"it was indexed; delete {fai.name}{extra} (genotool rebuilds the index) or run "
                        "`samtools faidx` on it again")
    _checked.add(key)


def _index_problem(path: Path, fai: Path, gzi: Path | None) -> str | None:
    try:
        lines = fai.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return f"the index cannot be read ({exc})"
    if not lines:
        return "the index lists no sequences"
    picks = range(len(lines))                      # faidx writes records in file order
    if len(lines) > MAX_CHECKED_RECORDS:
        step = (len(lines) - 1) / (MAX_CHECKED_RECORDS - 1)
        picks = sorted({round(i * step) for i in range(MAX_CHECKED_RECORDS)})
    entries = []
    for n in picks:
        f = lines[n].split("\t")
        try:
            entries.append((int(f[2]), f[0], int(f[1]), int(f[3]), int(f[4])))
        except (IndexError, ValueError):
            return f"line {n + 1} of the index is not a faidx record"
    entries.sort()
    try:
        reader = _Bytes(path, gzi)
    except (OSError, ValueError, struct.error) as exc:
        return str(exc)
    try:
        for offset, name, length, lbases, lwidth in entries:
            why = _record_problem(reader, offset, name, length, lbases, lwidth)
            if why:
                return f"sequence '{name}': {why}"
    finally:
        reader.close()
    return None


def _record_problem(reader: _Bytes, offset: int, name: str, length: int, lbases: int, lwidth: int) -> str | None:
    """Is sequence ``name`` where the index says: header line ending right before ``offset``,
    its last base at the computed byte, then a line end and the next header or the end."""
    if offset <= 0 or length < 0 or lbases <= 0 or lwidth < lbases:
        return "the index line is impossible"
    before = reader.read(max(0, offset - HEADER_WINDOW), min(offset, HEADER_WINDOW))
    if not before.endswith(b"\n"):
        return f"no header line ends at byte {offset}"
    start = before.rfind(b"\n", 0, len(before) - 1) + 1
    header = before[start:-1].rstrip(b"\r")
    if start > 0 or offset <= HEADER_WINDOW:      # else a header longer than the window: not checked
        token = header[1:].split(maxsplit=1)[0] if header[1:].split() else b""
        if not header.startswith(b">") or token != name.encode():
            return f"the line before byte {offset} is not its header"
    if length == 0:
        return None
    last = offset + ((length - 1) // lbases) * lwidth + (length - 1) % lbases
    tail = reader.read(last, 2 + (lwidth - lbases) + 256)
    if not tail:
        return f"the file ends before its last base (byte {last})"
    rest = tail[1:]
    if tail[:1].isspace() or (rest and rest[:1] not in (b"\n", b"\r")) or (rest.lstrip()[:1] not in (b"", b">")):
        return f"its {length} bases are not where the index puts them"
    return None


def fasta_contig(fa_names: dict, chrom: str, transcripts, gtf, fasta) -> str:
    """The FASTA's name for GTF contig ``chrom`` (``fa_names``: canonical -> FASTA name), or a
    one-line UserError naming the first transcript on a contig the FASTA lacks."""
    name = fa_names.get(canonical(chrom))
    if name is None:
        t = transcripts[0]
        raise UserError(f"{gtf}: line {t.line}: transcript {t.transcript_id} is on contig '{chrom}', "
                        f"which is not in {fasta}")
    return name
