//! An order: reserve inventory and charge the card concurrently, wait until the order may ship,
//! ship it. When the charge fails the reservation is released (compensation) and the order
//! fails with `PaymentFailed`.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use weft_sdk::{Failure, activity, sleep};

#[derive(Deserialize, Serialize)]
struct Item {
    sku: String,
    quantity: u32,
    price_cents: u64,
}

#[derive(Deserialize)]
struct Card {
    number: String,
}

#[derive(Deserialize)]
struct Order {
    order_id: String,
    items: Vec<Item>,
    card: Card,
    #[serde(default)]
    ship_after_ms: u64,
}

#[derive(Serialize)]
struct Reserve<'a> {
    order_id: &'a str,
    items: &'a [Item],
}

#[derive(Deserialize)]
struct Reservation {
    reservation_id: String,
}

#[derive(Serialize)]
struct Charge<'a> {
    order_id: &'a str,
    card_number: &'a str,
    amount_cents: u64,
}

#[derive(Deserialize)]
struct Charged {
    charge_id: String,
}

#[derive(Serialize)]
struct Release<'a> {
    reservation_id: &'a str,
}

#[derive(Serialize)]
struct Ship<'a> {
    order_id: &'a str,
    reservation_id: &'a str,
}

#[derive(Deserialize)]
struct Shipped {
    tracking_number: String,
}

#[derive(Serialize)]
struct Receipt {
    order_id: String,
    reservation_id: String,
    charge_id: String,
    tracking_number: String,
    total_cents: u64,
}

fn order(order: Order) -> Result<Receipt, Failure> {
    if order.items.is_empty() {
        return Err(Failure::new(
            "InvalidOrder",
            "an order needs at least one item",
        ));
    }
    let total_cents: u64 = order
        .items
        .iter()
        .map(|i| i.price_cents * u64::from(i.quantity))
        .sum();

    // Both start now and run concurrently.
    let reserve = activity::<_, Reservation>(
        "reserve_inventory",
        &Reserve {
            order_id: &order.order_id,
            items: &order.items,
        },
    );
    let charge = activity::<_, Charged>(
        "charge_card",
        &Charge {
            order_id: &order.order_id,
            card_number: &order.card.number,
            amount_cents: total_cents,
        },
    );
    let reservation = reserve.result()?;
    let charged = match charge.result() {
        Ok(c) => c,
        Err(payment) => {
            activity::<_, serde_json::Value>(
                "release_inventory",
                &Release {
                    reservation_id: &reservation.reservation_id,
                },
            )
            .result()?;
            return Err(Failure::new(
                "PaymentFailed",
                format!("payment for {} failed: {payment}", order.order_id),
            )
            .with_details(payment.error_type));
        }
    };

    sleep(Duration::from_millis(order.ship_after_ms))?;
    let shipped = activity::<_, Shipped>(
        "ship_order",
        &Ship {
            order_id: &order.order_id,
            reservation_id: &reservation.reservation_id,
        },
    )
    .result()?;

    Ok(Receipt {
        order_id: order.order_id,
        reservation_id: reservation.reservation_id,
        charge_id: charged.charge_id,
        tracking_number: shipped.tracking_number,
        total_cents,
    })
}

weft_sdk::workflow!(order);
