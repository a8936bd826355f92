//! A thin client for the WeChat server API (see the reference's shapes and error codes):
//! `code2Session`, the shared stable access token, the phone number, subscribe messages and the
//! text check (`sec_check`). Errors are typed;
//! `errcode` is parsed leniently (number, string or absent); busy answers are retried.
mod client;
pub mod sec_check;

pub use client::{PhoneInfo, Session, WechatClient, WechatError};
