//! Configuration layering: defaults < file < `WEFT_*` environment < flags, and errors that
//! name the file and the field. One test: it changes the process environment.

use std::path::PathBuf;
use weft_server::{ServerArgs, ServerConfig};

#[test]
fn layers_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weft.toml");
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe {
        for v in [
            "WEFT_LISTEN",
            "WEFT_DATA_DIR",
            "WEFT_ADMIN_KEY",
            "WEFT_MAX_REQUEST_BYTES",
            "WEFT_LIVE_READERS",
        ] {
            std::env::remove_var(v);
        }
    }

    // Defaults.
    let c = ServerConfig::load(&ServerArgs::default()).unwrap();
    assert_eq!(c.listen, "127.0.0.1:7233");
    assert_eq!(c.data_dir, PathBuf::from("./weft-data"));
    assert_eq!(c.max_request_bytes, 8 * 1024 * 1024);
    assert!(c.admin_key.is_none() && c.namespaces.is_empty());
    assert!(c.live_readers);

    // The file.
    std::fs::write(
        &file,
        r#"
listen = "127.0.0.1:9000"
data_dir = "/srv/weft"
admin_key = "file-admin-key-0123456789"
live_readers = false

[limits]
max_payload_bytes = 1000
max_task_time_ms = 5000

[namespaces.acme]
api_keys = ["acme-key-0123456789abcdef"]
quotas = { max_open_workflows = 10 }
"#,
    )
    .unwrap();
    let args = ServerArgs {
        config: Some(file.clone()),
        ..ServerArgs::default()
    };
    let c = ServerConfig::load(&args).unwrap();
    assert_eq!(c.listen, "127.0.0.1:9000");
    assert_eq!(c.data_dir, PathBuf::from("/srv/weft"));
    assert_eq!(c.namespaces["acme"].quotas.max_open_workflows, Some(10));
    assert!(!c.live_readers);
    assert_eq!(c.limits.to_limits().max_payload_bytes, 1000);
    assert_eq!(
        c.limits.to_limits().max_task_time,
        std::time::Duration::from_secs(5)
    );

    // The environment over the file, the flags over both.
    unsafe {
        std::env::set_var("WEFT_LISTEN", "127.0.0.1:9001");
        std::env::set_var("WEFT_MAX_REQUEST_BYTES", "4096");
        std::env::set_var("WEFT_ADMIN_KEY", "env-admin-key-0123456789");
        std::env::set_var("WEFT_LIVE_READERS", "true");
    }
    let c = ServerConfig::load(&args).unwrap();
    assert_eq!(c.listen, "127.0.0.1:9001");
    assert_eq!(c.max_request_bytes, 4096);
    assert_eq!(c.admin_key.as_deref(), Some("env-admin-key-0123456789"));
    assert!(c.live_readers);
    let c = ServerConfig::load(&ServerArgs {
        listen: Some("127.0.0.1:9002".into()),
        data_dir: Some("/tmp/elsewhere".into()),
        config: Some(file.clone()),
    })
    .unwrap();
    assert_eq!(c.listen, "127.0.0.1:9002");
    assert_eq!(c.data_dir, PathBuf::from("/tmp/elsewhere"));
    unsafe {
        std::env::remove_var("WEFT_LISTEN");
        std::env::remove_var("WEFT_MAX_REQUEST_BYTES");
        std::env::remove_var("WEFT_ADMIN_KEY");
        std::env::remove_var("WEFT_LIVE_READERS");
    }

    // Errors name the file and the field.
    let bad = |text: &str| {
        std::fs::write(&file, text).unwrap();
        format!("{:#}", ServerConfig::load(&args).unwrap_err())
    };
    let e = bad("max_request_bytes = \"lots\"");
    assert!(
        e.contains("weft.toml") && e.contains("max_request_bytes"),
        "{e}"
    );
    let e = bad("lisen = \"127.0.0.1:1\"");
    assert!(e.contains("weft.toml") && e.contains("lisen"), "{e}");
    let e = bad("[namespaces.acme]\napi_keys = [\"short\"]");
    assert!(
        e.contains("weft.toml") && e.contains("namespaces.acme.api_keys"),
        "{e}"
    );
    let e = bad("[namespaces.\"bad name\"]");
    assert!(e.contains("weft.toml") && e.contains("bad name"), "{e}");
    let e = bad("[namespaces.acme.quotas]\nmax_open_workflow = 1");
    assert!(e.contains("max_open_workflow"), "{e}");
    let e = bad("listen = ");
    assert!(e.contains("weft.toml"), "{e}");
    let missing = ServerArgs {
        config: Some(dir.path().join("missing.toml")),
        ..ServerArgs::default()
    };
    let e = format!("{:#}", ServerConfig::load(&missing).unwrap_err());
    assert!(
        e.contains("missing.toml") && e.contains("does not exist"),
        "{e}"
    );
}
