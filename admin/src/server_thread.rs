//! A server on a thread of its own, on a tokio current-thread runtime: how the admin
//! server, the HTTP gateway and the DNS interface run beside the shells' event loops
//! without touching them. Dropping the handle tells the server to stop and waits for its
//! thread to end.

use std::future::Future;
use std::io;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// The running server's thread and the way to stop it.
#[derive(Debug)]
pub struct ServerThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Runs `serve(stopped)` on a new thread named `name` (its blocking pool's threads are
    /// `NAME-blocking`); `stopped` resolves once the handle is dropped.
    pub fn spawn<F, Fut>(name: &str, serve: F) -> io::Result<ServerThread>
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (stop, stopped) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(format!("{name}-blocking"))
            .build()?;
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || runtime.block_on(serve(stopped)))?;
        Ok(ServerThread {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
