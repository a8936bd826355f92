//! Fitting a value to a subscribe-message keyword type (thing ≤ 20 characters, phrase ≤ 5 Chinese
//! characters, character_string ≤ 32 without Chinese, time and date formats …). Truncation keeps
//! whole characters. A value that cannot be fitted is an error naming the keyword, so that a
//! message WeChat would refuse (47003) is never sent.
use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::clock::CHINA;

/// The keyword's type: its name without the trailing number (`thing1` → `thing`).
pub fn keyword_type(keyword: &str) -> &str {
    keyword.trim_end_matches(|c: char| c.is_ascii_digit())
}

fn is_chinese(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{f900}'..='\u{faff}')
}

fn truncate(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        return value.to_string();
    }
    let mut out: String = value.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn china_time(value: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&CHINA))
        .or_else(|| {
            value
                .parse::<DateTime<Utc>>()
                .ok()
                .map(|t| t.with_timezone(&CHINA))
        })
}

/// Fits `value` to `keyword`'s type; `Err` says why it cannot be sent.
pub fn fit_value(keyword: &str, value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("data.{keyword}.value is empty"));
    }
    let fitted = match keyword_type(keyword) {
        "thing" => truncate(value, 20),
        "number" => {
            let digits: String = value
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.')
                .take(32)
                .collect();
            digits
        }
        "letter" => value
            .chars()
            .filter(char::is_ascii_alphabetic)
            .take(32)
            .collect(),
        "symbol" => value
            .chars()
            .filter(|c| c.is_ascii_punctuation())
            .take(5)
            .collect(),
        "character_string" => value
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .take(32)
            .collect(),
        "phrase" => value.chars().filter(|c| is_chinese(*c)).take(5).collect(),
        "time" => match china_time(value) {
            Some(t) => format!(
                "{}年{}月{}日 {:02}:{:02}",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute()
            ),
            None => truncate(value, 32),
        },
        "date" => match china_time(value) {
            Some(t) => format!("{}年{}月{}日", t.year(), t.month(), t.day()),
            None => match chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                Ok(d) => format!("{}年{}月{}日", d.year(), d.month(), d.day()),
                Err(_) => truncate(value, 32),
            },
        },
        "phone_number" => value
            .chars()
            .filter(|c| c.is_ascii_digit() || matches!(c, '+' | '-'))
            .take(17)
            .collect(),
        "car_number" => value.chars().take(8).collect(),
        "name" => {
            if value.is_ascii() {
                value.chars().take(20).collect()
            } else {
                value.chars().take(10).collect()
            }
        }
        "amount" => value.chars().take(11).collect(),
        _ => truncate(value, 20),
    };
    if fitted.is_empty() {
        return Err(format!(
            "data.{keyword}.value has nothing a {} keyword accepts",
            keyword_type(keyword)
        ));
    }
    Ok(fitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fit_their_keyword_types() {
        let table: [(&str, &str, Result<&str, ()>); 18] = [
            ("thing1", "户籍证明办理", Ok("户籍证明办理")),
            (
                "thing2",
                "一二三四五六七八九十一二三四五六七八九十一",
                Ok("一二三四五六七八九十一二三四五六七八九…"),
            ),
            ("thing3", "  ", Err(())),
            ("phrase4", "已受理", Ok("已受理")),
            ("phrase5", "已经审核通过了", Ok("已经审核通")),
            ("phrase6", "OK", Err(())),
            ("character_string7", "QS7K2P-受理号", Ok("QS7K2P-")),
            (
                "character_string8",
                &"A".repeat(40),
                Ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ),
            ("number9", "12.50 元", Ok("12.50")),
            ("letter10", "abc123", Ok("abc")),
            ("time11", "2026-11-27T07:01:00Z", Ok("2026年11月27日 15:01")),
            ("date12", "2026-11-27T17:01:00Z", Ok("2026年11月28日")),
            ("date13", "2026-02-14", Ok("2026年2月14日")),
            ("phone_number14", "0356-7000001 转 8", Ok("0356-70000018")),
            (
                "name15",
                "欧阳娜娜娜娜娜娜娜娜娜",
                Ok("欧阳娜娜娜娜娜娜娜娜"),
            ),
            ("name16", "Zhang San", Ok("Zhang San")),
            ("symbol17", "!!!@@@", Ok("!!!@@")),
            ("unknown18", "x", Ok("x")),
        ];
        for (keyword, value, expected) in table {
            let got = fit_value(keyword, value);
            match expected {
                Ok(text) => assert_eq!(got.as_deref(), Ok(text), "{keyword}"),
                Err(()) => assert!(got.is_err(), "{keyword}: {got:?}"),
            }
        }
    }

    #[test]
    fn truncation_keeps_whole_characters_and_the_limit() {
        let fitted = fit_value("thing1", &"办".repeat(25)).unwrap();
        assert_eq!(fitted.chars().count(), 20);
        assert!(fitted.ends_with('…'));
    }
}
