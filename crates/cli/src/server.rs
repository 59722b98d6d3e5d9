//! `weft server`: the flags mapped to [`weft_server::ServerArgs`].

use crate::ServerCmd;

/// Runs the server in this process until it is stopped (Ctrl-C or SIGTERM).
pub(crate) fn run(args: ServerCmd) -> anyhow::Result<()> {
    weft_server::run_blocking(weft_server::ServerArgs {
        data_dir: args.data_dir,
        listen: args.listen,
        config: args.config,
    })
}
