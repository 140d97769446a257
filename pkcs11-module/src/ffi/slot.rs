//! Slot and token management (PKCS#11 3.0 §5.5): readers, the cards in
//! them, their mechanisms, and the PIN functions.

use std::os::raw::c_void;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{bytes, initialized, instance, output, padded, put, version, with_module};
use crate::error::Error;
use crate::mechanism::table;

cryptoki_fn! {
    fn C_GetSlotList(token_present: CK_BBOOL, list: *mut CK_SLOT_ID, count: *mut CK_ULONG) {
        initialized()?;
        let ids = with_module(|m| m.slot_ids(token_present != 0))?;
        // SAFETY: `count` is the caller's CK_ULONG, `list` NULL or room
        // for `*count` slot IDs (§5.5).
        unsafe { output(&ids, list, count) }
    }
}

cryptoki_fn! {
    fn C_GetSlotInfo(slot: CK_SLOT_ID, info: *mut CK_SLOT_INFO) {
        initialized()?;
        if info.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        // The registry only: never waits for a card another thread uses.
        let value = with_module(|m| {
            let s = m.slot_info(slot)?;
            let mut flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
            if s.present {
                flags |= CKF_TOKEN_PRESENT;
            }
            Ok(CK_SLOT_INFO {
                slotDescription: padded(&s.reader),
                manufacturerID: padded("Firma"),
                flags,
                hardwareVersion: version(0, 0),
                firmwareVersion: version(0, 0),
            })
        })?;
        // SAFETY: `info` is the caller's CK_SLOT_INFO, checked non-NULL.
        unsafe { put(info, value) }
    }
}

cryptoki_fn! {
    fn C_GetTokenInfo(slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO) {
        initialized()?;
        if info.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let value = with_module(|m| {
            // From the state read at insertion and at each login: no APDU here.
            let t = m.token_info(slot)?;
            let (sessions, rw) = (t.sessions as CK_ULONG, t.rw_sessions as CK_ULONG);
            // Card-supplied bytes: saturating, whatever the card says.
            let fw = t.version.map_or(version(0, 0), |v| {
                version(v.0, v.1.saturating_mul(10).saturating_add(v.2.min(9)))
            });
            Ok(CK_TOKEN_INFO {
                label: padded(&t.label),
                manufacturerID: padded("Firma"),
                model: padded("PIV"),
                serialNumber: padded(&t.serial),
                flags: t.flags,
                ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
                ulSessionCount: sessions,
                ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
                ulRwSessionCount: rw,
                ulMaxPinLen: 8,
                ulMinPinLen: 6,
                ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
                ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
                ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
                ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
                hardwareVersion: version(0, 0),
                firmwareVersion: fw,
                utcTime: padded(""),
            })
        })?;
        // SAFETY: `info` is the caller's CK_TOKEN_INFO, checked non-NULL.
        unsafe { put(info, value) }
    }
}

cryptoki_fn! {
    fn C_WaitForSlotEvent(flags: CK_FLAGS, slot: *mut CK_SLOT_ID, reserved: *mut c_void) {
        if slot.is_null() || !reserved.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        initialized()?;
        let generation = instance().generation.load(Ordering::SeqCst);
        loop {
            // The lock is held only for a look, never while waiting, so that
            // C_Finalize from another thread goes through.
            let event = with_module(|m| m.next_event())?;
            if let Some(id) = event {
                // SAFETY: `slot` is the caller's CK_SLOT_ID, checked non-NULL.
                return unsafe { put(slot, id) };
            }
            if flags & CKF_DONT_BLOCK != 0 {
                return Err(Error::NO_EVENT);
            }
            std::thread::sleep(Duration::from_millis(100));
            if instance().generation.load(Ordering::SeqCst) != generation {
                return Err(Error::NOT_INITIALIZED);
            }
        }
    }
}

cryptoki_fn! {
    fn C_GetMechanismList(slot: CK_SLOT_ID, list: *mut CK_MECHANISM_TYPE, count: *mut CK_ULONG) {
        with_module(|m| m.check_slot(slot))?;
        // SAFETY: `count` is the caller's CK_ULONG, `list` NULL or room
        // for `*count` mechanism types (§5.5).
        unsafe { output(&table::kinds(), list, count) }
    }
}

cryptoki_fn! {
    fn C_GetMechanismInfo(slot: CK_SLOT_ID, kind: CK_MECHANISM_TYPE, info: *mut CK_MECHANISM_INFO) {
        with_module(|m| m.check_slot(slot))?;
        let offered = table::find(kind).ok_or(Error::MECHANISM_INVALID)?;
        let value = CK_MECHANISM_INFO {
            ulMinKeySize: offered.min_bits,
            ulMaxKeySize: offered.max_bits,
            flags: offered.flags,
        };
        // SAFETY: `info` is NULL (refused) or the caller's CK_MECHANISM_INFO.
        unsafe { put(info, value) }
    }
}

cryptoki_fn! {
    fn C_InitPIN(session: CK_SESSION_HANDLE, pin: *mut CK_UTF8CHAR, len: CK_ULONG) {
        initialized()?;
        // SAFETY: `pin` is NULL (only if empty) or `len` readable bytes.
        let pin = Zeroizing::new(unsafe { bytes(pin, len) }?.to_vec());
        with_module(|m| m.init_pin(session, &pin))
    }
}

cryptoki_fn! {
    fn C_SetPIN(
        session: CK_SESSION_HANDLE,
        old: *mut CK_UTF8CHAR,
        old_len: CK_ULONG,
        new: *mut CK_UTF8CHAR,
        new_len: CK_ULONG,
    ) {
        initialized()?;
        // SAFETY: each PIN is NULL (only if empty) or its length in bytes.
        let old = Zeroizing::new(unsafe { bytes(old, old_len) }?.to_vec());
        // SAFETY: as above.
        let new = Zeroizing::new(unsafe { bytes(new, new_len) }?.to_vec());
        with_module(|m| m.set_pin(session, &old, &new))
    }
}
