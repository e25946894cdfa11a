//! From a query's bytes to an answer's bytes, given the instances of the service asked
//! for: what a packet means ([`parse`]), the records that answer it ([`respond`]) and the
//! encoding within a size limit, truncated with TC when the records do not fit
//! ([`encode`]). Pure: the server looks the instances up between the steps, and the fuzz
//! target drives [`answer_now`] with a fixed list.

use crate::instances::Instance;
use crate::name::{Target, address_name};
use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use std::collections::HashSet;
use std::net::IpAddr;

/// The largest UDP answer ever sent, and the EDNS size the server advertises: the size DNS
/// Flag Day 2020 settled on, so that no answer is fragmented.
pub const MAX_UDP: u16 = 1232;
/// The largest answer without EDNS (RFC 1035).
pub const CLASSIC_UDP: u16 = 512;
/// The largest answer over TCP (its length prefix is 16 bits).
pub const MAX_TCP: usize = u16::MAX as usize;

/// A query the server answers.
#[derive(Debug, Clone)]
pub struct Request {
    message: Message,
    query: Query,
    /// What its name asks for.
    pub target: Target,
}

impl Request {
    /// The largest UDP answer this query may get: its EDNS size, at least 512 and at most
    /// [`MAX_UDP`]; 512 without EDNS.
    pub fn udp_limit(&self) -> usize {
        let asked = self
            .message
            .extensions()
            .as_ref()
            .map_or(CLASSIC_UDP, Edns::max_payload);
        usize::from(asked.clamp(CLASSIC_UDP, MAX_UDP))
    }
}

/// What to do with a packet.
#[derive(Debug)]
pub enum Parsed {
    /// A query to answer once the service's instances are known (boxed: a message is
    /// large beside the other variants).
    Ask(Box<Request>),
    /// An error answer, already encoded (FORMERR, NOTIMP, REFUSED).
    Reply(Vec<u8>),
    /// Nothing: not a query, or too short to answer.
    Drop,
}

/// What a packet is.
pub fn parse(bytes: &[u8]) -> Parsed {
    let message = match Message::from_vec(bytes) {
        Ok(m) => m,
        // A query whose header is readable but not the rest gets FORMERR with its id.
        Err(_) => {
            return match Header::read(&mut BinDecoder::new(bytes)) {
                Ok(h) if h.message_type() == MessageType::Query => {
                    error(h.id(), h.op_code(), ResponseCode::FormErr)
                }
                _ => Parsed::Drop,
            };
        }
    };
    // Answering a response could make two servers answer each other forever.
    if message.message_type() != MessageType::Query {
        return Parsed::Drop;
    }
    if message.op_code() != OpCode::Query {
        return error(message.id(), message.op_code(), ResponseCode::NotImp);
    }
    let [query] = message.queries() else {
        return error(message.id(), message.op_code(), ResponseCode::FormErr);
    };
    if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
        return error(message.id(), message.op_code(), ResponseCode::Refused);
    }
    let query = query.clone();
    let target = Target::of(query.name());
    Parsed::Ask(Box::new(Request {
        message,
        query,
        target,
    }))
}

fn error(id: u16, op_code: OpCode, code: ResponseCode) -> Parsed {
    match Message::error_msg(id, op_code, code).to_vec() {
        Ok(bytes) => Parsed::Reply(bytes),
        Err(_) => Parsed::Drop,
    }
}

