//! A trip booking saga: flight, hotel, car. If the trip is canceled while booking (or a
//! booking fails), what was booked is undone in reverse order, then the workflow ends as
//! canceled (or failed).

use serde_json::json;
use weft_sdk::{Failure, activity, is_cancel_requested};

fn trip(customer: String) -> Result<serde_json::Value, Failure> {
    let mut undo: Vec<(&str, String)> = Vec::new();
    let steps = [("book_flight", "cancel_flight"), ("book_hotel", "cancel_hotel"), ("book_car", "cancel_car")];
    for (book, cancel) in steps {
        match activity::<_, String>(book, &customer).result() {
            Ok(booking) => undo.push((cancel, booking)),
            Err(failure) => {
                // Compensations run as ordinary activities; a cancel request does not stop them.
                for (cancel, booking) in undo.iter().rev() {
                    let _: String = activity(cancel, booking).result()?;
                }
                if is_cancel_requested() {
                    return Err(Failure::canceled(format!(
                        "trip canceled during {book}; undid {} bookings",
                        undo.len()
                    )));
                }
                return Err(failure);
            }
        }
    }
    Ok(json!({"customer": customer, "bookings": undo.iter().map(|(_, b)| b).collect::<Vec<_>>()}))
}

weft_sdk::workflow!(trip);
