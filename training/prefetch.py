"""Batches made ahead in a thread, and the time training spent waiting for them.

No Keras here. ``model.fit`` reads a Python generator the same way on every
backend; made ahead, the next batches are sliced, copied and one-hot encoded
while a step runs, so a step waits only when the stream is slower than the
device. ``InputClock`` adds up that wait: the share of training time a step
spent waiting for input, which ``metrics.json`` reports.
"""

import queue
import threading
import time

_END = object()


class InputClock:
    """Seconds the consumer spent blocked waiting for the next batch, and batches taken."""

    def __init__(self):
        self.wait_seconds = 0.0
        self.batches = 0

    def describe(self, train_seconds: float) -> dict:
        share = self.wait_seconds / train_seconds if train_seconds > 0 else None
        return {"input_wait_s": self.wait_seconds, "input_wait_share": share}


def prefetched(batches, depth: int = 2, clock: InputClock | None = None):
    """Yield what ``batches`` yields, ``depth`` items made ahead in a thread.

    The thread starts at the first item asked for, so a stream opened and
    never read reads nothing, and stops when the consumer closes the
    generator. An error in the stream is raised in the consumer.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, received {depth}")
    clock = clock or InputClock()
    made = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in batches:
                if not _put(made, item, stop):
                    return
            _put(made, _END, stop)
        except BaseException as error:  # handed to the consumer, raised there
            _put(made, error, stop)

    producer = threading.Thread(target=produce, name="batch-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            started = time.perf_counter()
            item = made.get()
            clock.wait_seconds += time.perf_counter() - started
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            clock.batches += 1
            yield item
    finally:
        stop.set()


def _put(made: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer has gone; False once it has."""
    while not stop.is_set():
        try:
            made.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
