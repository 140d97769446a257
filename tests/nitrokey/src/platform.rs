//! Trussed's platform for the virtual card: storage in files of a directory
//! (or RAM), volatile storage in RAM, and the OS random generator.
//!
//! `trussed::virt::Platform` seeds its generator with a constant, which would
//! give every virtual card the same keys; this platform seeds from the OS.

use std::path::Path;
use std::sync::{Arc, Mutex};

use generic_array::typenum::{U512, U8};
use littlefs2::driver::Storage;

use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, SeedableRng};
use trussed::virt::{StorageConfig, Store, StoreConfig, UserInterface};

pub struct Platform<'a> {
    rng: ChaCha20Rng,
    store: Store<'a>,
    ui: UserInterface,
}

impl<'a> Platform<'a> {
    pub fn new(store: Store<'a>) -> Self {
        Self {
            rng: ChaCha20Rng::from_rng(OsRng).expect("the OS random generator"),
            store,
            ui: UserInterface::new(),
        }
    }
}

impl<'a> trussed::Platform for Platform<'a> {
    type R = ChaCha20Rng;
    type S = Store<'a>;
    type UI = UserInterface;

    fn rng(&mut self) -> &mut Self::R {
        &mut self.rng
    }

    fn store(&self) -> Self::S {
        self.store
    }

    fn user_interface(&mut self) -> &mut Self::UI {
        &mut self.ui
    }
}

/// The card's flash: `internal.lfs` and `external.lfs` in `dir` (created and
/// formatted when missing), or RAM that lasts as long as the process when
/// there is no directory. Volatile storage is always new: it is what a
/// power cycle loses.
pub fn store_config(dir: Option<&Path>, ram: &RamFlash) -> StoreConfig<'static> {
    match dir {
        Some(dir) => StoreConfig {
            internal: StorageConfig::filesystem(dir.join("internal.lfs")),
            external: StorageConfig::filesystem(dir.join("external.lfs")),
            volatile: StorageConfig::ram(),
        },
        None => StoreConfig {
            internal: ram.internal.config(),
            external: ram.external.config(),
            volatile: StorageConfig::ram(),
        },
    }
}

/// Internal and external flash in RAM, for a card without `--state`.
#[derive(Default)]
pub struct RamFlash {
    internal: SharedBlocks,
    external: SharedBlocks,
}

/// One flash chip in RAM, shared by the power cycles of one process; the
/// geometry is trussed virt's (128 blocks of 512 bytes).
#[derive(Clone, Default)]
struct SharedBlocks(Arc<Mutex<Option<Vec<u8>>>>);

const BLOCK_SIZE: usize = 512;
const BLOCK_COUNT: usize = 128;

impl SharedBlocks {
    /// Formatted by the first power cycle, mounted as it is by the later ones.
    fn config(&self) -> StorageConfig<'static> {
        let mut blocks = self.0.lock().expect("the flash lock");
        let format = blocks.is_none();
        blocks.get_or_insert_with(|| vec![0xFF; BLOCK_SIZE * BLOCK_COUNT]);
        StorageConfig {
            storage: Box::new(self.clone()),
            format,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut blocks = self.0.lock().expect("the flash lock");
        f(blocks.as_mut().expect("formatted before use"))
    }
}

impl Storage for SharedBlocks {
    const READ_SIZE: usize = 16;
    const WRITE_SIZE: usize = 16;
    const BLOCK_SIZE: usize = BLOCK_SIZE;
    const BLOCK_COUNT: usize = BLOCK_COUNT;
    const BLOCK_CYCLES: isize = -1;
    type CACHE_SIZE = U512;
    type LOOKAHEAD_SIZE = U8;

    fn read(&mut self, offset: usize, buffer: &mut [u8]) -> littlefs2::io::Result<usize> {
        self.with(|flash| {
            let src = flash
                .get(offset..offset + buffer.len())
                .ok_or(littlefs2::io::Error::INVALID)?;
            buffer.copy_from_slice(src);
            Ok(buffer.len())
        })
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> littlefs2::io::Result<usize> {
        self.with(|flash| {
            let dst = flash
                .get_mut(offset..offset + data.len())
                .ok_or(littlefs2::io::Error::NO_SPACE)?;
            dst.copy_from_slice(data);
            Ok(data.len())
        })
    }

    fn erase(&mut self, offset: usize, len: usize) -> littlefs2::io::Result<usize> {
        self.with(|flash| {
            flash
                .get_mut(offset..offset + len)
                .ok_or(littlefs2::io::Error::NO_SPACE)?
                .fill(0xFF);
            Ok(len)
        })
    }
}
