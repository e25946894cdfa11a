use super::*;

fn publisher(id: &str, payload: &[&str], attributes: &[(&str, &str)]) -> Publisher {
    Publisher::of(
        id,
        RegisterVersion::new(id.len() as u64, 7),
        payload,
        attributes,
    )
}

fn sample() -> Vec<Publisher> {
    vec![
        publisher("a", &["10.0.0.1:80"], &[]),
        publisher("bé", &[], &[("zone", "eu"), ("weight", "ünï")]),
        publisher("", &["x", "", "yz"], &[("", "")]),
    ]
}

fn encode_vec(v: &Vec<Publisher>) -> Bytes {
    let mut buf = BytesMut::new();
    v.encode(&mut buf);
    buf.freeze()
}

#[test]
fn holds_exactly_the_encoding_of_the_vec_and_reads_back_each_field() {
    let v = sample();
    let list = PublisherList::from_publishers(&v);
    assert_eq!(list.as_bytes(), &encode_vec(&v));
    assert_eq!(list.len(), 3);
    assert!(!list.is_empty());
    assert_eq!(list.to_vec(), v);
    let second = list.iter().nth(1).unwrap();
    assert_eq!(second.register_id(), "bé");
    assert_eq!(second.version(), RegisterVersion::new(3, 7));
    assert_eq!(second.payload().len(), 0);
    assert_eq!(
        second.attributes().collect::<Vec<_>>(),
        [("zone", "eu"), ("weight", "ünï")]
    );
    let third = list.iter().nth(2).unwrap();
    assert_eq!(third.payload().collect::<Vec<_>>(), [&b"x"[..], b"", b"yz"]);
    assert!(list.iter().zip(&v).all(|(r, p)| r == *p));
    assert_eq!(list.iter().len(), 3);
}

#[test]
fn encoding_from_borrowed_publishers_is_the_encoding_of_the_vec() {
    let v = sample();
    let list = PublisherList::encode_from(v.iter());
    assert_eq!(list.as_bytes(), &encode_vec(&v));
    assert_eq!(list.len(), 3);
    assert_eq!(list, PublisherList::from_publishers(&v));
    assert_eq!(PublisherList::encode_from([].iter()), PublisherList::new());
}

#[test]
fn an_empty_list_is_the_encoding_of_an_empty_vec() {
    let empty = PublisherList::new();
    assert!(empty.is_empty());
    assert_eq!(empty.iter().count(), 0);
    assert_eq!(empty, PublisherList::from(Vec::new()));
    assert_eq!(empty.as_bytes(), &encode_vec(&Vec::new()));
}

#[test]
fn encoding_writes_the_held_bytes_and_decoding_keeps_a_slice_of_the_frame() {
    let list: PublisherList = sample().into_iter().collect();
    let mut body = BytesMut::from(&b"head"[..]);
    list.encode(&mut body);
    assert_eq!(body.len(), 4 + list.encoded_len());
    body.extend_from_slice(b"tail");
    let body = body.freeze();
    let mut r = Reader::new(&body);
    u32::decode(&mut r).unwrap();
    let decoded = PublisherList::decode(&mut r).unwrap();
    assert_eq!(r.remaining(), 4, "stops at the end of the list");
    assert_eq!(decoded, list);
    let within = body.as_ptr_range();
    assert!(
        within.contains(&decoded.as_bytes().as_ptr()),
        "the list was copied out of the frame"
    );
    // An owned publisher taken from it shares the frame too.
    let owned = decoded.iter().next().unwrap().to_owned();
    assert!(within.contains(&owned.register_id.as_bytes().as_ptr()));
    assert!(within.contains(&owned.payload[0].as_ptr()));
}

#[test]
fn a_clone_shares_the_encoding() {
    let list = PublisherList::from(sample());
    let copy = list.clone();
    assert!(copy.ptr_eq(&list));
    let again = PublisherList::from(sample());
    assert_eq!(again, list, "equal by content");
    assert!(!again.ptr_eq(&list), "but built separately");
}

#[test]
fn bad_lists_fail_with_the_error_decoding_a_vec_gives() {
    let good = encode_vec(&sample());
    let mut bad_utf8 = good.to_vec();
    let at = bad_utf8.len() - 1; // the last attribute value's last byte
    bad_utf8[at] = 0xFF;
    let mut forged = good.to_vec();
    forged[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    let mut forged_payload = good.to_vec();
    forged_payload[4 + 4 + 1 + 16..][..4].copy_from_slice(&1000u32.to_be_bytes());
    let cases: Vec<Vec<u8>> = vec![
        bad_utf8,
        forged,
        forged_payload,
        good[..good.len() - 3].to_vec(),
        good[..2].to_vec(),
    ];
    for case in cases {
        let bytes = Bytes::from(case);
        let (mut a, mut b) = (Reader::new(&bytes), Reader::new(&bytes));
        let want = Vec::<Publisher>::decode(&mut a).unwrap_err();
        let got = PublisherList::decode(&mut b).unwrap_err();
        assert_eq!(got, want);
        assert_eq!(b.position(), a.position(), "fails at the same offset");
    }
}

#[test]
fn prints_as_the_publishers_do() {
    let v = sample();
    assert_eq!(
        format!("{:?}", PublisherList::from_publishers(&v)),
        format!("{v:?}")
    );
}
