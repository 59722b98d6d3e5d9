"""An order: reserve inventory and charge the card concurrently, wait until the order may
ship, ship it. When the charge fails the reservation is released (compensation) and the order
fails with ``PaymentFailed``. The same workflow as examples/order/workflow (Rust).

    weft build python workflow.py -o order.wasm
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import List

import weft


@dataclass
class Item:
    sku: str
    quantity: int
    price_cents: int


@dataclass
class Card:
    number: str


@dataclass
class Order:
    order_id: str
    items: List[Item]
    card: Card
    ship_after_ms: int = 0


@dataclass
class Receipt:
    order_id: str
    reservation_id: str
    charge_id: str
    tracking_number: str
    total_cents: int


@weft.workflow
async def order(order: Order) -> Receipt:
    if not order.items:
        raise weft.Failure("InvalidOrder", "an order needs at least one item")
    total_cents = sum(i.price_cents * i.quantity for i in order.items)

    # Both start now and run concurrently.
    reserve = weft.start_activity(
        "reserve_inventory", {"order_id": order.order_id, "items": order.items}
    )
    charge = weft.start_activity(
        "charge_card",
        {
            "order_id": order.order_id,
            "card_number": order.card.number,
            "amount_cents": total_cents,
        },
    )
    reservation = await reserve
    try:
        charged = await charge
    except weft.Failure as payment:
        # Compensation: give the reserved items back, then fail the order.
        await weft.execute_activity(
            "release_inventory", {"reservation_id": reservation["reservation_id"]}
        )
        raise weft.Failure(
            "PaymentFailed",
            f"payment for {order.order_id} failed: {payment}",
            details=payment.error_type,
        ) from None

    await weft.sleep(timedelta(milliseconds=order.ship_after_ms))
    shipped = await weft.execute_activity(
        "ship_order",
        {"order_id": order.order_id, "reservation_id": reservation["reservation_id"]},
    )
    return Receipt(
        order_id=order.order_id,
        reservation_id=reservation["reservation_id"],
        charge_id=charged["charge_id"],
        tracking_number=shipped["tracking_number"],
        total_cents=total_cents,
    )
