//! The citizen's window (egui/eframe): [`app`] keeps what the card's thread
//! reported and draws it, one file per part of the window; every text
//! comes from [`i18n`].

mod app;
mod browsers;
mod card_view;
mod forms;
pub mod i18n;
mod secret;

pub use app::{run, setup_style, App, Notice};
