use super::*;

fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(7)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

fn instance(addr: &str, weight: u16, priority: u16) -> Instance {
    Instance {
        addr: addr.parse().unwrap(),
        weight,
        priority,
    }
}

fn ask(name: &str, qtype: RecordType, udp: bool, list: &[Instance]) -> Message {
    let bytes = answer_now(&query(name, qtype, None), udp, list, 3).expect("an answer");
    Message::from_vec(&bytes).unwrap()
}

const SVC: &str = "echo.service.roster.";

#[test]
fn srv_answers_carry_port_weight_priority_and_their_targets_addresses() {
    let list = [
        instance("10.1.2.3:8080", 5, 1),
        instance("[fd00::1]:9090", 1, 0),
    ];
    let m = ask(SVC, RecordType::SRV, true, &list);
    assert_eq!(m.id(), 7);
    assert!(m.authoritative() && !m.truncated());
    assert_eq!(m.response_code(), ResponseCode::NoError);
    let srv: Vec<&SRV> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::SRV(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(srv.len(), 2);
    assert_eq!(
        (srv[0].priority(), srv[0].weight(), srv[0].port()),
        (1, 5, 8080)
    );
    assert_eq!(srv[0].target().to_ascii(), "10-1-2-3.addr.roster.");
    assert_eq!(
        srv[1].target().to_ascii(),
        "fd00-0-0-0-0-0-0-1.addr.roster."
    );
    let extra: Vec<(String, RData)> = m
        .additionals()
        .iter()
        .map(|r| (r.name().to_ascii(), r.data().clone()))
        .collect();
    assert_eq!(
        extra,
        vec![
            (
                "10-1-2-3.addr.roster.".into(),
                RData::A(A("10.1.2.3".parse().unwrap()))
            ),
            (
                "fd00-0-0-0-0-0-0-1.addr.roster.".into(),
                RData::AAAA(AAAA("fd00::1".parse().unwrap()))
            ),
        ]
    );
    assert!(m.answers().iter().all(|r| r.ttl() == 3));
}

#[test]
fn a_and_aaaa_answer_each_address_once() {
    let list = [
        instance("10.1.2.3:8080", 1, 0),
        instance("10.1.2.3:8081", 1, 0),
        instance("[fd00::1]:9090", 1, 0),
    ];
    let a = ask(SVC, RecordType::A, true, &list);
    assert_eq!(a.answers().len(), 1, "{a:?}");
    assert_eq!(
        a.answers()[0].data(),
        &RData::A(A("10.1.2.3".parse().unwrap()))
    );
    let aaaa = ask(SVC, RecordType::AAAA, true, &list);
    assert_eq!(aaaa.answers().len(), 1);
    let target = ask("10-1-2-3.addr.roster.", RecordType::A, true, &[]);
    assert_eq!(target.answers()[0].data(), a.answers()[0].data());
    let wrong_family = ask("10-1-2-3.addr.roster.", RecordType::AAAA, true, &[]);
    assert_eq!(wrong_family.response_code(), ResponseCode::NoError);
    assert!(wrong_family.answers().is_empty());
}

#[test]
fn empty_lists_and_other_types_are_nodata_and_unknown_names_nxdomain() {
    let list = [instance("10.1.2.3:8080", 1, 0)];
    let empty = ask(SVC, RecordType::SRV, true, &[]);
    assert_eq!(empty.response_code(), ResponseCode::NoError);
    assert!(empty.answers().is_empty());
    let txt = ask(SVC, RecordType::TXT, true, &list);
    assert_eq!(txt.response_code(), ResponseCode::NoError);
    assert!(txt.answers().is_empty());
    let outside = ask("echo.example.com.", RecordType::A, true, &list);
    assert_eq!(outside.response_code(), ResponseCode::NXDomain);
    assert!(outside.answers().is_empty());
    let apex = ask("service.roster.", RecordType::A, true, &list);
    assert_eq!(apex.response_code(), ResponseCode::NoError);
}

#[test]
fn a_list_not_had_in_time_is_servfail() {
    let Parsed::Ask(r) = parse(&query(SVC, RecordType::A, None)) else {
        panic!("a query")
    };
    assert_eq!(respond(&r, None, 3).response_code(), ResponseCode::ServFail);
}

#[test]
fn big_udp_answers_are_truncated_within_the_limit_and_whole_over_tcp() {
    let list: Vec<Instance> = (0..100)
        .map(|i| instance(&format!("10.0.{}.{}:80", i / 250, i % 250), 1, 0))
        .collect();
    let bytes = answer_now(&query(SVC, RecordType::SRV, None), true, &list, 3).unwrap();
    assert!(bytes.len() <= 512, "{}", bytes.len());
    let udp = Message::from_vec(&bytes).unwrap();
    assert!(udp.truncated());
    assert!(!udp.answers().is_empty() && udp.answers().len() < 100);
    assert!(udp.additionals().is_empty());
    let edns = answer_now(&query(SVC, RecordType::SRV, Some(1232)), true, &list, 3).unwrap();
    assert!(edns.len() > 512 && edns.len() <= 1232, "{}", edns.len());
    let larger = Message::from_vec(&edns).unwrap();
    assert!(larger.truncated() && larger.answers().len() > udp.answers().len());
    let tcp = ask(SVC, RecordType::SRV, false, &list);
    assert!(!tcp.truncated());
    assert_eq!(tcp.answers().len(), 100);
    assert_eq!(tcp.additionals().len(), 100);
}

#[test]
fn malformed_packets_get_formerr_or_nothing() {
    assert!(matches!(parse(b""), Parsed::Drop));
    assert!(matches!(parse(&[0u8; 5]), Parsed::Drop));
    // A header announcing one question that is not there.
    let mut broken = query(SVC, RecordType::A, None);
    broken.truncate(14);
    let Parsed::Reply(bytes) = parse(&broken) else {
        panic!("FORMERR expected")
    };
    let m = Message::from_vec(&bytes).unwrap();
    assert_eq!((m.id(), m.response_code()), (7, ResponseCode::FormErr));
    // A response is never answered.
    let mut response = Message::from_vec(&query(SVC, RecordType::A, None)).unwrap();
    response.set_message_type(MessageType::Response);
    assert!(matches!(parse(&response.to_vec().unwrap()), Parsed::Drop));
    let mut two = Message::from_vec(&query(SVC, RecordType::A, None)).unwrap();
    two.add_query(Query::query(
        Name::from_ascii(SVC).unwrap(),
        RecordType::SRV,
    ));
    let Parsed::Reply(bytes) = parse(&two.to_vec().unwrap()) else {
        panic!("FORMERR expected")
    };
    assert_eq!(
        Message::from_vec(&bytes).unwrap().response_code(),
        ResponseCode::FormErr
    );
}

#[test]
fn other_opcodes_and_classes_are_refused() {
    let mut notify = Message::from_vec(&query(SVC, RecordType::A, None)).unwrap();
    notify.set_op_code(OpCode::Notify);
    let Parsed::Reply(bytes) = parse(&notify.to_vec().unwrap()) else {
        panic!("NOTIMP expected")
    };
    assert_eq!(
        Message::from_vec(&bytes).unwrap().response_code(),
        ResponseCode::NotImp
    );
    let mut chaos = Message::from_vec(&query(SVC, RecordType::A, None)).unwrap();
    chaos.queries_mut()[0].set_query_class(DNSClass::CH);
    let Parsed::Reply(bytes) = parse(&chaos.to_vec().unwrap()) else {
        panic!("REFUSED expected")
    };
    assert_eq!(
        Message::from_vec(&bytes).unwrap().response_code(),
        ResponseCode::Refused
    );
}

#[test]
fn a_thousand_instances_fit_one_tcp_answer() {
    let list: Vec<Instance> = (0..1000)
        .map(|i| instance(&format!("10.0.{}.{}:80", i / 250, i % 250), 1, 0))
        .collect();
    let bytes = answer_now(&query(SVC, RecordType::SRV, None), false, &list, 3).unwrap();
    let m = Message::from_vec(&bytes).unwrap();
    assert!(!m.truncated(), "{} bytes", bytes.len());
    assert_eq!((m.answers().len(), m.additionals().len()), (1000, 1000));
    eprintln!(
        "1000 SRV answers with their A records: {} bytes",
        bytes.len()
    );
}
