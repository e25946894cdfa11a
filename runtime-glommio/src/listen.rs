//! Binding a shard's listener so that a restarted process gets its port back at once.
//!
//! glommio's own `TcpListener::bind` sets `SO_REUSEPORT` only. After a kill -9 or a clean
//! stop, the old process's accepted connections linger in TIME_WAIT on the listening port
//! (the dying side closes first), and without `SO_REUSEADDR` Linux refuses a new bind there
//! for the whole TIME_WAIT period (about a minute). So the socket is made here with both
//! options and handed to glommio already listening. `SO_REUSEADDR` never lets two listeners
//! share a port; sharing stays what `SO_REUSEPORT` allows, and the launcher's exclusive
//! probe (`shards::check_fixed_ports`) still refuses a port another process listens on.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// Pending connections the kernel queues per listener (glommio's own default).
const BACKLOG: i32 = 1024;

/// A listening socket on `addr` with `SO_REUSEADDR` and `SO_REUSEPORT`.
pub(crate) fn listening_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(BACKLOG)?;
    Ok(socket)
}

/// A glommio listener on `addr`, bound as [`listening_socket`] does. Must run on a glommio
/// executor (the listener registers with that executor's reactor).
pub(crate) fn bind(addr: SocketAddr) -> io::Result<glommio::net::TcpListener> {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let fd = listening_socket(addr)?.into_raw_fd();
    // SAFETY: `fd` was just released by the socket that opened it, so this listener is its
    // only owner; it is a bound, listening TCP socket, which is what `from_raw_fd` requires.
    #[allow(unsafe_code)]
    let listener = unsafe { glommio::net::TcpListener::from_raw_fd(fd) };
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    /// Leaves `addr`'s port with a connection in TIME_WAIT on the listening side: the
    /// server end closes first, as a killed process's sockets do.
    fn leave_time_wait(listener: Socket) -> SocketAddr {
        let listener = TcpListener::from(listener);
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        drop(accepted);
        // The client reads the server's FIN (end of stream), then closes its end too.
        assert_eq!(client.read(&mut [0; 1]).unwrap(), 0);
        drop(client);
        drop(listener);
        addr
    }

    #[test]
    fn a_restarted_listener_gets_its_port_back_despite_time_wait() {
        let old = listening_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = leave_time_wait(old);
        crate::shards::probe_exclusive(addr).expect("the launcher's probe passes");
        listening_socket(addr).expect("and the shard binds at once");
    }

    /// Why: a listener with `SO_REUSEPORT` only (glommio's own bind) leaves TIME_WAIT
    /// entries that refuse any later bind without `SO_REUSEPORT`, the probe's included.
    #[test]
    fn time_wait_of_a_listener_without_reuseaddr_blocks_the_probe() {
        let old = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        old.set_reuse_port(true).unwrap();
        old.bind(&SockAddr::from(
            "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
        ))
        .unwrap();
        old.listen(BACKLOG).unwrap();
        let addr = leave_time_wait(old);
        let e = crate::shards::probe_exclusive(addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
    }

    #[test]
    fn a_port_another_listener_holds_exclusively_is_still_refused() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let e = listening_socket(held.local_addr().unwrap()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
    }
}
