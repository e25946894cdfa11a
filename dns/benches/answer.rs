//! The cost of answering one query from a kept list, by list size: SRV and A over UDP
//! (truncated past 512 bytes) and SRV over TCP (every record), encoded afresh, and a
//! question asked before of the same list (`srv_udp_kept`: the kept answer). What a query
//! costs the DNS thread once its service is subscribed; the network is not in it.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use roster_dns::Instance;
use roster_dns::answer::answer_now;
use roster_dns::kept::Kept;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};

fn query(qtype: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(1).add_query(Query::query(
        Name::from_ascii("echo.service.roster.").unwrap(),
        qtype,
    ));
    m.to_vec().unwrap()
}

fn answers(c: &mut Criterion) {
    let mut g = c.benchmark_group("dns_answer");
    for n in [1usize, 10, 100, 1000] {
        let list: Vec<Instance> = (0..n)
            .map(|i| Instance {
                addr: SocketAddr::from((Ipv4Addr::from(0x0a00_0000 + i as u32), 8080)),
                weight: 1,
                priority: 0,
            })
            .collect();
        for (what, qtype, udp) in [
            ("srv_udp", RecordType::SRV, true),
            ("a_udp", RecordType::A, true),
            ("srv_tcp", RecordType::SRV, false),
        ] {
            let q = query(qtype);
            g.bench_with_input(BenchmarkId::new(what, n), &list, |b, list| {
                b.iter(|| answer_now(black_box(&q), udp, list, 2))
            });
        }
        // What the server does for a question asked before of the same list.
        let kept = Kept::new(list.clone());
        let q = query(RecordType::SRV);
        let limit = 512;
        g.bench_function(BenchmarkId::new("srv_udp_kept", n), |b| {
            b.iter(|| {
                kept.answer(black_box(&q), limit, || {
                    answer_now(&q, true, kept.instances(), 2)
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, answers);
criterion_main!(benches);
