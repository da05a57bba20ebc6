"""What the operating system says about this process: resident memory, threads, open files
and mappings, page faults (Qdrant's ``memory_*`` and ``process_*`` gauges). Linux's /proc,
read when a scrape asks; elsewhere the figures that cannot be read are left out."""

from __future__ import annotations

import os
import resource
import threading


def _status_field(name: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _count(path: str) -> int | None:
    try:
        if os.path.isdir(path):
            return len(os.listdir(path))
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def figures() -> dict[str, float]:
    """Gauge name (without prefix) → value."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    found: dict[str, float | None] = {
        "memory_resident_bytes": (_status_field("VmRSS:") or 0) * 1024 or None,
        "process_threads": _status_field("Threads:") or threading.active_count(),
        "process_open_fds": _count("/proc/self/fd"),
        "process_max_fds": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "process_open_mmaps": _count("/proc/self/maps"),
        "process_max_mmaps": _read_int("/proc/sys/vm/max_map_count"),
        "process_minor_page_faults_total": usage.ru_minflt,
        "process_major_page_faults_total": usage.ru_majflt,
    }
    return {name: float(value) for name, value in found.items() if value is not None}
