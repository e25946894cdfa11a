//! The session's answers to registrations, as the library surfaces them: against a fake
//! session on a real socket that answers each request as the test scripts it, so an
//! acknowledgement, a refusal and a withdrawal can each be produced on demand.

use bytes::BytesMut;
use roster_client::{Client, ClientOptions, Error, ErrorCode};
use roster_core::wire::{Ack, ErrorReply, Frame, FrameDecoder, Message, Publish};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A session that answers the hello and every unpublish with `Ack`, and a publish with
/// whatever `answer` says (`None`: no answer at all). Every publish it gets goes to the
/// returned channel.
fn fake_session(
    answer: impl Fn(&Publish) -> Option<Message> + Send + 'static,
) -> (String, mpsc::Receiver<Publish>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        serve(&mut stream, &answer, &tx);
    });
    (addr, rx)
}

fn serve(
    stream: &mut TcpStream,
    answer: &impl Fn(&Publish) -> Option<Message>,
    seen: &mpsc::Sender<Publish>,
) {
    let decoder = FrameDecoder::new(1 << 20);
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(frame) = decoder
            .decode(&mut buf)
            .expect("the client sends valid frames")
        {
            let reply = match frame.message {
                Message::Publish(p) => {
                    let reply = answer(&p);
                    let _ = seen.send(p);
                    reply
                }
                Message::ClientHello(_) | Message::Unpublish(_) | Message::Subscribe(_) => {
                    Some(Ack {}.into())
                }
                _ => None,
            };
            if let Some(m) = reply {
                let bytes = Frame::new(frame.request_id, m).to_bytes().unwrap();
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn client(addr: &str) -> Client {
    let mut options = ClientOptions::new([addr]);
    options.client_id = Some("ack-test".into());
    Client::with_options(options).unwrap()
}

fn payload(p: &Publish) -> &[u8] {
    p.publisher.payload[0].as_ref()
}

#[test]
fn a_publication_and_its_updates_are_acknowledged_or_refused_with_a_typed_code() {
    let (addr, seen) = fake_session(|p| {
        if payload(p) == b"refuse-me" {
            Some(
                ErrorReply {
                    code: ErrorCode::Overloaded,
                    message: "too many registrations on this connection".into(),
                }
                .into(),
            )
        } else {
            Some(Ack {}.into())
        }
    });
    let client = client(&addr);
    let mut publication = client.publish("ack.svc", ["10.0.0.1:80"]).unwrap();
    publication.wait_registered(WAIT).unwrap();
    let first = seen.recv_timeout(WAIT).unwrap();

    // An update is the same registration at a newer version, and its refusal is typed.
    publication.update(["refuse-me"]).unwrap();
    assert_eq!(publication.revision(), 2);
    let err = publication.wait_registered(WAIT).unwrap_err();
    let Error::Rejected {
        register_id, code, ..
    } = &err
    else {
        panic!("not a refusal: {err}")
    };
    assert_eq!(
        (register_id.as_str(), *code),
        (publication.register_id(), ErrorCode::Overloaded)
    );
    assert!(publication.rejected().is_some());
    let refused = seen.recv_timeout(WAIT).unwrap();
    assert_eq!(refused.publisher.register_id, first.publisher.register_id);
    assert!(refused.publisher.version > first.publisher.version);

    // The next update clears the refusal and is acknowledged, awaited as a future.
    publication.update(["10.0.0.2:80"]).unwrap();
    assert!(publication.rejected().is_none());
    futures_executor::block_on(publication.registered()).unwrap();
    assert_eq!(payload(&seen.recv_timeout(WAIT).unwrap()), b"10.0.0.2:80");

    // Withdrawing it explicitly can be waited on too.
    publication.unregister().wait(WAIT).unwrap();
}

#[test]
fn an_unanswered_registration_times_out_and_then_still_resolves_when_answered() {
    let (tx, rx) = mpsc::channel::<()>();
    let rx = std::sync::Mutex::new(rx);
    // The session holds its answer until the test says so.
    let (addr, _seen) = fake_session(move |_| {
        rx.lock().unwrap().recv().ok()?;
        Some(Ack {}.into())
    });
    let client = client(&addr);
    let publication = client.publish("ack.svc", ["10.0.0.1:80"]).unwrap();
    assert!(matches!(
        publication.wait_registered(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    let pending = publication.registered();
    tx.send(()).unwrap();
    futures_executor::block_on(pending).unwrap();
}
