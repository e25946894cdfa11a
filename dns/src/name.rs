//! The names the DNS interface answers for, and what each one means.
//!
//! - `<data_id>.service.roster.`: the instances of a service. Everything before
//!   `.service.roster.` is the data id, its labels joined by dots, so `com.example.echo`
//!   is asked as `com.example.echo.service.roster.`.
//! - `<address>.addr.roster.`: an instance's address, the target of its SRV record:
//!   `10-1-2-3.addr.roster.` is 10.1.2.3 and `fd00-0-0-0-0-0-0-1.addr.roster.` is fd00::1
//!   (every group of the IPv6 address, dash-separated). The address is in the name, so the
//!   target resolves without any state, and resolvers cache it like any host name.
//! - `roster.`, `service.roster.` and `addr.roster.` exist but hold no records.
//!
//! A data id label may hold any printable ASCII character but `.` and `\` (a dot inside a
//! label could not be told from a separator; a backslash is how zone files escape one) and
//! not the key separator `#@#`: a name names the data id of the default instance id and
//! group. The letters are taken as sent: data ids are case-sensitive, so a resolver that
//! randomises the case of names (DNS 0x20) asks for another data id.

use hickory_proto::rr::Name;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The domain every name served is under.
pub const DOMAIN: &str = "roster.";
/// The label under [`DOMAIN`] of the services.
const SERVICE: &[u8] = b"service";
/// The label under [`DOMAIN`] of the instances' addresses.
const ADDR: &[u8] = b"addr";

/// What a query name asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The instances of this data id.
    Service(String),
    /// The record of this address (an SRV target).
    Address(IpAddr),
    /// A name of the zone that holds no records (`roster.`, `service.roster.`, ...).
    Empty,
    /// Outside the zone, or not a name the zone has (NXDOMAIN).
    Unknown,
}

impl Target {
    /// What `name` asks for.
    pub fn of(name: &Name) -> Target {
        let labels: Vec<&[u8]> = name.iter().collect();
        let Some((domain, rest)) = labels.split_last() else {
            return Target::Unknown;
        };
        if !domain.eq_ignore_ascii_case(b"roster") {
            return Target::Unknown;
        }
        let Some((kind, inner)) = rest.split_last() else {
            return Target::Empty;
        };
        if kind.eq_ignore_ascii_case(SERVICE) {
            match inner {
                [] => Target::Empty,
                _ => data_id(inner).map_or(Target::Unknown, Target::Service),
            }
        } else if kind.eq_ignore_ascii_case(ADDR) {
            match inner {
                [] => Target::Empty,
                [one] => address(one).map_or(Target::Unknown, Target::Address),
                _ => Target::Unknown,
            }
        } else {
            Target::Unknown
        }
    }
}

/// The data id of the labels before `service.roster.`, if each label is allowed.
fn data_id(labels: &[&[u8]]) -> Option<String> {
    let allowed = |b: &u8| b.is_ascii_graphic() && *b != b'.' && *b != b'\\';
    if !labels
        .iter()
        .all(|l| !l.is_empty() && l.iter().all(allowed))
    {
        return None;
    }
    let id = labels
        .iter()
        .map(|l| std::str::from_utf8(l).ok())
        .collect::<Option<Vec<_>>>()?
        .join(".");
    (!id.contains("#@#")).then_some(id)
}

/// The address of an `addr.roster.` label.
fn address(label: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(label).ok()?;
    let groups: Vec<&str> = s.split('-').collect();
    match groups.len() {
        4 => s.replace('-', ".").parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        // Only the full form: every group present, so each address has one name.
        8 if groups.iter().all(|g| !g.is_empty() && g.len() <= 4) => {
            s.replace('-', ":").parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        }
        _ => None,
    }
}

/// The `addr.roster.` name of `ip`: what an SRV record of an instance at `ip` targets.
pub fn address_name(ip: IpAddr) -> Name {
    let label = match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{a}-{b}-{c}-{d}")
        }
        IpAddr::V6(v6) => v6
            .segments()
            .iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join("-"),
    };
    // A label of at most 39 ASCII characters under a fixed domain: always a valid name.
    Name::from_ascii(format!("{label}.addr.{DOMAIN}")).unwrap_or_else(|_| Name::root())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The target of a name given as its labels (any bytes, as on the wire).
    fn target(s: &str) -> Target {
        let labels = s.split('.').filter(|l| !l.is_empty()).map(str::as_bytes);
        Target::of(&Name::from_labels(labels).unwrap())
    }

    #[test]
    fn everything_before_service_roster_is_the_data_id() {
        assert_eq!(
            target("com.example.echo.service.roster."),
            Target::Service("com.example.echo".into())
        );
        assert_eq!(
            target("echo.SERVICE.Roster."),
            Target::Service("echo".into())
        );
        assert_eq!(
            target("Svc:1.0.service.roster."),
            Target::Service("Svc:1.0".into()),
            "case and punctuation are kept"
        );
    }

    #[test]
    fn names_outside_the_zone_or_malformed_are_unknown() {
        assert_eq!(target("example.com."), Target::Unknown);
        assert_eq!(target("echo.other.roster."), Target::Unknown);
        assert_eq!(target("a#@#b#@#c.service.roster."), Target::Unknown);
        for label in [&b"a.b"[..], b"a\\b", b"a b", b"\xc3\xa9"] {
            let name = Name::from_labels([label, b"service", b"roster"]).unwrap();
            assert_eq!(Target::of(&name), Target::Unknown, "{name}");
        }
        assert_eq!(target("1-2-3.addr.roster."), Target::Unknown);
        assert_eq!(target("1-2-3-400.addr.roster."), Target::Unknown);
        assert_eq!(target("x.1-2-3-4.addr.roster."), Target::Unknown);
        assert_eq!(target("fd00--1-0-0-0-0-0.addr.roster."), Target::Unknown);
        assert_eq!(target("."), Target::Unknown);
    }

    #[test]
    fn the_zone_s_own_names_exist_but_are_empty() {
        assert_eq!(target("roster."), Target::Empty);
        assert_eq!(target("service.roster."), Target::Empty);
        assert_eq!(target("addr.roster."), Target::Empty);
    }

    #[test]
    fn an_address_name_names_its_address() {
        for ip in ["10.1.2.3", "fd00::1", "::", "2001:db8:0:0:1:0:0:ff"] {
            let ip: IpAddr = ip.parse().unwrap();
            let name = address_name(ip);
            assert_eq!(Target::of(&name), Target::Address(ip), "{name}");
        }
        assert_eq!(
            address_name("10.1.2.3".parse().unwrap()).to_ascii(),
            "10-1-2-3.addr.roster."
        );
    }
}
