//! The callback script's rules, pure: which answers a script accepts, whether they report
//! misconduct, and how answers are kept — each with its question as it was asked, so a later
//! change of the configured script neither loses nor relabels what was answered. Answers kept
//! before questions were configurable (an object of key → value) are read with the default
//! script they were asked under.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::RatingLevel;
use crate::config::{CallbackQuestion, QuestionKind, default_callback_script};

/// One answer as given.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    YesNo(bool),
    Level(RatingLevel),
    Text(String),
}

/// One answer as kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeptAnswer {
    pub key: String,
    /// The question as it was asked.
    pub question: String,
    pub kind: QuestionKind,
    /// `true`/`false`, a level's stored name, or the text.
    pub value: Value,
    /// A "yes" that reports fees, gifts or misconduct.
    #[serde(default)]
    pub misconduct: bool,
    /// The answer counted in the satisfaction distribution.
    #[serde(default)]
    pub measures_satisfaction: bool,
    /// A text the content check has not passed: kept, shown to no one.
    #[serde(default)]
    pub unchecked: bool,
}

impl KeptAnswer {
    /// The level of a level answer.
    pub fn level(&self) -> Option<RatingLevel> {
        match self.kind {
            QuestionKind::Level => self.value.as_str().and_then(|v| v.parse().ok()),
            _ => None,
        }
    }
}

/// Checks answers against the script: every yes/no and level question answered once with its
/// kind, text optional, no unknown key. Returns them as kept, in the script's order, and
/// whether they report misconduct; or the key at fault and why.
pub fn check_answers(
    script: &[CallbackQuestion],
    answers: &[(String, Answer)],
) -> Result<(Vec<KeptAnswer>, bool), (String, &'static str)> {
    let mut given: Vec<(&CallbackQuestion, Value)> = Vec::new();
    for (key, answer) in answers {
        let question = script
            .iter()
            .find(|q| q.key == *key)
            .ok_or_else(|| (key.clone(), "no such question"))?;
        let value = match (question.kind, answer) {
            (QuestionKind::YesNo, Answer::YesNo(yes)) => Value::Bool(*yes),
            (QuestionKind::Level, Answer::Level(level)) => Value::String(level.as_str().into()),
            (QuestionKind::Text, Answer::Text(text)) => Value::String(text.clone()),
            _ => return Err((key.clone(), "the answer is not of the question's kind")),
        };
        if given.iter().any(|(q, _)| q.key == *key) {
            return Err((key.clone(), "answered twice"));
        }
        given.push((question, value));
    }
    let mut kept = Vec::with_capacity(given.len());
    let mut misconduct = false;
    for question in script {
        match given.iter().find(|(q, _)| q.key == question.key) {
            Some((_, value)) => {
                let reports = question.misconduct_when_yes && *value == Value::Bool(true);
                misconduct |= reports;
                kept.push(KeptAnswer {
                    key: question.key.clone(),
                    question: question.text.clone(),
                    kind: question.kind,
                    value: value.clone(),
                    misconduct: reports,
                    measures_satisfaction: question.measures_satisfaction,
                    unchecked: false,
                });
            }
            None if question.kind == QuestionKind::Text => {}
            None => return Err((question.key.clone(), "not answered")),
        }
    }
    Ok((kept, misconduct))
}

/// The kept answers as stored (JSON).
pub fn store(answers: &[KeptAnswer]) -> String {
    serde_json::to_string(answers).unwrap_or_else(|_| "[]".into())
}

/// Stored answers, read back; None when the text is neither form.
pub fn read_stored(stored: &str) -> Option<Vec<KeptAnswer>> {
    match serde_json::from_str::<Value>(stored).ok()? {
        Value::Array(_) => serde_json::from_str(stored).ok(),
        Value::Object(map) => {
            // Kept before the script was configurable: key → value under the default script,
            // a held comment under `_comments_unchecked`.
            let mut kept = Vec::new();
            for question in default_callback_script() {
                let (value, unchecked) = match map.get(&question.key) {
                    Some(value) => (value.clone(), false),
                    None => match map.get(&format!("_{}_unchecked", question.key)) {
                        Some(value) => (value.clone(), true),
                        None => continue,
                    },
                };
                kept.push(KeptAnswer {
                    misconduct: question.misconduct_when_yes && value == Value::Bool(true),
                    key: question.key,
                    question: question.text,
                    kind: question.kind,
                    value,
                    measures_satisfaction: question.measures_satisfaction,
                    unchecked,
                });
            }
            Some(kept)
        }
        _ => None,
    }
}

