//! security.msgSecCheck v2: WeChat's moderation of a user's text (`suggest` pass, review or
//! risky, with a label). Read leniently: v1's 87014 is risky too.
use serde_json::{Value, json};

use super::client::{WechatClient, WechatError, check, errcode};

/// What WeChat suggested for a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suggest {
    Pass,
    /// Hold for a human.
    Review {
        label: i64,
    },
    /// Block.
    Risky {
        label: i64,
    },
}

/// The scene of a text (WeChat's `scene`): 2 for comments (ratings), 3 for forum posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scene {
    Comment = 2,
    Forum = 3,
}

/// Pure: reads an answer's body into a suggestion (87014, v1's "content is illegal", counts
/// as risky; an unknown `suggest` is no answer, so the text waits and is checked again).
pub fn suggest_of(body: &Value) -> Result<Suggest, WechatError> {
    if errcode(body) == 87014 {
        return Ok(Suggest::Risky { label: 0 });
    }
    check(body)?;
    let result = body
        .get("result")
        .ok_or_else(|| WechatError::Decode("no result".into()))?;
    let label = result.get("label").and_then(Value::as_i64).unwrap_or(0);
    match result.get("suggest").and_then(Value::as_str) {
        Some("pass") => Ok(Suggest::Pass),
        Some("risky") => Ok(Suggest::Risky { label }),
        Some("review") => Ok(Suggest::Review { label }),
        // Not a documented answer: no verdict (the text is checked again later).
        _ => Err(WechatError::Decode("unknown result.suggest".into())),
    }
}

impl WechatClient {
    /// security.msgSecCheck v2 for `content` written by `openid` in `scene`.
    pub async fn msg_sec_check(
        &self,
        openid: &str,
        content: &str,
        scene: Scene,
    ) -> Result<Suggest, WechatError> {
        self.with_access_token(|token| async move {
            self.with_retries(|| async {
                let body = self
                    .send(
                        self.http
                            .post(format!("{}/wxa/msg_sec_check", self.base_url))
                            .query(&[("access_token", token.as_str())])
                            .json(&json!({
                                "content": content,
                                "version": 2,
                                "scene": scene as i64,
                                "openid": openid,
                            })),
                    )
                    .await?;
                suggest_of(&body)
            })
            .await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_documented() {
        let table = [
            (
                json!({"errcode": 0, "result": {"suggest": "pass", "label": 100}}),
                Some(Suggest::Pass),
            ),
            (
                json!({"errcode": 0, "result": {"suggest": "review", "label": 20003}}),
                Some(Suggest::Review { label: 20003 }),
            ),
            (
                json!({"errcode": 0, "result": {"suggest": "risky", "label": 20001}}),
                Some(Suggest::Risky { label: 20001 }),
            ),
            (
                json!({"errcode": 0, "result": {"suggest": "maybe", "label": 21000}}),
                None,
            ),
            (
                json!({"errcode": 87014, "errmsg": "risky content"}),
                Some(Suggest::Risky { label: 0 }),
            ),
            (json!({"errcode": 0}), None),
            (json!({"errcode": -1}), None),
            (json!({"errcode": 61010, "errmsg": "user not seen"}), None),
        ];
        for (body, expected) in table {
            assert_eq!(suggest_of(&body).ok(), expected, "{body}");
        }
        assert!(matches!(
            suggest_of(&json!({"errcode": -1})),
            Err(WechatError::Busy(-1))
        ));
    }
}
