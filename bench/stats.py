"""Pure helpers of the benchmarks: medians, ratios, run order, tables, log parsing.

Nothing here times anything or starts a process, so all of it is unit-tested
(tests/unit/test_bench.py).
"""

import math
import re
from datetime import datetime

# Pillow's JPEG draft mode and libjpeg's ``scale_denom`` only scale by these.
JPEG_SCALE_DENOMINATORS = (8, 4, 2, 1)

_CELERY_TIME = re.compile(r"^\[(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): [A-Z]+/[^\]]+\] ")
_EPOCH_LINE = re.compile(r"^(?:train|plain): epoch (?P<epoch>\d+)/\d+\b")
_PREDICT_SUMMARY = re.compile(
    r"^predicted (?P<rows>\d+) images, (?P<seconds>[\d.]+)s in all \((?P<rate>\d+) images/s\)"
)


def median(values) -> float:
    """The median of a non-empty sequence of numbers (mean of the middle two)."""
    ordered = sorted(float(value) for value in values)
    if not ordered:
        raise ValueError("the median of no values is undefined")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; NaN when the denominator is zero or missing."""
    if denominator is None or numerator is None or denominator == 0:
        return math.nan
    return float(numerator) / float(denominator)


def interleaved(names, repeats: int) -> list[tuple[int, str]]:
    """Run order A B A B ...: (repeat, name) pairs, so a load that comes and goes
    (another engineer's tests on the same cores) hits every variant alike."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, received {repeats}")
    return [(repeat, name) for repeat in range(repeats) for name in names]


def rotated(names, shift: int) -> list:
    """``names`` starting at position ``shift`` (wrapping): the order of one block's runs."""
    names = list(names)
    if not names:
        return names
    shift %= len(names)
    return names[shift:] + names[:shift]


def medians_by_name(samples: list[tuple[str, float]]) -> dict[str, float]:
    """``{name: median}`` of (name, value) samples, names in first-seen order."""
    grouped: dict[str, list[float]] = {}
    for name, value in samples:
        grouped.setdefault(name, []).append(value)
    return {name: median(values) for name, values in grouped.items()}


def target_verdict(value: float, target: float, at_most: bool) -> str:
    """``met`` or ``MISSED`` for ``value`` against ``<= target`` (or ``>= target``)."""
    if value is None or math.isnan(value):
        return "n/a"
    met = value <= target if at_most else value >= target
    return "met" if met else "MISSED"


def format_number(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def format_table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table (pastes into BENCHMARKS.md), columns padded to line up.

    Numbers are right-aligned: ints with thousands separators, floats with two
    decimals; strings are kept as they are and left-aligned.
    """
    cells = [[format_number(value) for value in row] for row in rows]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError(f"a row has {len(row)} cells for {len(headers)} columns: {row}")
    numeric = [
        all(not isinstance(row[column], str) or row[column] == "-" for row in rows)
        and any(not isinstance(row[column], str) for row in rows)
        for column in range(len(headers))
    ]
    widths = [
        max([len(header)] + [len(row[column]) for row in cells])
        for column, header in enumerate(headers)
    ]

    def line(values):
        padded = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "| "
        + " | ".join(
            "-" * (width - 1) + ":" if right else "-" * width
            for width, right in zip(widths, numeric)
        )
        + " |"
    )
    return "\n".join([line(headers), rule] + [line(row) for row in cells])


def jpeg_scale(width: int, height: int, size: int) -> int:
    """The scale denominator Pillow's ``draft(mode, (size, size))`` picks.

    The largest of 8, 4, 2, 1 that still leaves both sides at least ``size``
    (``Image.draft``: ``scale = min(width // size, height // size)``); the same
    number goes into ``tf.io.decode_jpeg(..., ratio=)`` for a like-for-like run.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, received {size}")
    scale = min(width // size, height // size)
    for denominator in JPEG_SCALE_DENOMINATORS:
        if scale >= denominator:
            return denominator
    return 1


def first_epoch_seconds(lines: list[tuple[float, str]], started: float):
    """Seconds from ``started`` to the end of epoch 1, from timestamped stderr lines
    ``train: epoch N/E`` (the job) or ``plain: epoch N/E`` (the baseline).

    Returns ``(seconds, exact)``; ``(None, False)`` without two epoch lines. When
    the line of epoch 1 is missing (the client prints an epoch only if one of
    its 0.25 s polls sees that epoch's end state; see BENCHMARKS.md) it is
    extrapolated back from the first two lines it did print, at their pace.
    """
    seen = []
    for stamp, text in lines:
        match = _EPOCH_LINE.match(text.strip())
        if match:
            seen.append((int(match["epoch"]), stamp))
    if seen and seen[0][0] == 1:
        return seen[0][1] - started, True
    if len(seen) < 2 or seen[1][0] <= seen[0][0]:
        return None, False
    (first_epoch, first_stamp), (second_epoch, second_stamp) = seen[:2]
    pace = (second_stamp - first_stamp) / (second_epoch - first_epoch)
    return first_stamp - (first_epoch - 1) * pace - started, False


def line_time(lines: list[tuple[float, str]], prefix: str, started: float) -> float | None:
    """Seconds from ``started`` to the first line that starts with ``prefix``."""
    for stamp, text in lines:
        if text.startswith(prefix):
            return stamp - started
    return None


def parse_predict_summary(text: str) -> dict | None:
    """``{"rows", "seconds", "rate"}`` from ``submit.py predict``'s summary line."""
    for raw in text.splitlines():
        match = _PREDICT_SUMMARY.match(raw.strip())
        if match:
            return {
                "rows": int(match["rows"]),
                "seconds": float(match["seconds"]),
                "rate": float(match["rate"]),
            }
    return None


def celery_log_events(text: str, patterns: dict[str, str]) -> dict[str, tuple[float, tuple]]:
    """First match of each named regex in a Celery worker log, with its wall-clock time.

    Returns ``{name: (unix_time, groups)}``; the log's local-time stamps are read
    in this machine's time zone, as ``time.time()`` is.
    """
    compiled = {name: re.compile(pattern) for name, pattern in patterns.items()}
    found: dict[str, tuple[float, tuple]] = {}
    for raw in text.splitlines():
        stamp_match = _CELERY_TIME.match(raw)
        if not stamp_match:
            continue
        message = raw[stamp_match.end() :]
        for name, pattern in compiled.items():
            if name in found:
                continue
            match = pattern.search(message)
            if match:
                stamp = datetime.strptime(stamp_match["stamp"], "%Y-%m-%d %H:%M:%S,%f")
                found[name] = (stamp.timestamp(), match.groups())
    return found


def proc_status_kib(text: str, field: str) -> int | None:
    """A ``kB`` field (``VmHWM``, ``VmRSS``) of a /proc/<pid>/status text, in KiB."""
    for raw in text.splitlines():
        name, _, value = raw.partition(":")
        if name == field:
            return int(value.split()[0])
    return None


def evenly_spaced(items: list, limit: int | None) -> list:
    """At most ``limit`` items spread evenly over ``items`` (all of them for None or 0)."""
    if not limit or limit >= len(items):
        return list(items)
    step = len(items) / limit
    return [items[int(index * step)] for index in range(limit)]


def proc_stat_busy_seconds(text: str, ticks_per_second: float = 100.0) -> float:
    """CPU-seconds the whole machine spent busy (every core, everyone's processes),
    from the ``cpu`` line of /proc/stat: all time but ``idle`` and ``iowait``."""
    for raw in text.splitlines():
        fields = raw.split()
        if fields and fields[0] == "cpu":
            ticks = [int(value) for value in fields[1:]]
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            # guest and guest_nice (fields 9, 10) are already counted in user and nice.
            return (sum(ticks[:8]) - idle) / ticks_per_second
    raise ValueError("no aggregate cpu line in /proc/stat")


def others_cores(machine_busy_s: float, ours_s: float, wall_s: float) -> float:
    """Cores' worth of CPU that processes other than ours used during ``wall_s``:
    another engineer's tests on a shared machine. Never below zero (clock skew)."""
    if wall_s <= 0:
        return math.nan
    return max(0.0, machine_busy_s - ours_s) / wall_s
