//! Function lists and interfaces (PKCS#11 2.40 `C_GetFunctionList`, 3.0
//! `C_GetInterfaceList` and `C_GetInterface`): how an application finds
//! every other function.

use std::os::raw::c_void;

use cryptoki_sys::*;

use super::*;
use crate::error::Error;

macro_rules! function_list {
    ($ty:ident, $version:expr, { $($extra:ident),* }) => {
        $ty {
            version: $version,
            C_Initialize: Some(C_Initialize),
            C_Finalize: Some(C_Finalize),
            C_GetInfo: Some(C_GetInfo),
            C_GetFunctionList: Some(C_GetFunctionList),
            C_GetSlotList: Some(C_GetSlotList),
            C_GetSlotInfo: Some(C_GetSlotInfo),
            C_GetTokenInfo: Some(C_GetTokenInfo),
            C_GetMechanismList: Some(C_GetMechanismList),
            C_GetMechanismInfo: Some(C_GetMechanismInfo),
            C_InitToken: Some(C_InitToken),
            C_InitPIN: Some(C_InitPIN),
            C_SetPIN: Some(C_SetPIN),
            C_OpenSession: Some(C_OpenSession),
            C_CloseSession: Some(C_CloseSession),
            C_CloseAllSessions: Some(C_CloseAllSessions),
            C_GetSessionInfo: Some(C_GetSessionInfo),
            C_GetOperationState: Some(C_GetOperationState),
            C_SetOperationState: Some(C_SetOperationState),
            C_Login: Some(C_Login),
            C_Logout: Some(C_Logout),
            C_CreateObject: Some(C_CreateObject),
            C_CopyObject: Some(C_CopyObject),
            C_DestroyObject: Some(C_DestroyObject),
            C_GetObjectSize: Some(C_GetObjectSize),
            C_GetAttributeValue: Some(C_GetAttributeValue),
            C_SetAttributeValue: Some(C_SetAttributeValue),
            C_FindObjectsInit: Some(C_FindObjectsInit),
            C_FindObjects: Some(C_FindObjects),
            C_FindObjectsFinal: Some(C_FindObjectsFinal),
            C_EncryptInit: Some(C_EncryptInit),
            C_Encrypt: Some(C_Encrypt),
            C_EncryptUpdate: Some(C_EncryptUpdate),
            C_EncryptFinal: Some(C_EncryptFinal),
            C_DecryptInit: Some(C_DecryptInit),
            C_Decrypt: Some(C_Decrypt),
            C_DecryptUpdate: Some(C_DecryptUpdate),
            C_DecryptFinal: Some(C_DecryptFinal),
            C_DigestInit: Some(C_DigestInit),
            C_Digest: Some(C_Digest),
            C_DigestUpdate: Some(C_DigestUpdate),
            C_DigestKey: Some(C_DigestKey),
            C_DigestFinal: Some(C_DigestFinal),
            C_SignInit: Some(C_SignInit),
            C_Sign: Some(C_Sign),
            C_SignUpdate: Some(C_SignUpdate),
            C_SignFinal: Some(C_SignFinal),
            C_SignRecoverInit: Some(C_SignRecoverInit),
            C_SignRecover: Some(C_SignRecover),
            C_VerifyInit: Some(C_VerifyInit),
            C_Verify: Some(C_Verify),
            C_VerifyUpdate: Some(C_VerifyUpdate),
            C_VerifyFinal: Some(C_VerifyFinal),
            C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
            C_VerifyRecover: Some(C_VerifyRecover),
            C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
            C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
            C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
            C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
            C_GenerateKey: Some(C_GenerateKey),
            C_GenerateKeyPair: Some(C_GenerateKeyPair),
            C_WrapKey: Some(C_WrapKey),
            C_UnwrapKey: Some(C_UnwrapKey),
            C_DeriveKey: Some(C_DeriveKey),
            C_SeedRandom: Some(C_SeedRandom),
            C_GenerateRandom: Some(C_GenerateRandom),
            C_GetFunctionStatus: Some(C_GetFunctionStatus),
            C_CancelFunction: Some(C_CancelFunction),
            C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
            $($extra: Some($extra),)*
        }
    };
}

static FUNCTION_LIST: CK_FUNCTION_LIST = function_list!(CK_FUNCTION_LIST, version(2, 40), {});

static FUNCTION_LIST_3_0: CK_FUNCTION_LIST_3_0 = function_list!(CK_FUNCTION_LIST_3_0, version(3, 0), {
    C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
    C_MessageEncryptInit, C_EncryptMessage, C_EncryptMessageBegin, C_EncryptMessageNext, C_MessageEncryptFinal,
    C_MessageDecryptInit, C_DecryptMessage, C_DecryptMessageBegin, C_DecryptMessageNext, C_MessageDecryptFinal,
    C_MessageSignInit, C_SignMessage, C_SignMessageBegin, C_SignMessageNext, C_MessageSignFinal,
    C_MessageVerifyInit, C_VerifyMessage, C_VerifyMessageBegin, C_VerifyMessageNext, C_MessageVerifyFinal
});

const INTERFACE_NAME: &[u8] = b"PKCS 11\0";

/// The interfaces we offer; raw pointers to statics, never written through.
struct Interfaces([CK_INTERFACE; 2]);
// SAFETY: the pointers refer to immutable statics; callers only read them.
unsafe impl Sync for Interfaces {}

static INTERFACES: Interfaces = Interfaces([
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: std::ptr::addr_of!(FUNCTION_LIST_3_0) as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: std::ptr::addr_of!(FUNCTION_LIST) as *mut c_void,
        flags: 0,
    },
]);

cryptoki_fn! {
    fn C_GetFunctionList(list: *mut *mut CK_FUNCTION_LIST) {
        // SAFETY: `list` is NULL (refused) or where the caller wants the pointer.
        unsafe { put(list, std::ptr::addr_of!(FUNCTION_LIST) as *mut CK_FUNCTION_LIST) }
    }
}

cryptoki_fn! {
    fn C_GetInterfaceList(list: *mut CK_INTERFACE, count: *mut CK_ULONG) {
        // SAFETY: `count` is the caller's CK_ULONG, `list` NULL or room
        // for `*count` interfaces.
        unsafe { output(&INTERFACES.0, list, count) }
    }
}

cryptoki_fn! {
    fn C_GetInterface(
        name: *mut CK_UTF8CHAR,
        wanted: *mut CK_VERSION,
        out: *mut *mut CK_INTERFACE,
        flags: CK_FLAGS,
    ) {
        if out.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        if !name.is_null() {
            // SAFETY: a non-NULL name is a NUL-terminated string (§5.4).
            let given = unsafe { std::ffi::CStr::from_ptr(name as *const std::os::raw::c_char) };
            if given.to_bytes_with_nul() != INTERFACE_NAME {
                return Err(Error(CKR_ARGUMENTS_BAD));
            }
        }
        if flags != 0 {
            return Err(Error(CKR_ARGUMENTS_BAD));
        }
        // SAFETY: NULL or the caller's CK_VERSION.
        let index = match unsafe { wanted.as_ref() } {
            None => 0,
            Some(v) if (v.major, v.minor) == (3, 0) => 0,
            Some(v) if v.major == 2 => 1,
            Some(_) => return Err(Error(CKR_ARGUMENTS_BAD)),
        };
        // SAFETY: `out` is where the caller wants the pointer, checked non-NULL.
        unsafe { put(out, std::ptr::addr_of!(INTERFACES.0[index]) as *mut CK_INTERFACE) }
    }
}
