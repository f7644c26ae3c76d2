"""Reading a data-file feed: the files on both sides, their sha256sum-format manifests, and the flow policy.

A feed moves batch files from a source directory to a destination directory and keeps a manifest
(`<sha256>  <name>` per line, as `sha256sum` writes it) on both sides. A file counts as delivered when the
destination manifest lists it and it exists there. Checksums are recomputed from the destination files,
cached by (size, mtime, ctime, inode) so an unchanged file is hashed once per `checksum_recheck_seconds`.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r"^(?P<digest>[0-9a-fA-F]{64}) [ *](?P<name>.+)$")


class FeedError(RuntimeError):
    """A feed cannot be read (missing or unreadable directory or manifest); the message names the fix."""


@dataclass(frozen=True)
class Manifest:
    entries: dict[str, str]  # file name -> lower-case hex sha256
    invalid_lines: int = 0


def _unescape(name: str) -> str | None:
    """sha256sum escapes names with a backslash, newline or carriage return (line starts with '\\'); undo it."""
    out, i = [], 0
    while i < len(name):
        ch = name[i]
        if ch == "\\":
            nxt = name[i + 1:i + 2]
            if nxt == "\\":
                out.append("\\")
            elif nxt == "n":
                out.append("\n")
            elif nxt == "r":
                out.append("\r")
            else:
                return None
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def safe_name(name: str) -> bool:
    """A plain file name inside the feed directory: no path separator, no '.'/'..', no NUL."""
    return bool(name) and "/" not in name and "\x00" not in name and name not in (".", "..")


def parse_manifest(text: str) -> Manifest:
    """Entries of a sha256sum-format manifest. Blank lines and '#' comments are skipped; any other line
    that is not `<64 hex> <space|*><name>` with a plain file name counts as invalid and is ignored."""
    entries: dict[str, str] = {}
    invalid = 0
    for raw in text.split("\n"):  # only newline ends a line: names may hold any other character
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        escaped = line.startswith("\\")
        match = _LINE.match(line[1:] if escaped else line)
        name = match and (_unescape(match.group("name")) if escaped else match.group("name"))
        if not match or name is None or not safe_name(name):
            invalid += 1
            continue
        entries[name] = match.group("digest").lower()
    return Manifest(entries, invalid)


def format_manifest(entries: dict[str, str]) -> str:
    """The manifest text `sha256sum` would write for these entries (the inverse of parse_manifest)."""
    lines = []
    for name, digest in sorted(entries.items()):
        if "\\" in name or "\n" in name or "\r" in name:
            escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            lines.append("\\" + digest + "  " + escaped)
        else:
            lines.append(f"{digest}  {name}")
    return "".join(line + "\n" for line in lines)


def direction_allowed(source_zone: str, destination_zone: str, allowed: Iterable[Iterable[str]]) -> bool:
    """True when the flow policy lets data move from source_zone to destination_zone (same zone: always)."""
    return source_zone == destination_zone or (source_zone, destination_zone) in {tuple(p) for p in allowed}


@dataclass
class FeedReading:
    source_files: int
    destination_files: int
    pending_files: int
    checksum_mismatches: int
    last_transfer: float  # newest mtime of a delivered file; 0 = nothing delivered yet
    invalid_manifest_lines: int = 0


@dataclass
class HashCache:
    """sha256 of files by path, reused while (size, mtime, ctime, inode) is unchanged and the entry is younger
    than `recheck_seconds`. ctime is in the key because mtime can be set back after an in-place change (as
    `touch -r` or a careless copy tool does) while ctime cannot; the recheck catches what no stat shows."""

    recheck_seconds: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    entries: dict[str, tuple[tuple[int, int, int, int], float, str]] = field(default_factory=dict)

    def digest(self, path: Path, st: os.stat_result) -> str:
        key = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        hit = self.entries.get(str(path))
        now = self.clock()
        if hit and hit[0] == key and now - hit[1] < self.recheck_seconds:
            return hit[2]
        sha = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                sha.update(chunk)
        value = sha.hexdigest()
        self.entries[str(path)] = (key, now, value)
        return value

    def keep_only(self, paths: set[str]) -> None:
        """Forget files no longer present, so the cache stays as small as the feed."""
        for stale in set(self.entries) - paths:
            del self.entries[stale]


def _list_files(directory: Path, manifest_name: str, side: str, feed: str) -> dict[str, os.stat_result]:
    """Regular data files in `directory` (not the manifest, not dot-files: temporary names while copying)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        raise FeedError(f"feed {feed}: {side} directory {directory} does not exist; create it, or fix "
                        f"{side}_dir / feeds_root in the config") from None
    except NotADirectoryError:
        raise FeedError(f"feed {feed}: {side} directory {directory} is not a directory; fix {side}_dir") from None
    except PermissionError:
        raise FeedError(f"feed {feed}: {side} directory {directory} is not readable by the exporter; grant it "
                        "read access (group or ACL)") from None
    files = {}
    for name in names:
        if name == manifest_name or name.startswith("."):
            continue
        try:
            st = os.stat(directory / name)
        except OSError:
            continue  # removed while we looked
        if stat.S_ISREG(st.st_mode):
            files[name] = st
    return files


def _read_manifest(path: Path, feed: str) -> Manifest | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise FeedError(f"feed {feed}: manifest {path} is a directory; fix checksum_manifest") from None
    except PermissionError:
        raise FeedError(f"feed {feed}: manifest {path} is not readable by the exporter; grant read access") from None
    return parse_manifest(data.decode("utf-8", errors="replace"))


def read_feed(source: Path, destination: Path, manifest_name: str, feed: str, cache: HashCache) -> FeedReading:
    """Count, compare and checksum one feed. Raises FeedError when a side cannot be read at all.

    - pending: names the source manifest lists (or, without one, the source's files) not yet delivered;
    - checksum mismatches: destination manifest entries whose file is missing or whose sha256 differs.
    """
    source_files = _list_files(source, manifest_name, "source", feed)
    destination_files = _list_files(destination, manifest_name, "destination", feed)
    source_manifest = _read_manifest(source / manifest_name, feed)
    destination_manifest = _read_manifest(destination / manifest_name, feed) or Manifest({})
    delivered = {n for n in destination_manifest.entries if n in destination_files}
    wanted = set(source_manifest.entries) if source_manifest is not None else set(source_files)
    mismatches = 0
    for name, digest in destination_manifest.entries.items():
        st = destination_files.get(name)
        if st is None:
            mismatches += 1
            continue
        try:
            if cache.digest(destination / name, st) != digest:
                mismatches += 1
        except FileNotFoundError:
            mismatches += 1  # removed between listing and hashing
        except OSError as exc:
            raise FeedError(f"feed {feed}: cannot read {destination / name} to checksum it "
                            f"({exc.strerror or exc}); grant the exporter read access") from None
    cache.keep_only({str(destination / n) for n in destination_manifest.entries if n in destination_files})
    last = max((destination_files[n].st_mtime for n in delivered), default=0.0)
    return FeedReading(
        source_files=len(source_files),
        destination_files=len(destination_files),
        pending_files=len(wanted - delivered),
        checksum_mismatches=mismatches,
        last_transfer=float(last),
        invalid_manifest_lines=(source_manifest.invalid_lines if source_manifest else 0)
        + destination_manifest.invalid_lines,
    )
