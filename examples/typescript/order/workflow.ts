// An order: reserve inventory and charge the card concurrently, wait until the order may ship,
// ship it. When the charge fails the reservation is released (compensation) and the order
// fails with `PaymentFailed`. The same workflow as examples/order/workflow (Rust).
//
//   weft build typescript workflow.ts -o order.wasm

import { Failure, proxyActivities, sleep, workflow } from 'weft';

interface Item {
  sku: string;
  quantity: number;
  price_cents: number;
}

interface Order {
  order_id: string;
  items: Item[];
  card: { number: string };
  ship_after_ms?: number;
}

interface Receipt {
  order_id: string;
  reservation_id: string;
  charge_id: string;
  tracking_number: string;
  total_cents: number;
}

// The activities, typed; each call schedules the activity of that name.
const { reserve_inventory, charge_card, release_inventory, ship_order } = proxyActivities<{
  reserve_inventory(r: { order_id: string; items: Item[] }): { reservation_id: string };
  charge_card(c: { order_id: string; card_number: string; amount_cents: number }): { charge_id: string };
  release_inventory(r: { reservation_id: string }): unknown;
  ship_order(s: { order_id: string; reservation_id: string }): { tracking_number: string };
}>();

workflow(async (order: Order): Promise<Receipt> => {
  if (order.items.length === 0) {
    throw new Failure('InvalidOrder', 'an order needs at least one item');
  }
  const total_cents = order.items.reduce((sum, i) => sum + i.price_cents * i.quantity, 0);

  // Both start now and run concurrently.
  const reserve = reserve_inventory({ order_id: order.order_id, items: order.items });
  const charge = charge_card({
    order_id: order.order_id,
    card_number: order.card.number,
    amount_cents: total_cents,
  });
  const reservation = await reserve;
  let charged: { charge_id: string };
  try {
    charged = await charge;
  } catch (payment) {
    if (!(payment instanceof Failure)) throw payment;
    await release_inventory({ reservation_id: reservation.reservation_id });
    throw new Failure('PaymentFailed', `payment for ${order.order_id} failed: ${payment}`, {
      details: payment.errorType,
    });
  }

  await sleep(order.ship_after_ms ?? 0);
  const shipped = await ship_order({
    order_id: order.order_id,
    reservation_id: reservation.reservation_id,
  });

  // The same fields in the same order as the Rust receipt.
  return {
    order_id: order.order_id,
    reservation_id: reservation.reservation_id,
    charge_id: charged.charge_id,
    tracking_number: shipped.tracking_number,
    total_cents,
  };
});