/// The answers anyone may read: all but a comment its content check has not passed — hidden
/// when its kept flag says so or when the task's comment state is not one that shows it (the
/// two agree; both are asked, so that neither alone can show it).
pub fn readable(kept: Vec<KeptAnswer>, comment_shown: bool) -> Vec<KeptAnswer> {
    kept.into_iter()
        .filter(|a| !a.unchecked && (a.kind != QuestionKind::Text || comment_shown))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(charged: bool) -> Vec<(String, Answer)> {
        vec![
            ("done".to_string(), Answer::YesNo(true)),
            ("charged".to_string(), Answer::YesNo(charged)),
            (
                "attitude".to_string(),
                Answer::Level(RatingLevel::Satisfied),
            ),
            (
                "timeliness".to_string(),
                Answer::Level(RatingLevel::VerySatisfied),
            ),
            ("gifts".to_string(), Answer::YesNo(false)),
        ]
    }

    #[test]
    fn answers_follow_the_script_and_report_misconduct() {
        let script = default_callback_script();
        let check = |answers: &[(String, Answer)]| check_answers(&script, answers);
        assert_eq!(check(&full(false)).map(|(_, m)| m), Ok(false));
        assert_eq!(check(&full(true)).map(|(_, m)| m), Ok(true));
        let mut missing = full(false);
        missing.remove(2);
        assert_eq!(
            check(&missing).map(|_| ()),
            Err(("attitude".into(), "not answered"))
        );
        let mut wrong = full(false);
        wrong[0].1 = Answer::Level(RatingLevel::Satisfied);
        assert_eq!(check(&wrong).map(|_| ()).unwrap_err().0, "done");
        let mut extra = full(false);
        extra.push(("bribes".into(), Answer::YesNo(true)));
        assert_eq!(check(&extra).map(|_| ()).unwrap_err().0, "bribes");
        let mut twice = full(false);
        twice.push(("done".into(), Answer::YesNo(false)));
        assert_eq!(
            check(&twice).map(|_| ()),
            Err(("done".into(), "answered twice"))
        );
    }

    #[test]
    fn answers_keep_their_questions_in_the_script_s_order() {
        let script = default_callback_script();
        let mut answers = full(true);
        answers.reverse();
        answers.push(("comments".into(), Answer::Text("很好".into())));
        let (kept, _) = check_answers(&script, &answers).unwrap();
        let keys: Vec<&str> = kept.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "done",
                "charged",
                "attitude",
                "timeliness",
                "gifts",
                "comments"
            ]
        );
        assert_eq!(kept[1].question, script[1].text);
        assert!(kept[1].misconduct && !kept[4].misconduct);
        assert!(kept[2].measures_satisfaction);
        assert_eq!(kept[2].level(), Some(RatingLevel::Satisfied));
        assert_eq!(read_stored(&store(&kept)), Some(kept));
    }

    #[test]
    fn a_changed_script_changes_nothing_already_answered() {
        let mut script = default_callback_script();
        let (kept, _) = check_answers(&script, &full(false)).unwrap();
        let stored = store(&kept);
        script[0].text = "事项办好了吗？".into();
        script.retain(|q| q.key != "gifts");
        let read = read_stored(&stored).unwrap();
        assert_eq!(read[0].question, "您办理的事项是否已经办结？");
        assert!(read.iter().any(|a| a.key == "gifts"));
        assert_eq!(
            check_answers(&script, &full(false))
                .map(|_| ())
                .unwrap_err(),
            ("gifts".into(), "no such question")
        );
    }

    #[test]
    fn answers_kept_before_the_script_was_configurable_are_read_under_the_default() {
        let legacy = r#"{"done":true,"charged":true,"attitude":"dissatisfied","timeliness":"satisfied","gifts":false,"_comments_unchecked":"待查"}"#;
        let read = read_stored(legacy).unwrap();
        assert_eq!(read.len(), 6);
        assert!(read[1].misconduct);
        assert_eq!(read[2].level(), Some(RatingLevel::Dissatisfied));
        assert!(read[2].measures_satisfaction);
        assert!(read[5].unchecked && read[5].value == "待查");
        assert_eq!(read_stored("3"), None);
    }

    #[test]
    fn a_comment_is_read_only_when_both_its_flag_and_its_state_allow() {
        let script = default_callback_script();
        let mut answers = full(false);
        answers.push(("comments".into(), Answer::Text("很好".into())));
        let (kept, _) = check_answers(&script, &answers).unwrap();
        let mut flagged = kept.clone();
        if let Some(comment) = flagged.iter_mut().find(|a| a.kind == QuestionKind::Text) {
            comment.unchecked = true;
        }
        let table = [
            (kept.clone(), true, 6),
            (kept.clone(), false, 5),
            (flagged.clone(), true, 5),
            (flagged, false, 5),
        ];
        for (answers, shown, expected) in table {
            let read = readable(answers, shown);
            assert_eq!(read.len(), expected, "state shows it: {shown}");
            assert!(read.iter().all(|a| a.kind != QuestionKind::Text) || expected == 6);
        }
    }
}
