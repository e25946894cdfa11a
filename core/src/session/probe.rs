//! Deletion from the linear-probing indexes of the session's dense tables
//! ([`ConnMap`](super::conn_map), [`Publishers`](super::publishers)): both keep their
//! entries in a vector and index them through a power-of-two table of positions, and both
//! delete by shifting back, so that no tombstones build up under churn.

/// An empty index slot.
pub(super) const EMPTY: u32 = u32::MAX;

/// Takes the entry filed at index slot `slot` out of `index`, for a table of `len` entries
/// that then fills the freed position with its last entry (`Vec::swap_remove`): the last
/// entry's index slot is pointed at the freed position, found by position rather than by
/// key. Returns the freed position. `home` gives the home slot of the entry at a position.
pub(super) fn take(
    index: &mut [u32],
    slot: usize,
    len: usize,
    home: impl Fn(u32) -> usize,
) -> usize {
    let pos = index[slot];
    unfile(index, slot, &home);
    let last = u32::try_from(len - 1).expect("positions fit the index");
    if pos != last {
        let mask = index.len() - 1;
        let mut i = home(last);
        while index[i] != last {
            i = (i + 1) & mask;
        }
        index[i] = pos;
    }
    pos as usize
}

/// Empties index slot `hole` of `index` (a power-of-two table of positions), shifting back
/// the probes that passed over it so that every remaining entry is still reachable from its
/// home slot. `home` gives the home slot of the entry at a position.
fn unfile(index: &mut [u32], mut hole: usize, home: impl Fn(u32) -> usize) {
    let mask = index.len() - 1;
    index[hole] = EMPTY;
    let mut i = hole;
    loop {
        i = (i + 1) & mask;
        let pos = index[i];
        if pos == EMPTY {
            return;
        }
        let h = home(pos);
        // The entry at `i` may move to `hole` unless its home lies cyclically in
        // (hole, i], where moving it would put it before its home.
        let stays = if hole <= i {
            hole < h && h <= i
        } else {
            hole < h || h <= i
        };
        if !stays {
            index[hole] = pos;
            index[i] = EMPTY;
            hole = i;
        }
    }
}
