//! One connection's TLS, sans-IO: [`TlsConn`] holds rustls's connection, and [`TlsIo`]
//! lends it a socket as a non-blocking `Read + Write` of plaintext, so the framing
//! (`crate::framing::Framed`) runs over it unchanged.
//!
//! Reading pulls ciphertext from the socket until plaintext comes or the socket would
//! block, answering the handshake as it goes; writing hands plaintext to rustls and pushes
//! out what it encrypted. Ciphertext the socket did not take stays in rustls until the
//! shell calls [`TlsConn::flush`] on the next writable event.

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

/// A connection's TLS state.
pub struct TlsConn {
    conn: Connection,
}

impl fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConn")
            .field("handshaking", &self.conn.is_handshaking())
            .finish()
    }
}

impl TlsConn {
    /// The server side of an accepted connection.
    pub fn server(config: Arc<ServerConfig>) -> Result<TlsConn, rustls::Error> {
        Ok(TlsConn {
            conn: ServerConnection::new(config)?.into(),
        })
    }

    /// The client side of a dial to a server that must prove it is `name`.
    pub fn client(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<TlsConn, rustls::Error> {
        Ok(TlsConn {
            conn: ClientConnection::new(config, name)?.into(),
        })
    }

    /// Plaintext over `socket`, for one pass of reads or writes (reading needs a socket
    /// that is `Read + Write`, writing one that is `Write`).
    pub fn io<'a, S>(&'a mut self, socket: &'a mut S) -> TlsIo<'a, S> {
        TlsIo {
            conn: &mut self.conn,
            socket,
        }
    }

    /// Writes the ciphertext waiting in rustls (handshake messages, encrypted frames) as
    /// far as the socket takes it; `Ok(true)` when nothing is left.
    pub fn flush(&mut self, socket: &mut impl Write) -> io::Result<bool> {
        write_out(&mut self.conn, socket)
    }

    /// Takes ciphertext the caller read itself (a shell whose sockets are not `Read`, as
    /// glommio's), appending the plaintext it held to `plain`; `Ok(true)` when the peer said
    /// close_notify. `InvalidData` naming rustls's reason when the handshake or a record
    /// fails; answers (handshake messages, alerts) wait for [`flush`](Self::flush).
    pub fn receive(&mut self, mut ciphertext: &[u8], plain: &mut Vec<u8>) -> io::Result<bool> {
        while !ciphertext.is_empty() {
            self.conn.read_tls(&mut ciphertext)?;
            self.conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("tls: {e}")))?;
            // Taken as it comes, so rustls's buffer of received plaintext stays small.
            loop {
                let have = plain.len();
                plain.resize(have + 16 * 1024, 0);
                let read = self.conn.reader().read(&mut plain[have..]);
                plain.truncate(have + *read.as_ref().unwrap_or(&0));
                match read {
                    Ok(0) => return Ok(true),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(false)
    }

    /// Says goodbye (close_notify), best effort: the connection is being closed anyway.
    pub fn close(&mut self, socket: &mut impl Write) {
        self.conn.send_close_notify();
        let _ = write_out(&mut self.conn, socket);
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The certificate (DER) the other side presented and the CA vouched for (`None` before
    /// the handshake or when it presented none): the identity a client proved on the client
    /// port, whose subject's common name the access rules know it by (`tls::identity`).
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref())
    }
}

fn write_out(conn: &mut Connection, socket: &mut impl Write) -> io::Result<bool> {
    while conn.wants_write() {
        match conn.write_tls(socket) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// A connection's plaintext over its socket: non-blocking, like the socket itself.
#[derive(Debug)]
pub struct TlsIo<'a, S> {
    conn: &'a mut Connection,
    socket: &'a mut S,
}

impl<S: Read + Write> Read for TlsIo<'_, S> {
    /// Plaintext, `Ok(0)` at the end of the stream, `WouldBlock` when the socket has no
    /// more, and `InvalidData` naming rustls's reason when the handshake or a record
    /// fails (its alert is sent first, best effort).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.conn.reader().read(buf) {
                // `Ok(0)`: the peer said close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Closed without close_notify: for a framed stream, the same as a close.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.conn.read_tls(self.socket)? == 0 {
                return Ok(0);
            }
            if let Err(e) = self.conn.process_new_packets() {
                let _ = write_out(self.conn, self.socket);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tls: {e}"),
                ));
            }
            // Handshake answers, and plaintext queued while it ran, go out at once.
            write_out(self.conn, self.socket)?;
        }
    }
}

impl<S: Write> Write for TlsIo<'_, S> {
    /// Takes plaintext as far as rustls buffers it (`WouldBlock` when its buffer is full and
    /// the socket takes no more), writing the ciphertext out.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // What was encrypted before goes first, so rustls's buffer stays bounded.
        if !write_out(self.conn, self.socket)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.conn.writer().write(buf)?;
        write_out(self.conn, self.socket)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if write_out(self.conn, self.socket)? {
            Ok(())
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}
