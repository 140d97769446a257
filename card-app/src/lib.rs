//! Firma's card manager for citizens (`firma-card`): the card as the
//! citizen understands it, PIN change and unblock with the PUK, and the
//! card registered in Firefox and Chrome. [`card`] reads the card, with no
//! user interface; [`worker`] is the thread that talks to it; [`ui`] is the
//! window.
#![forbid(unsafe_code)]

pub mod card;
pub mod ui;
pub mod worker;
