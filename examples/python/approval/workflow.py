"""An expense approval: the amount can be changed by an update (validated), the state read by
a query, and a ``decide`` signal approves or rejects. An approved expense is paid. The same
workflow as examples/tour/workflows/approval (Rust).

    weft build python workflow.py -o approval.wasm
"""

from dataclasses import dataclass

import weft


@dataclass
class Request:
    id: str
    amount_cents: int


@dataclass
class Decision:
    approved: bool
    by: str


@weft.workflow
async def approval(req: Request) -> dict:
    status = {"amount_cents": req.amount_cents, "state": "waiting for a decision"}

    # Queries read the state and record nothing.
    weft.set_query_handler("status", lambda: dict(status))

    # Updates change it; the validator rejects bad amounts without a trace in the history.
    def validate(cents: int) -> None:
        if cents == 0:
            raise weft.Failure("InvalidAmount", "the amount must be positive")
        if cents > 1_000_000:
            raise weft.Failure("InvalidAmount", "above the 10,000.00 limit")

    def set_amount(cents: int) -> int:
        status["amount_cents"] = cents
        return cents

    weft.set_update_handler("set_amount", set_amount, validator=validate)

    # Signals arrive in the order they were recorded.
    decision = await weft.signal_channel("decide", Decision).receive()
    amount = status["amount_cents"]
    if not decision.approved:
        status["state"] = f"rejected by {decision.by}"
        return {"approved": False, "by": decision.by, "id": req.id}
    status["state"] = f"approved by {decision.by}, paying"
    payment = await weft.execute_activity("pay", {"amount_cents": amount, "id": req.id})
    status["state"] = "paid"
    return {
        "amount_cents": amount,
        "approved": True,
        "by": decision.by,
        "id": req.id,
        "payment": payment,
    }
