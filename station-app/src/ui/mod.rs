//! The operator's window (egui/eframe): [`app`] keeps the window's state
//! and applies what the operator asks for, [`model`] holds what the
//! screens show, [`screen`] draws them, one file per screen. All
//! operator-facing text comes from [`i18n`].

mod app;
mod citizen;
pub mod i18n;
mod localtime;
mod model;
mod print;
mod screen;

pub use app::{run, setup_style, App};
pub use citizen::CitizenEvent;
