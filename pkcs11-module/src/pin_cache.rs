//! The PINs the module keeps between operations (the user's login, the SO's
//! PUK, a context-specific login waiting for its operation), in one place
//! that needs no lock to wipe.
//!
//! A forked child inherits a copy of the parent's memory, cached PINs
//! included, but none of the parent's threads: a lock one of them held at
//! the fork stays locked forever in the child. So the PINs do not live
//! under the module's locks but in cells of atomics, and [`wipe_all`] (run
//! in a forked child, before anything else) overwrites every cell without
//! waiting for anybody.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use firma_apdu::piv::Pin;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Cells for every PIN the module can hold at once: two per token (PIN and
/// PUK) and one per pending context login, for many readers.
const CELLS: usize = 256;

struct Cell {
    used: AtomicBool,
    /// The PIN as the card wants it: padded with FF to 8 bytes.
    bytes: [AtomicU8; 8],
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Cell = Cell {
    used: AtomicBool::new(false),
    bytes: [const { AtomicU8::new(0) }; 8],
};

static CACHE: [Cell; CELLS] = [EMPTY; CELLS];

/// A PIN kept for later; its cell is wiped when this is dropped.
pub struct CachedPin {
    cell: usize,
}

impl CachedPin {
    /// Keeps `pin`; CKR_HOST_MEMORY if every cell is taken.
    pub fn store(pin: &Pin) -> Result<Self> {
        let cell = CACHE
            .iter()
            .position(|c| {
                c.used
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            })
            .ok_or(Error(cryptoki_sys::CKR_HOST_MEMORY))?;
        for (b, v) in CACHE[cell].bytes.iter().zip(pin.padded()) {
            b.store(*v, Ordering::Relaxed);
        }
        Ok(Self { cell })
    }

    /// The PIN, for one operation (zeroized when dropped).
    pub fn pin(&self) -> Result<Pin> {
        let mut padded = Zeroizing::new([0u8; 8]);
        for (v, b) in padded.iter_mut().zip(&CACHE[self.cell].bytes) {
            *v = b.load(Ordering::Relaxed);
        }
        let len = padded.iter().position(|&b| b == 0xFF).unwrap_or(8);
        // Wiped under us (a forked child) or never valid: nothing to use.
        Pin::new(&padded[..len]).map_err(|_| Error::USER_NOT_LOGGED_IN)
    }
}

impl Drop for CachedPin {
    fn drop(&mut self) {
        let c = &CACHE[self.cell];
        for b in &c.bytes {
            b.store(0, Ordering::Relaxed);
        }
        c.used.store(false, Ordering::Release);
    }
}

impl std::fmt::Debug for CachedPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CachedPin(..)")
    }
}

/// Overwrites every cached PIN and frees every cell. Only for a forked
/// child, whose copy of the parent's module is never used again: it takes
/// no lock, so it cannot wait on a thread that does not exist.
pub fn wipe_all() {
    for c in &CACHE {
        for b in &c.bytes {
            b.store(0, Ordering::Relaxed);
        }
        c.used.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_read_and_wiped() {
        let pin = Pin::new("123456").unwrap();
        let kept = CachedPin::store(&pin).unwrap();
        assert_eq!(kept.pin().unwrap().as_bytes(), b"123456");
        let cell = kept.cell;
        drop(kept);
        assert!(CACHE[cell]
            .bytes
            .iter()
            .all(|b| b.load(Ordering::Relaxed) == 0));
        assert!(!CACHE[cell].used.load(Ordering::Relaxed));
    }
}
