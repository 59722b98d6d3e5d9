//! Identifier newtypes shared by every module.
//!
//! Ids cross module boundaries only as these types, never as bare strings or integers.
//! This module does not generate run ids from history: it only names and formats them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The id a user starts a workflow with. Unique among open workflows of a namespace.
///
/// ```
/// use weft_core::ids::WorkflowId;
/// let id = WorkflowId::from("order-1");
/// assert_eq!(id, WorkflowId("order-1".to_string()));
/// assert_eq!(id.to_string(), "order-1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkflowId(pub String);

impl fmt::Display for WorkflowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for WorkflowId {
    fn from(s: &str) -> Self {
        WorkflowId(s.to_string())
    }
}

/// A tenant's space: every workflow, history, activity queue entry and component belongs to one
/// namespace, and API keys reach only theirs. Names are 1 to 64 bytes of ASCII letters, digits,
/// `.`, `_` and `-`.
///
/// ```
/// use weft_core::ids::Namespace;
/// let ns = Namespace::new("acme-prod.eu_1").unwrap();
/// assert_eq!(ns.as_str(), "acme-prod.eu_1");
/// assert!(Namespace::new("acme prod").is_err());
/// assert_eq!(Namespace::default_namespace().as_str(), Namespace::DEFAULT);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Namespace(String);

impl Namespace {
    /// The namespace of workflows started without one.
    pub const DEFAULT: &'static str = "default";

    /// Checks `name` and makes it a namespace.
    pub fn new(name: &str) -> Result<Namespace, String> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(Namespace(name.to_string()))
        } else {
            Err(format!(
                "invalid namespace name {name:?}: use 1 to 64 ASCII letters, digits, '.', '_' or '-'"
            ))
        }
    }

    /// The default namespace.
    pub fn default_namespace() -> Namespace {
        Namespace(Namespace::DEFAULT.to_string())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One run of a workflow: a 128-bit id, shown as a UUID. The store makes them with
/// [`RunId::ordered`] (time first, then random bits).
///
/// ```
/// use weft_core::ids::RunId;
/// let run = RunId::random();
/// let text = run.to_string(); // such as 3f2b1c9e-8d4a-4e1f-9c2b-5a6d7e8f9a0b
/// assert_eq!(text.len(), 36);
/// assert_eq!(RunId::parse(&text), Some(run));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunId(pub u128);

impl RunId {
    /// A fresh random run id (UUID version 4 layout), from [`fresh_u64`].
    pub fn random() -> RunId {
        let mut v: u128 = (u128::from(fresh_u64()) << 64) | u128::from(fresh_u64());
        v = (v & !(0xF000u128 << 64)) | (0x4000u128 << 64);
        v = (v & !(0xC0u128 << 56)) | (0x80u128 << 56);
        RunId(v)
    }

    /// A fresh run id ordered by its creation time `now_ms` (UUID version 7 layout: 48 bits
    /// of milliseconds since the epoch, then 74 random bits from [`fresh_u64`]). The store
    /// keys runs and histories by run id: ids that grow with time put new runs at the end of
    /// those tables, so a commit rewrites the same few pages however many runs the file holds,
    /// where random ids would scatter each commit over the whole table.
    ///
    /// ```
    /// use weft_core::ids::RunId;
    /// let (a, b) = (RunId::ordered(1_000), RunId::ordered(1_001));
    /// assert!(a < b);
    /// assert_eq!(&a.to_string()[14..15], "7"); // the version nibble
    /// ```
    pub fn ordered(now_ms: u64) -> RunId {
        let ms = u128::from(now_ms & ((1 << 48) - 1));
        let rand = (u128::from(fresh_u64()) << 64) | u128::from(fresh_u64());
        // 48 bits of time, version 7, 12 random bits, variant 0b10, 62 random bits.
        let mut v = (ms << 80) | (0x7u128 << 76) | ((rand >> 64) & 0xFFF) << 64;
        v |= (0b10u128 << 62) | (rand & ((1u128 << 62) - 1));
        RunId(v)
    }

    /// Parses the UUID text form produced by `Display`.
    pub fn parse(s: &str) -> Option<RunId> {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 {
            return None;
        }
        u128::from_str_radix(&hex, 16).ok().map(RunId)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

/// Position of an event in its run's history, from 1.
///
/// ```
/// use weft_core::ids::EventId;
/// let scheduled = EventId(5);
/// assert!(EventId(1) < scheduled); // ordered as the history
/// assert_eq!(scheduled.to_string(), "5");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventId(pub u64);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An activity within a run: the event id of its ActivityTaskScheduled event.
///
/// Deterministic, so a replay can never schedule a duplicate, and together with the workflow
/// id and attempt it is the idempotency key handed to the activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActivityId(pub EventId);

impl fmt::Display for ActivityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_round_trips_through_text() {
        let id = RunId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4", "version nibble");
        assert_eq!(RunId::parse(&text), Some(id));
        assert_eq!(RunId::parse("not-a-uuid"), None);
        let ordered = RunId::ordered(1_764_000_000_000);
        let text = ordered.to_string();
        assert_eq!(&text[14..15], "7", "version nibble");
        assert!(
            matches!(&text[19..20], "8" | "9" | "a" | "b"),
            "variant: {text}"
        );
        assert_eq!(RunId::parse(&text), Some(ordered));
        // Later runs sort after earlier ones; runs of the same millisecond differ.
        assert!(RunId::ordered(1_764_000_000_001) > ordered);
        assert_ne!(RunId::ordered(5), RunId::ordered(5));
    }

    #[test]
    fn namespace_names_are_checked() {
        assert!(Namespace::new("acme-prod.eu_1").is_ok());
        for bad in ["", "a/b", "a b", "ünï", &"x".repeat(65)] {
            let err = Namespace::new(bad).unwrap_err();
            assert!(err.contains("invalid namespace"), "{err}");
        }
    }
}

thread_local! {
    /// The state of [`fresh_u64`] on this thread while [`with_seeded_ids`] runs.
    static SEEDED: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// A fresh random number for the ids and seeds the store creates (run ids, the random seed
/// of a child or continued run): the operating system's randomness, or, inside
/// [`with_seeded_ids`] on this thread, the next number of a seeded sequence.
pub fn fresh_u64() -> u64 {
    SEEDED.with(|s| match s.get() {
        None => rand::random(),
        Some(mut state) => {
            let next = crate::rng::splitmix64(&mut state);
            s.set(Some(state));
            next
        }
    })
}

/// Runs `f` with [`fresh_u64`] on this thread drawing from a sequence seeded by `seed`, so
/// that the runs a simulation creates get the same ids and seeds every time it is repeated.
/// The previous state is restored afterwards.
pub fn with_seeded_ids<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SEEDED.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SEEDED.with(|s| s.replace(Some(seed))));
    f()
}

#[cfg(test)]
mod fresh_tests {
    use super::*;

    #[test]
    fn seeded_ids_repeat_and_unseeded_ones_do_not() {
        let a = with_seeded_ids(7, || (RunId::random(), fresh_u64()));
        let b = with_seeded_ids(7, || (RunId::random(), fresh_u64()));
        assert_eq!(a, b);
        assert_ne!(a, with_seeded_ids(8, || (RunId::random(), fresh_u64())));
        assert_ne!(RunId::random(), RunId::random());
        assert_eq!(
            a.0.to_string().as_bytes()[14],
            b'4',
            "UUID version 4 layout"
        );
    }
}
