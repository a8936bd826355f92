//! What push records: a resident's answer to the consent popup, and where each message stands.

/// What `wx.requestSubscribeMessage` answered for one template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum ConsentAnswer {
    /// `accept`: one more message may be sent (long-term templates: any number).
    Accept,
    /// `reject`
    Reject,
    /// `ban`: the template is banned by WeChat.
    Ban,
    /// `filter`: filtered by WeChat (e.g. a title the user has blocked).
    Filter,
}

crate::stored_enum! {
    /// The delivery status of one message.
    pub enum DeliveryStatus {
        /// Waiting for the push worker.
        Queued = "queued",
        /// Handed to WeChat; the answer is being recorded.
        Sending = "sending",
        /// WeChat accepted it (`msgid` set).
        Sent = "sent",
        /// No consent credit for the template (or WeChat answered 43101): not sent.
        NoConsent = "no_consent",
        /// WeChat stayed busy or unreachable after the retries (it provably never took the
        /// message); the consent credit was given back.
        FailedTemporary = "failed_temporary",
        /// WeChat refused it (e.g. 47003 invalid data, the field named in `lastError`).
        FailedPermanent = "failed_permanent",
        /// The request may have reached WeChat but no answer came back (a timeout, a broken
        /// connection, a 5xx), or the worker stopped while sending. WeChat may have shown it;
        /// it is never resent, so the resident never gets it twice.
        Unknown = "unknown",
    }
}
