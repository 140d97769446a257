//! Trussed's platform for the virtual card: storage in files of a directory
//! (or RAM), volatile storage in RAM, and the OS random generator.
//!
//! `trussed::virt::Platform` seeds its generator with a constant, which would
//! give every virtual card the same keys; this platform seeds from the OS.

use std::path::Path;

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
/// formatted when missing), or RAM when there is no directory. Volatile
/// storage is always new: it is what a power cycle loses.
pub fn store_config(dir: Option<&Path>) -> StoreConfig<'static> {
    match dir {
        Some(dir) => StoreConfig {
            internal: StorageConfig::filesystem(dir.join("internal.lfs")),
            external: StorageConfig::filesystem(dir.join("external.lfs")),
            volatile: StorageConfig::ram(),
        },
        None => StoreConfig::ram(),
    }
}
