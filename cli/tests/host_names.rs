//! Nodes configured with host names rather than literal addresses: the names resolve off
//! the event loops (a thread for mio, glommio's blocking pool) and the cluster serves.

mod common;
use common::*;

on!(nodes_dial_meta_by_host_name; mio = MIO, glommio = GLOMMIO);
fn nodes_dial_meta_by_host_name(c: Runtimes) {
    let (_meta, addr) = meta();
    let by_name = addr.replace("127.0.0.1", "localhost");
    assert_ne!(by_name, addr);
    let _d = c.data(&by_name, 101);
    let (_s, a) = c.session(&by_name, 201);
    let sub = subscribe(&a, "named");
    let _p = publish(&a, "named", &names("n", 2));
    wait_list(&sub, 0, &names("n", 2));
}
