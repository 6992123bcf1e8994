"""One way to wait for a condition: poll it, with a bound, and let the caller say what a
time-out means (most raise naming what never came; some go on)."""

import time


def wait_until(condition, timeout_s: float, interval_s: float = 0.05, on_wait=None) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout_s`` passes (False).

    ``on_wait`` runs between polls and may raise, to stop at once when waiting is no
    longer worth it (a process that should answer has died).
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if on_wait is not None:
            on_wait()
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True
