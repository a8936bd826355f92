//! Resident ID numbers (GB 11643), unified social credit codes (GB 32100) and e-mail addresses.
//! Types parse, they don't validate: `parse` is the only way to build one.
use chrono::{Datelike, NaiveDate};

use crate::error::AppError;

/// An 18-character mainland resident ID number with a valid check character and a real birth
/// date; a lower-case `x` is normalised to `X`.
#[derive(Clone, PartialEq, Eq)]
pub struct ResidentIdNumber(String);

impl std::fmt::Debug for ResidentIdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ResidentIdNumber({})", self.masked())
    }
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character for the first 17 digits.
pub fn id_check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(ID_CHECK[(sum % 11) as usize])
}

impl ResidentIdNumber {
    pub fn parse(raw: &str, field: &str) -> Result<Self, AppError> {
        let bad = |why: &str| {
            AppError::bad_input(field, format!("not a valid resident ID number: {why}"))
        };
        let value = raw.trim().to_ascii_uppercase();
        let bytes = value.as_bytes();
        if bytes.len() != 18 {
            return Err(bad("it must have 18 characters"));
        }
        let (body, check) = bytes.split_at(17);
        let expected =
            id_check_char(body).ok_or_else(|| bad("the first 17 characters must be digits"))?;
        let birth = NaiveDate::parse_from_str(&value[6..14], "%Y%m%d")
            .map_err(|_| bad("the birth date is not a real date"))?;
        if birth.year() < 1800 || birth > chrono::Utc::now().date_naive() {
            return Err(bad("the birth date is out of range"));
        }
        if check[0] != expected {
            return Err(bad("the check character does not match"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First 6 and last 4 shown: `110105********002X`.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

const CREDIT_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// An 18-character unified social credit code (统一社会信用代码) with a valid GB 32100 check
/// character and a valid GB 11714 organisation-code check inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditCode(String);

fn org_code_valid(code: &[u8]) -> bool {
    // GB 11714: 8 body characters (digits or letters A=10…Z=35) and a check character.
    const WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let value = |c: u8| match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    };
    let mut sum = 0;
    for (c, w) in code[..8].iter().zip(WEIGHTS) {
        match value(*c) {
            Some(v) => sum += v * w,
            None => return false,
        }
    }
    let check = match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        n => b'0' + u8::try_from(n).unwrap_or(0),
    };
    code[8] == check
}

impl CreditCode {
    pub fn parse(raw: &str, field: &str) -> Result<Self, AppError> {
        let bad = |why: &str| {
            AppError::bad_input(
                field,
                format!("not a valid unified social credit code: {why}"),
            )
        };
        let value = raw.trim().to_ascii_uppercase();
        let bytes = value.as_bytes();
        if bytes.len() != 18 {
            return Err(bad("it must have 18 characters"));
        }
        let mut values = [0u32; 18];
        for (i, c) in bytes.iter().enumerate() {
            let Some(v) = CREDIT_CHARSET.iter().position(|x| x == c) else {
                return Err(bad("it contains a character outside the code's alphabet"));
            };
            values[i] = u32::try_from(v).unwrap_or(0);
        }
        if !bytes[2..8].iter().all(u8::is_ascii_digit) {
            return Err(bad("characters 3–8 must be a division code"));
        }
        let sum: u32 = values[..17]
            .iter()
            .zip(CREDIT_WEIGHTS)
            .map(|(v, w)| v * w)
            .sum();
        let expected = CREDIT_CHARSET[((31 - sum % 31) % 31) as usize];
        if bytes[17] != expected {
            return Err(bad("the check character does not match"));
        }
        if !org_code_valid(&bytes[8..17]) {
            return Err(bad("the organisation code inside it does not check"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces, ≤ 254 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str, field: &str) -> Result<Self, AppError> {
        let value = raw.trim();
        let valid = value.len() <= 254
            && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && local.len() <= 64
                    && !domain.contains('@')
                    && domain.contains('.')
                    && domain.split('.').all(|label| {
                        !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
                    })
            });
        if valid {
            Ok(Self(value.to_lowercase()))
        } else {
            Err(AppError::bad_input(field, "not a valid e-mail address"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `张*`, `欧阳**`: the first character, the rest starred.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_id_vectors_from_the_reference() {
        assert!(ResidentIdNumber::parse("11010519491231002X", "id").is_ok());
        assert_eq!(
            ResidentIdNumber::parse("11010519491231002x", "id")
                .unwrap()
                .as_str(),
            "11010519491231002X"
        );
        assert!(ResidentIdNumber::parse("440524188001010014", "id").is_ok());
        assert!(
            ResidentIdNumber::parse("110105209912310010", "id").is_err(),
            "born in the future"
        );
        let bad = [
            "110105194912310021", // wrong check character
            "11010519491331002X", // month 13
            "11010519490230002X", // 30 February
            "1101051949123100",   // too short
            "11010519491231002Y", // not a check character
            "A1010519491231002X", // letter in the body
            "",
        ];
        for raw in bad {
            let error = ResidentIdNumber::parse(raw, "input.idNumber").unwrap_err();
            assert_eq!(error.code(), "BAD_USER_INPUT", "{raw}");
        }
    }

    #[test]
    fn resident_ids_are_masked_six_and_four() {
        let id = ResidentIdNumber::parse("11010519491231002X", "id").unwrap();
        assert_eq!(id.masked(), "110105********002X");
        assert!(!format!("{id:?}").contains("19491231"));
    }

    #[test]
    fn credit_code_vectors_from_the_reference() {
        for good in [
            "9144030071526726XG",
            "914403001922038216",
            "91350100M000100Y43",
            "91110000802100433B",
        ] {
            assert!(CreditCode::parse(good, "code").is_ok(), "{good}");
        }
        assert!(
            CreditCode::parse("91350100m000100y43", "code").is_ok(),
            "lower case is normalised"
        );
        for bad in [
            "9144030071526726XH",
            "91440300715267260G",
            "9144030071526726X",
            "I144030071526726XG",
            "91AB030071526726XG",
        ] {
            assert_eq!(
                CreditCode::parse(bad, "input.creditCode")
                    .unwrap_err()
                    .code(),
                "BAD_USER_INPUT",
                "{bad}"
            );
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Agent@Example.cn ", "email")
                .unwrap()
                .as_str(),
            "agent@example.cn"
        );
        for bad in [
            "",
            "agent",
            "agent@",
            "@example.cn",
            "a b@example.cn",
            "a@b@c.cn",
            "a@localhost",
            "a@ex..cn",
        ] {
            assert!(Email::parse(bad, "email").is_err(), "{bad}");
        }
    }

    #[test]
    fn names_keep_their_first_character() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_name(""), "");
    }
}
