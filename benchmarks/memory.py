"""Resident memory of the running benchmark process, for the scripts that report peak memory."""

from __future__ import annotations


def rss() -> int:
    """Current resident set size in bytes (Linux /proc; 0 where it cannot be read)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
