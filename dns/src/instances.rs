//! The instances of a service as DNS sees them: which publishers follow the address
//! convention, and their SRV weight and priority.
//!
//! The convention: a publisher's first payload element is `host:port` with `host` an IPv4
//! literal or a bracketed IPv6 literal (`10.1.2.3:8080`, `[fd00::1]:8080`) and a port
//! other than 0. Host names are not resolved (the DNS interface would become a recursive
//! resolver); publishers that do not follow the convention are left out of every answer.
//! The attributes `weight` and `priority` (decimal, 0 to 65535) give the SRV fields; an
//! absent or unreadable value takes the default ([`DEFAULT_WEIGHT`], [`DEFAULT_PRIORITY`]).

use roster_client::PublisherList;
use std::net::SocketAddr;

/// SRV weight of a publisher without a readable `weight` attribute.
pub const DEFAULT_WEIGHT: u16 = 1;
/// SRV priority of a publisher without a readable `priority` attribute.
pub const DEFAULT_PRIORITY: u16 = 0;

/// One instance of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instance {
    /// Where it listens.
    pub addr: SocketAddr,
    /// SRV weight.
    pub weight: u16,
    /// SRV priority (lower is preferred).
    pub priority: u16,
}

impl Instance {
    /// The instance of a publisher with this first payload element and these attributes,
    /// if the payload follows the convention.
    pub fn of<'a>(
        first: &[u8],
        attributes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Instance> {
        let addr: SocketAddr = std::str::from_utf8(first).ok()?.parse().ok()?;
        if addr.port() == 0 {
            return None;
        }
        let mut instance = Instance {
            addr,
            weight: DEFAULT_WEIGHT,
            priority: DEFAULT_PRIORITY,
        };
        for (key, value) in attributes {
            match key {
                "weight" => instance.weight = value.parse().unwrap_or(DEFAULT_WEIGHT),
                "priority" => instance.priority = value.parse().unwrap_or(DEFAULT_PRIORITY),
                _ => {}
            }
        }
        Some(instance)
    }
}

/// The instances of every publisher of a list that follows the convention, in list order.
pub fn instances(publishers: &PublisherList) -> Vec<Instance> {
    publishers
        .iter()
        .filter_map(|p| Instance::of(p.payload().next()?, p.attributes()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_payloads_make_instances_with_their_attributes() {
        let i = Instance::of(b"10.1.2.3:8080", [("weight", "5"), ("priority", "2")]).unwrap();
        assert_eq!(i.addr, "10.1.2.3:8080".parse().unwrap());
        assert_eq!((i.weight, i.priority), (5, 2));
        let v6 = Instance::of(b"[fd00::1]:53", []).unwrap();
        assert_eq!(v6.addr, "[fd00::1]:53".parse().unwrap());
        assert_eq!((v6.weight, v6.priority), (DEFAULT_WEIGHT, DEFAULT_PRIORITY));
    }

    #[test]
    fn other_payloads_are_skipped_and_bad_attributes_take_defaults() {
        for p in [
            &b"echo.example.com:80"[..],
            b"10.1.2.3",
            b"10.1.2.3:0",
            b"fd00::1:80",
            b"",
            b"\xff\xfe",
            b"http://10.1.2.3:80",
        ] {
            assert_eq!(Instance::of(p, []), None, "{}", String::from_utf8_lossy(p));
        }
        let i = Instance::of(b"10.0.0.1:1", [("weight", "70000"), ("priority", "-1")]).unwrap();
        assert_eq!((i.weight, i.priority), (DEFAULT_WEIGHT, DEFAULT_PRIORITY));
    }
}
