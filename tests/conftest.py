"""Settings for the whole test run."""

import signal


def pytest_configure(config):
    # A run started with SIGINT ignored (a script's background job: `pytest &`) would
    # pass that on to every process it starts, and the tests that press Ctrl-C on
    # submit.py would test the runner instead of the product. With a handler here,
    # every process started from now on begins with Ctrl-C's default action.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
