//! Which slot a data info id lives in: CRC-32C of its printable form
//! (`data_id#@#instance_id#@#group`, UTF-8), masked to the slot count.

use crate::model::{DataInfoId, SEPARATOR, SlotId};

/// A slot count: a power of two from 1 to 65,536. Masking (instead of a modulo) needs the
/// power of two, and 16-bit slot ids bound it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotCount(u32);

/// A slot count that is not a power of two between 1 and 65,536.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSlotCount(pub u64);

impl std::fmt::Display for BadSlotCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "slot count {} is not a power of two from 1 to 65536",
            self.0
        )
    }
}

impl std::error::Error for BadSlotCount {}

impl SlotCount {
    /// The default: 256 slots.
    pub const DEFAULT: SlotCount = SlotCount(256);
    /// The largest count slot ids can address.
    pub const MAX: u32 = 1 << 16;

    /// Validates a slot count.
    pub fn new(n: u64) -> Result<Self, BadSlotCount> {
        if n.is_power_of_two() && n <= u64::from(Self::MAX) {
            Ok(SlotCount(n as u32))
        } else {
            Err(BadSlotCount(n))
        }
    }

    /// The count.
    pub fn get(self) -> u32 {
        self.0
    }

    /// Every slot id, in order.
    pub fn slots(self) -> impl Iterator<Item = SlotId> {
        // `new` caps the count at 65,536, so every index fits in u16.
        (0..self.0).map(|i| SlotId(i as u16))
    }

    /// The slot of a data info id.
    pub fn slot_of(self, id: &DataInfoId) -> SlotId {
        SlotId((key_crc(id) & (self.0 - 1)) as u16)
    }
}

/// CRC-32C of a key's printable form. A short form (nearly every key) is assembled on the
/// stack and checksummed in one call: each call of the checksum has a fixed cost that five
/// (one per part) would pay five times.
fn key_crc(id: &DataInfoId) -> u32 {
    let sep = SEPARATOR.as_bytes();
    let parts = [
        id.data_id.as_bytes(),
        sep,
        id.instance_id.as_bytes(),
        sep,
        id.group.as_bytes(),
    ];
    let mut buf = [0u8; 256];
    let mut len = 0;
    for part in parts {
        let Some(dst) = buf.get_mut(len..len + part.len()) else {
            return parts
                .iter()
                .fold(0, |crc, part| crc32c::crc32c_append(crc, part));
        };
        dst.copy_from_slice(part);
        len += part.len();
    }
    crc32c::crc32c(&buf[..len])
}

impl Default for SlotCount {
    fn default() -> Self {
        SlotCount::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_must_be_powers_of_two_within_range() {
        assert!(SlotCount::new(256).is_ok());
        assert!(SlotCount::new(1).is_ok());
        assert!(SlotCount::new(65_536).is_ok());
        assert_eq!(SlotCount::new(0), Err(BadSlotCount(0)));
        assert_eq!(SlotCount::new(255), Err(BadSlotCount(255)));
        assert_eq!(SlotCount::new(131_072), Err(BadSlotCount(131_072)));
    }

    #[test]
    fn slot_is_crc32c_of_the_printable_form_masked() {
        let id = DataInfoId::new("com.example.Svc", "DEFAULT_INSTANCE_ID", "DEFAULT_GROUP");
        let crc = crc32c::crc32c(id.to_string().as_bytes());
        assert_eq!(SlotCount::DEFAULT.slot_of(&id), SlotId((crc & 255) as u16));
        assert_eq!(SlotCount::new(1).unwrap().slot_of(&id), SlotId(0));
    }

    #[test]
    fn long_keys_hash_their_printable_form_too() {
        for n in [200, 251, 252, 300, 1000] {
            let id = DataInfoId::new("d".repeat(n), "DEFAULT_INSTANCE_ID", "DEFAULT_GROUP");
            let crc = crc32c::crc32c(id.to_string().as_bytes());
            let count = SlotCount::new(65_536).unwrap();
            assert_eq!(
                count.slot_of(&id),
                SlotId(crc as u16),
                "data id of {n} bytes"
            );
        }
    }

    #[test]
    fn keys_spread_over_all_slots() {
        let count = SlotCount::DEFAULT;
        let mut hits = vec![0u32; 256];
        for i in 0..25_600 {
            let id = DataInfoId::new(format!("svc-{i}"), "i", "g");
            hits[usize::from(count.slot_of(&id).0)] += 1;
        }
        // Expected 100 per slot; a usable hash keeps every slot within a factor of two.
        assert!(hits.iter().all(|&h| (50..200).contains(&h)), "{hits:?}");
    }
}
