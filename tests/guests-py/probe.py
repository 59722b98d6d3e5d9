"""A probe of what CPython's own sources of time and randomness give inside a weft workflow:
weft answers WASI clocks and random from the run's history, so two runs differ and a replay
gives the same values."""

import os
import random
import time

import weft


@weft.workflow
async def probe(_input=None):
    await weft.sleep(0.01)
    return {
        "now_ms": weft.now_ms(),
        "random": random.random(),
        "time": round(time.time() * 1000),
        "urandom": os.urandom(8).hex(),
        "uuid": weft.uuid4(),
        # Fixed by the build's pinned hash seed: the same in every build of this file.
        "str_hash": hash("weft"),
        "set_order": list({"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"}),
    }
