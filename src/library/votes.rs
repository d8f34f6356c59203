//! The recogniser's vote counts: a compact table from a 48-bit key to a count.
//!
//! Owns the memory of recognition under a large collection, where chance scatters hundreds of
//! thousands of single votes: each place is one `u64` (its key and a 16-bit count), in an
//! open-addressed table, so half a million places take 8 MiB (a general hash map of the same
//! takes 17, and twice that while it grows). It starts small (a small collection's votes stay
//! small) and doubles when half full, up to its largest size, in place: the entries are set aside
//! (8 bytes each), the table is cleared, extended and filled again, so a growth never holds two
//! tables. Its user keeps it under [`Votes::room`] by [`Votes::retain`]. It does not decide what a key means or which places go
//! ([`super::recognize`] does). How it fails: it cannot; a count stops at 65,535, and a key must
//! be under 2^48 − 1 (wider ones are cut to 48 bits; its user packs fewer).

/// Bits of a key.
pub const KEY_BITS: u32 = 48;
const COUNT_BITS: u32 = 64 - KEY_BITS;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;

/// The table: slot 0 is empty, any other holds (key + 1) and its count.
pub struct Votes {
    slots: Vec<u64>,
    shift: u32,
    len: usize,
    /// The most slots it grows to.
    most: usize,
}

impl Votes {
    /// A table of `2^bits` slots that grows up to `2^most_bits`.
    pub fn new(bits: u32, most_bits: u32) -> Votes {
        Votes { slots: vec![0; 1 << bits], shift: 64 - bits, len: 0, most: 1 << most_bits.max(bits) }
    }

    /// Places held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no place.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Places it can hold at its largest and still find each in a few probes (three quarters of
    /// its slots).
    pub fn room(&self) -> usize {
        self.most / 4 * 3
    }

    /// What a slot holds of `key`: never 0, which marks an empty slot.
    fn tag(key: u64) -> u64 {
        (key & ((1 << KEY_BITS) - 1)) + 1
    }

    /// The slot of `key`, or the empty slot where it would go.
    fn find(&self, key: u64) -> usize {
        let tag = Self::tag(key);
        let mask = self.slots.len() - 1;
        // Keys eight apart share a run of eight slots (a cache line): the recogniser reads the
        // counts of neighbouring alignments together, which then cost one miss, not five.
        let run = ((tag >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        let mut i = (run & !7 | (tag & 7) as usize) & mask;
        while self.slots[i] != 0 && self.slots[i] >> COUNT_BITS != tag {
            i = (i + 1) & mask;
        }
        i
    }

    /// One vote for `key`: its count after it. A table with no room left takes no new place (its
    /// user prunes long before).
    pub fn add(&mut self, key: u64) -> u32 {
        if 2 * self.len >= self.slots.len() && self.slots.len() < self.most {
            self.rebuild(2 * self.slots.len(), |_, _| true);
        }
        let i = self.find(key);
        if self.slots[i] == 0 {
            if self.len + 1 >= self.slots.len() {
                return 0;
            }
            self.slots[i] = Self::tag(key) << COUNT_BITS;
            self.len += 1;
        }
        if self.slots[i] & COUNT_MAX < COUNT_MAX {
            self.slots[i] += 1;
        }
        (self.slots[i] & COUNT_MAX) as u32
    }

    /// The count of `key` (0: never voted for, or pruned).
    pub fn get(&self, key: u64) -> u32 {
        (self.slots[self.find(key)] & COUNT_MAX) as u32
    }

    /// Keeps the places `keep` says yes to (key, count), and rebuilds the table around them, so
    /// that no probe runs over the ones that went.
    pub fn retain(&mut self, keep: impl Fn(u64, u32) -> bool) {
        self.rebuild(self.slots.len(), keep);
    }

    /// The table again at `size` slots, with the places `keep` says yes to.
    fn rebuild(&mut self, size: usize, keep: impl Fn(u64, u32) -> bool) {
        let kept: Vec<u64> = self
            .slots
            .iter()
            .filter(|&&s| s != 0 && keep((s >> COUNT_BITS) - 1, (s & COUNT_MAX) as u32))
            .copied()
            .collect();
        self.slots.clear();
        self.slots.resize(size, 0);
        self.shift = 64 - size.trailing_zeros();
        self.len = 0;
        for s in kept {
            let i = self.find((s >> COUNT_BITS) - 1);
            self.slots[i] = s;
            self.len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_kept_per_key_and_survive_a_rebuild() {
        let mut v = Votes::new(4, 10);
        // Keys that share their low bits or differ only high up are still apart.
        let keys = [0, 1, 1 << 20, (1 << KEY_BITS) - 2, 0x0000_ABCD_0000_0001, 0x0000_ABCD_0000_0002];
        for (n, &k) in keys.iter().enumerate() {
            for _ in 0..=n {
                v.add(k);
            }
        }
        for (n, &k) in keys.iter().enumerate() {
            assert_eq!(v.get(k), n as u32 + 1, "key {k:#x}");
        }
        assert_eq!((v.len(), v.is_empty(), v.get(2), v.get(12345)), (6, false, 0, 0));
        v.retain(|_, n| n > 3);
        assert_eq!(v.len(), 3);
        assert_eq!(
            (v.get(keys[3]), v.get(keys[4]), v.get(keys[5]), v.get(keys[0]), v.get(keys[2])),
            (4, 5, 6, 0, 0)
        );
    }

    #[test]
    fn a_full_table_takes_no_new_place_and_a_count_stops_at_its_top() {
        let mut v = Votes::new(4, 4);
        for k in 0..100 {
            v.add(k);
        }
        assert_eq!(v.len(), 15, "one slot stays empty, so a probe always ends");
        assert_eq!(v.get(1000), 0);
        for _ in 0..70_000 {
            v.add(0);
        }
        assert_eq!(v.get(0), 65_535);
    }

    #[test]
    fn many_keys_like_the_recognisers_are_all_found() {
        // From 256 slots, grown by doubling as it fills.
        let mut v = Votes::new(8, 16);
        let key =
            |print: u64, speed: u64, d: i32| print << 28 | speed << 24 | u64::from(d as u32 & 0xFF_FFFF);
        let mut n = 0;
        for print in 0..40 {
            for speed in 0..11 {
                for d in (-60..60).step_by(7) {
                    v.add(key(print, speed, d));
                    n += 1;
                }
            }
        }
        assert_eq!(v.len(), n);
        assert_eq!(v.slots.len(), 1 << 14, "{n} places: grown by doubling while half full");
        assert!(v.len() < v.room());
        assert_eq!(v.get(key(39, 10, -60)), 1);
        assert_eq!(v.get(key(39, 10, -59)), 0);
    }
}