/// The answer to `request`. `instances` are the service's (for a [`Target::Service`]):
/// `None` when its list could not be had in time, which is SERVFAIL so that the resolver
/// asks again; an empty list is NODATA. `ttl` is every record's.
pub fn respond(request: &Request, instances: Option<&[Instance]>, ttl: u32) -> Message {
    let mut m = Message::new();
    m.set_id(request.message.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(request.message.recursion_desired())
        .add_query(request.query.clone());
    if request.message.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP);
        m.set_edns(edns);
    }
    let name = request.query.name();
    let qtype = request.query.query_type();
    let wants = |t: RecordType| qtype == t || qtype == RecordType::ANY;
    match &request.target {
        Target::Unknown => {
            m.set_response_code(ResponseCode::NXDomain);
        }
        Target::Empty => {}
        Target::Address(ip) => {
            if let Some(r) = address_record(name.clone(), *ip, ttl, &wants) {
                m.add_answer(r);
            }
        }
        Target::Service(_) => match instances {
            None => {
                m.set_response_code(ResponseCode::ServFail);
            }
            Some(list) => {
                // An RRset holds no duplicates, and several publishers may share an
                // address (or all of an SRV record): each is answered once.
                let mut srv_seen = HashSet::new();
                let mut ip_seen = HashSet::new();
                let mut answers = Vec::new();
                let mut additionals = Vec::new();
                for i in list {
                    let ip = i.addr.ip();
                    let first_of_ip = ip_seen.insert(ip);
                    if wants(RecordType::SRV)
                        && srv_seen.insert((i.priority, i.weight, i.addr.port(), ip))
                    {
                        let target = address_name(ip);
                        if first_of_ip {
                            let any = |_: RecordType| true;
                            additionals.extend(address_record(target.clone(), ip, ttl, &any));
                        }
                        let srv = SRV::new(i.priority, i.weight, i.addr.port(), target);
                        answers.push(Record::from_rdata(name.clone(), ttl, RData::SRV(srv)));
                    }
                    if first_of_ip {
                        answers.extend(address_record(name.clone(), ip, ttl, &wants));
                    }
                }
                m.add_answers(answers).add_additionals(additionals);
            }
        },
    }
    m
}

/// The A or AAAA record of `ip` under `name`, if its type is wanted.
fn address_record(
    name: Name,
    ip: IpAddr,
    ttl: u32,
    wants: &dyn Fn(RecordType) -> bool,
) -> Option<Record> {
    let rdata = match ip {
        IpAddr::V4(v4) if wants(RecordType::A) => RData::A(A(v4)),
        IpAddr::V6(v6) if wants(RecordType::AAAA) => RData::AAAA(AAAA(v6)),
        _ => return None,
    };
    Some(Record::from_rdata(name, ttl, rdata))
}

/// `response` encoded in at most `limit` bytes: whole if it fits; else with TC set, no
/// additional records and as many answers as fit (the client asks again over TCP). `None`
/// only if even that cannot be encoded.
pub fn encode(response: &Message, limit: usize) -> Option<Vec<u8>> {
    match response.to_vec() {
        Ok(bytes) if bytes.len() <= limit => return Some(bytes),
        Ok(_) => {}
        Err(_) => return server_failure(response),
    }
    let answers = response.answers();
    let with = |n: usize| {
        let mut m = response.truncate();
        m.add_answers(answers[..n].iter().cloned());
        m.to_vec().ok().filter(|b| b.len() <= limit)
    };
    // The most answers that fit: a binary search, as each try encodes the message.
    let (mut fits, mut over) = (0, answers.len() + 1);
    let mut best = with(0)?;
    while over - fits > 1 {
        let mid = (fits + over) / 2;
        match with(mid) {
            Some(b) => (fits, best) = (mid, b),
            None => over = mid,
        }
    }
    Some(best)
}

fn server_failure(response: &Message) -> Option<Vec<u8>> {
    Message::error_msg(response.id(), response.op_code(), ResponseCode::ServFail)
        .to_vec()
        .ok()
}

/// The whole exchange at once, for a service whose instances are `instances` whatever its
/// name: what the fuzz target and the tests drive. `udp` picks the size limit.
pub fn answer_now(bytes: &[u8], udp: bool, instances: &[Instance], ttl: u32) -> Option<Vec<u8>> {
    match parse(bytes) {
        Parsed::Ask(request) => {
            let limit = if udp { request.udp_limit() } else { MAX_TCP };
            encode(&respond(&request, Some(instances), ttl), limit)
        }
        Parsed::Reply(bytes) => Some(bytes),
        Parsed::Drop => None,
    }
}

#[cfg(test)]
mod tests;
