"""The conformance workflow of the Python SDK: input ``{"case": NAME, ...}``. The Rust and
TypeScript conformance workflows implement the same cases and issue the same commands in the
same order, so their histories can be compared. Result objects have their keys in alphabetical
order (as Rust's ``json!``). Activity ``echo`` returns its input; ``fail`` always fails with
the non-retryable error type ``Boom``."""

import weft


async def activities(_input):
    a = await weft.execute_activity("echo", {"n": 1})
    b = weft.start_activity("echo", {"n": 2})
    c = weft.start_activity("echo", {"n": 3})
    b, c = await weft.gather(b, c)
    return {"results": [a, b, c]}


async def timer_race(_input):
    timer = weft.start_timer(3600)
    activity = weft.start_activity("echo", {"n": 1})
    first = await weft.wait_first(timer, activity)
    if first == 0:
        return {"winner": "timer"}
    timer.cancel()
    return {"value": await activity, "winner": "activity"}


async def signals(_input):
    total = 0
    weft.set_query_handler("total", lambda: total)
    channel = weft.signal_channel("add")
    for _ in range(3):
        total += await channel.receive()
    return {"total": total}


async def update(_input):
    state = {}

    def validate(value):
        if value < 0:
            raise weft.Failure("Negative", "the value must not be negative")

    def set_value(value):
        state["value"] = value
        return value * 2

    weft.set_update_handler("set_value", set_value, validator=validate)
    await weft.wait_condition(lambda: "value" in state)
    v = state["value"]
    await weft.execute_activity("echo", {"value": v})
    return {"value": v}


async def child(_input):
    child_id = weft.info().workflow_id + "-child"
    result = await weft.execute_child_workflow("conformance", child_id, {"case": "activities"})
    return {"child": result}


async def deterministic(_input):
    patched = weft.patched("conformance-patch")
    if patched:
        await weft.execute_activity("echo", {"patched": True})
    u = weft.uuid4()
    t = weft.now_ms()
    return {"now_ms": t, "patched": patched, "uuid": u}


async def cancel(_input):
    try:
        await weft.sleep(3600)
    except weft.CancelledError:
        await weft.execute_activity("echo", {"compensate": True})
        raise
    return {"slept": True}


async def continue_as_new(input):
    n = input.get("n", 0)
    if n < 2:
        weft.continue_as_new({"case": "continue_as_new", "n": n + 1})
    return {"n": n}


async def failure(_input):
    try:
        return await weft.execute_activity("fail", {"n": 1})
    except weft.ActivityError as e:
        raise weft.Failure("Wrapped", "activity failed: " + e.error_type) from None


CASES = {
    "activities": activities,
    "timer_race": timer_race,
    "signals": signals,
    "update": update,
    "child": child,
    "deterministic": deterministic,
    "cancel": cancel,
    "continue_as_new": continue_as_new,
    "failure": failure,
}


@weft.workflow
async def conformance(input: dict):
    name = input.get("case")
    case = CASES.get(name)
    if case is None:
        raise weft.Failure("UnknownCase", f"no conformance case named '{name}'", None, True)
    return await case(input)
