//! The module's error: a PKCS#11 return value, mapped once from firma-apdu's
//! errors at this boundary.

use cryptoki_sys as ck;
use firma_apdu::transport::TransportError;

/// A failed call, carrying the `CK_RV` the application receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(pub ck::CK_RV);

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub const GENERAL: Error = Error(ck::CKR_GENERAL_ERROR);
    pub const ARGUMENTS_BAD: Error = Error(ck::CKR_ARGUMENTS_BAD);
    pub const NOT_INITIALIZED: Error = Error(ck::CKR_CRYPTOKI_NOT_INITIALIZED);
    pub const SESSION_HANDLE_INVALID: Error = Error(ck::CKR_SESSION_HANDLE_INVALID);
    pub const SLOT_ID_INVALID: Error = Error(ck::CKR_SLOT_ID_INVALID);
    pub const TOKEN_NOT_PRESENT: Error = Error(ck::CKR_TOKEN_NOT_PRESENT);
    pub const TOKEN_NOT_RECOGNIZED: Error = Error(ck::CKR_TOKEN_NOT_RECOGNIZED);
    pub const DEVICE_REMOVED: Error = Error(ck::CKR_DEVICE_REMOVED);
    pub const DEVICE_ERROR: Error = Error(ck::CKR_DEVICE_ERROR);
    pub const FUNCTION_NOT_SUPPORTED: Error = Error(ck::CKR_FUNCTION_NOT_SUPPORTED);
    pub const MECHANISM_INVALID: Error = Error(ck::CKR_MECHANISM_INVALID);
    pub const MECHANISM_PARAM_INVALID: Error = Error(ck::CKR_MECHANISM_PARAM_INVALID);
    pub const KEY_HANDLE_INVALID: Error = Error(ck::CKR_KEY_HANDLE_INVALID);
    pub const KEY_TYPE_INCONSISTENT: Error = Error(ck::CKR_KEY_TYPE_INCONSISTENT);
    pub const OBJECT_HANDLE_INVALID: Error = Error(ck::CKR_OBJECT_HANDLE_INVALID);
    pub const OPERATION_ACTIVE: Error = Error(ck::CKR_OPERATION_ACTIVE);
    pub const OPERATION_NOT_INITIALIZED: Error = Error(ck::CKR_OPERATION_NOT_INITIALIZED);
    pub const USER_NOT_LOGGED_IN: Error = Error(ck::CKR_USER_NOT_LOGGED_IN);
    pub const USER_ALREADY_LOGGED_IN: Error = Error(ck::CKR_USER_ALREADY_LOGGED_IN);
    pub const USER_ANOTHER_ALREADY_LOGGED_IN: Error = Error(ck::CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    pub const USER_TYPE_INVALID: Error = Error(ck::CKR_USER_TYPE_INVALID);
    pub const PIN_INCORRECT: Error = Error(ck::CKR_PIN_INCORRECT);
    pub const PIN_LOCKED: Error = Error(ck::CKR_PIN_LOCKED);
    pub const PIN_LEN_RANGE: Error = Error(ck::CKR_PIN_LEN_RANGE);
    pub const DATA_LEN_RANGE: Error = Error(ck::CKR_DATA_LEN_RANGE);
    pub const ENCRYPTED_DATA_INVALID: Error = Error(ck::CKR_ENCRYPTED_DATA_INVALID);
    pub const ENCRYPTED_DATA_LEN_RANGE: Error = Error(ck::CKR_ENCRYPTED_DATA_LEN_RANGE);
    pub const BUFFER_TOO_SMALL: Error = Error(ck::CKR_BUFFER_TOO_SMALL);
    pub const SESSION_READ_ONLY: Error = Error(ck::CKR_SESSION_READ_ONLY);
    pub const SESSION_READ_ONLY_EXISTS: Error = Error(ck::CKR_SESSION_READ_ONLY_EXISTS);
    pub const SESSION_PARALLEL_NOT_SUPPORTED: Error = Error(ck::CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    pub const ATTRIBUTE_TYPE_INVALID: Error = Error(ck::CKR_ATTRIBUTE_TYPE_INVALID);
    pub const ATTRIBUTE_SENSITIVE: Error = Error(ck::CKR_ATTRIBUTE_SENSITIVE);
    pub const ATTRIBUTE_VALUE_INVALID: Error = Error(ck::CKR_ATTRIBUTE_VALUE_INVALID);
    pub const TEMPLATE_INCONSISTENT: Error = Error(ck::CKR_TEMPLATE_INCONSISTENT);
    pub const KEY_FUNCTION_NOT_PERMITTED: Error = Error(ck::CKR_KEY_FUNCTION_NOT_PERMITTED);
    pub const NO_EVENT: Error = Error(ck::CKR_NO_EVENT);
    pub const ALREADY_INITIALIZED: Error = Error(ck::CKR_CRYPTOKI_ALREADY_INITIALIZED);
}

impl From<firma_apdu::Error> for Error {
    fn from(e: firma_apdu::Error) -> Self {
        use firma_apdu::Error as E;
        tracing::debug!(target: "firma_pkcs11", "card operation failed: {e}");
        match e {
            E::Transport(TransportError::CardRemoved | TransportError::NoCard(_)) => {
                Error::DEVICE_REMOVED
            }
            E::Transport(TransportError::NoReader(_)) => Error::DEVICE_REMOVED,
            // Our connection to the card is gone (pcscd restarted, the
            // reader went away): for the application, so is the token.
            E::Transport(
                TransportError::NoService
                | TransportError::Pcsc(
                    pcsc::Error::InvalidHandle
                    | pcsc::Error::ReaderUnavailable
                    | pcsc::Error::UnknownReader
                    | pcsc::Error::NoService
                    | pcsc::Error::ServiceStopped,
                ),
            ) => Error::DEVICE_REMOVED,
            E::Transport(_) => Error::DEVICE_ERROR,
            E::WrongPin { .. } | E::WrongPuk { .. } | E::WrongPukUncounted => Error::PIN_INCORRECT,
            E::PinBlocked | E::PukBlocked => Error::PIN_LOCKED,
            E::PinRequired(_) => Error::USER_NOT_LOGGED_IN,
            E::ManagementKeyRequired(_) | E::WrongManagementKey => Error::FUNCTION_NOT_SUPPORTED,
            E::NotFound(_) => Error::KEY_HANDLE_INVALID,
            E::NotSupportedByCard(_) => Error::FUNCTION_NOT_SUPPORTED,
            E::InvalidInput {
                what: "PIN or PUK", ..
            } => Error::PIN_LEN_RANGE,
            E::InvalidInput { .. } => Error::DATA_LEN_RANGE,
            E::ConditionsNotSatisfied(_) | E::Malformed(_) | E::Refused { .. } => {
                Error::DEVICE_ERROR
            }
        }
    }
}
