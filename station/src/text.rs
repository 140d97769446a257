//! Enums that are stored as text (in the registry, the journal and the audit
//! log): one spelling each, and a typed error when stored text is not one.

/// Stored text that names no value of the type it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {text:?}")]
pub struct UnknownText {
    /// The type the text should have named.
    pub kind: &'static str,
    /// The text found.
    pub text: String,
}

/// Declares an enum of unit variants, each with the text it is stored as:
/// `as_str`, `Display` and `FromStr` (failing with [`UnknownText`]).
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }
        impl $name {
            /// The text this value is stored as.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $name {
            type Err = $crate::text::UnknownText;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::text::UnknownText {
                        kind: stringify!($name),
                        text: other.to_string(),
                    }),
                }
            }
        }
    };
}
pub(crate) use text_enum;
