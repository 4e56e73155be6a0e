"""Resident memory of the running benchmark process, for the scripts that report peak memory."""

from __future__ import annotations

from brushwork.core.device import proc_bytes


def rss() -> int:
    """Current resident set size in bytes (Linux /proc; 0 where it cannot be read)."""
    return proc_bytes("/proc/self/status", "VmRSS") or 0
