//! [`AppState`], what every handler shares: the host, the control database, the key index,
//! the shutdown flag and the metrics handle; and small helpers (time, hashing).

use crate::control::ControlDb;
use metrics_exporter_prometheus::PrometheusHandle;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;
use weft::Host;

/// A namespace key as the server knows it (the key itself is never kept).
#[derive(Clone, Debug)]
pub struct KeyEntry {
    /// The namespace it reaches.
    pub namespace: String,
    /// Its public id.
    pub key_id: String,
    /// Its label.
    pub label: String,
    /// When it was created, ms since the epoch (the server's start for configured keys).
    pub created_ms: u64,
    /// Written in the configuration file (not stored; revoked by editing the file).
    pub from_config: bool,
}

/// The state shared by all handlers.
pub struct AppState {
    /// The weft host.
    pub host: Arc<Host>,
    /// The control database.
    pub control: Arc<ControlDb>,
    /// Namespace keys by the SHA-256 of the key.
    pub keys: RwLock<HashMap<[u8; 32], KeyEntry>>,
    /// SHA-256 of the admin key, if one is configured.
    pub admin_hash: Option<[u8; 32]>,
    /// Open development mode: requests without a key reach `default` and the admin routes.
    pub open_mode: bool,
    /// True once shutdown began.
    pub stopping: watch::Receiver<bool>,
    /// Sets `stopping`.
    pub stop: watch::Sender<bool>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Serializes admin changes (namespaces and keys), so the host, the control database and
    /// the key index change together.
    pub admin_lock: tokio::sync::Mutex<()>,
}

impl AppState {
    /// True once shutdown began.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Resolves when shutdown begins (at once if it has).
    pub async fn stopped(&self) {
        let mut rx = self.stopping.clone();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// SHA-256 of `s`.
pub fn sha256(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

/// Equality of two digests in time independent of where they differ.
pub fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Now, ms since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `ms` since the epoch as RFC 3339 in UTC with milliseconds: `2024-05-01T12:00:00.000Z`.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// A random hex string of `n` bytes.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_714_564_800_000), "2024-05-01T12:00:00.000Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn ct_eq_compares_digests() {
        let a = sha256(b"key-one-0123456789");
        assert!(ct_eq(&a, &sha256(b"key-one-0123456789")));
        assert!(!ct_eq(&a, &sha256(b"key-two-0123456789")));
    }
}
