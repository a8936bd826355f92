//! Personal data: field encryption at rest, blind indexes for exact lookup, validated newtypes
//! and masking. Plain personal data never leaves this module except to the person it belongs to
//! (or, later, through an audited reveal).
mod cipher;
mod identity;
mod key_check;
mod phone;

pub use cipher::{FieldCipher, load_or_create_data_key};
pub use identity::{CreditCode, Email, ResidentIdNumber, id_check_char, mask_name};
pub use key_check::ensure_data_key_matches;
pub use phone::MobileNumber;
