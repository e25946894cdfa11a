//! Outside Linux there is no io_uring: starting a shard says so and names the alternative.

use crate::shards::ShardStart;
use std::io;

pub(crate) fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

pub(crate) fn run<N, H>(start: ShardStart<N, H>) -> io::Result<()> {
    let _ = start.report.send(Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the glommio runtime needs Linux (io_uring); run this role with --runtime mio",
    )));
    Ok(())
}
