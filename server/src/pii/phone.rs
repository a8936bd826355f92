//! Mainland-China mobile numbers.
use crate::error::AppError;

/// An 11-digit mainland mobile number (`1[3-9]` + 9 digits); `+86`/`0086`/`86` and
/// spaces or dashes are stripped when parsing.
#[derive(Clone, PartialEq, Eq)]
pub struct MobileNumber(String);

impl std::fmt::Debug for MobileNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MobileNumber({})", self.masked())
    }
}

impl MobileNumber {
    /// `field` names the input in the error.
    pub fn parse(raw: &str, field: &str) -> Result<Self, AppError> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .collect();
        let digits = compact
            .strip_prefix("+86")
            .or_else(|| compact.strip_prefix("0086"))
            .or_else(|| {
                (compact.len() == 13)
                    .then(|| compact.strip_prefix("86"))
                    .flatten()
            })
            .unwrap_or(&compact);
        let bytes = digits.as_bytes();
        let valid = bytes.len() == 11
            && bytes[0] == b'1'
            && (b'3'..=b'9').contains(&bytes[1])
            && bytes.iter().all(u8::is_ascii_digit);
        if valid {
            Ok(Self(digits.to_string()))
        } else {
            Err(AppError::bad_input(
                field,
                "not a mainland China mobile number (11 digits starting with 13–19)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****1234`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_mobile_numbers() {
        let ok = [
            ("13812345678", "13812345678"),
            ("+8613812345678", "13812345678"),
            ("008613812345678", "13812345678"),
            ("8613812345678", "13812345678"),
            (" 138-1234-5678 ", "13812345678"),
            ("19912345678", "19912345678"),
        ];
        for (raw, normal) in ok {
            assert_eq!(
                MobileNumber::parse(raw, "phone").unwrap().as_str(),
                normal,
                "{raw}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_mobile_number() {
        let bad = [
            "",
            "1381234567",
            "138123456789",
            "12812345678",
            "23812345678",
            "1381234567a",
            "+85213812345678",
            "１３８１２３４５６７８",
            "010-12345678",
        ];
        for raw in bad {
            let err = MobileNumber::parse(raw, "input.phone").unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{raw}");
        }
    }

    #[test]
    fn masks_the_middle_four_digits() {
        assert_eq!(
            MobileNumber::parse("13812345678", "p").unwrap().masked(),
            "138****5678"
        );
        assert!(
            !format!("{:?}", MobileNumber::parse("13812345678", "p").unwrap()).contains("1234")
        );
    }
}
