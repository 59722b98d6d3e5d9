//! `weft replay`: saved histories, or the runs of a database, replayed against one component
//! in a host of its own that records nothing (a temporary database) and accepts every task
//! queue and Nexus endpoint. Prints each history's first divergence; exits 1 if any diverges.

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use weft::history::{Event, HistoryFile};

#[derive(Args)]
pub(crate) struct ReplayCmd {
    /// The workflow component (.wasm) to replay against.
    #[arg(long)]
    component: PathBuf,
    /// History files, or directories holding them (every regular file inside, not recursing).
    #[arg(required_unless_present = "from_db")]
    histories: Vec<PathBuf>,
    /// Also replay the current run of every workflow of the namespace (`--namespace`) in this
    /// database file (a host may hold it: it is read through a recovered copy then).
    #[arg(long)]
    from_db: Option<PathBuf>,
    /// With `--from-db`: only workflows of this type.
    #[arg(long, requires = "from_db")]
    workflow_type: Option<String>,
    /// Keep compiled code here across invocations (a large component then loads in
    /// milliseconds).
    #[arg(long, env = "WEFT_COMPILE_CACHE")]
    compile_cache: Option<PathBuf>,
}

/// One history to replay: where it came from, and it (or why it cannot be read).
type Source = (String, anyhow::Result<(String, weft::RunId, Vec<Event>)>);

pub(crate) fn replay(args: ReplayCmd, namespace: Option<&str>) -> anyhow::Result<()> {
    let component = std::fs::read(&args.component)
        .with_context(|| format!("reading {}", args.component.display()))?;
    let mut sources = files(&args.histories)?;
    if let Some(db) = &args.from_db {
        sources.extend(database(
            db,
            namespace.unwrap_or("default"),
            args.workflow_type.as_deref(),
        )?);
    }
    if sources.is_empty() {
        return Err(super::usage("no histories found"));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let scratch = tempfile::tempdir()?;
    let (ok, diverged, seconds) = rt.block_on(async {
        let mut builder = weft::HostBuilder::new(scratch.path().join("replay.redb"))
            .namespace("default", |ns| ns.remote_activities());
        if let Some(dir) = &args.compile_cache {
            builder = builder.compile_cache(dir);
        }
        let host = builder.start().await?;
        let started = std::time::Instant::now();
        let (mut ok, mut diverged) = (0usize, 0usize);
        for (label, source) in sources {
            let (workflow_id, run, events) = match source {
                Ok(x) => x,
                Err(e) => {
                    diverged += 1;
                    println!("UNREADABLE {label}: {e:#}");
                    continue;
                }
            };
            let n = events.len();
            match host
                .replay_history(component.clone(), &workflow_id, run, events)
                .await
            {
                Ok(()) => {
                    ok += 1;
                    println!("ok       {label} ({n} events)");
                }
                Err(e) => {
                    diverged += 1;
                    println!("DIVERGED {label}: {e}");
                }
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        host.shutdown().await;
        Ok::<_, anyhow::Error>((ok, diverged, seconds))
    })?;
    let total = ok + diverged;
    println!(
        "{total} histories in {seconds:.2} s ({:.0} histories/s): {ok} replayed, {diverged} diverged or unreadable",
        total as f64 / seconds.max(1e-9)
    );
    if diverged > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// The history files named, and those inside the directories named.
fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files
        .into_iter()
        .map(|file| {
            let read = std::fs::read(&file)
                .map_err(anyhow::Error::from)
                .and_then(|bytes| Ok(HistoryFile::read(&bytes)?))
                .and_then(|h| {
                    let run = weft::RunId::parse(&h.run_id)
                        .ok_or_else(|| anyhow::anyhow!("run id {} is not a UUID", h.run_id))?;
                    Ok((h.workflow_id, run, h.events))
                });
            (file.display().to_string(), read)
        })
        .collect())
}

/// The current run of every workflow of `namespace` in database `db` (of `workflow_type`).
fn database(
    db: &std::path::Path,
    namespace: &str,
    workflow_type: Option<&str>,
) -> anyhow::Result<Vec<Source>> {
    let offline =
        weft::Offline::new(db, namespace).with_context(|| format!("opening {}", db.display()))?;
    Ok(offline
        .list(false)?
        .into_iter()
        .filter(|w| workflow_type.is_none_or(|t| w.workflow_type == t))
        .map(|w| {
            let read = offline
                .history(&w.workflow_id)
                .map(|(run, events)| (w.workflow_id.clone(), run, events))
                .map_err(anyhow::Error::from);
            (format!("{}:{}", db.display(), w.workflow_id), read)
        })
        .collect())
}
