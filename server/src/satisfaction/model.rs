//! The satisfaction room's vocabulary: the five rating levels (an enum, never a bare number),
//! the indicators, what became of a rating's text, and the rectification order's status and
//! classification.
crate::stored_enum! {
    /// A rating's level (GB/T 39046 满意度), best first.
    pub enum RatingLevel {
        /// 非常满意
        VerySatisfied = "very_satisfied",
        /// 满意
        Satisfied = "satisfied",
        /// 基本满意
        BasicallySatisfied = "basically_satisfied",
        /// 不满意 (a bad rating: opens a rectification)
        Dissatisfied = "dissatisfied",
        /// 非常不满意 (a bad rating: opens a rectification)
        VeryDissatisfied = "very_dissatisfied",
    }
}

impl RatingLevel {
    /// 差评: 不满意 or 非常不满意.
    pub fn is_bad(self) -> bool {
        matches!(
            self,
            RatingLevel::Dissatisfied | RatingLevel::VeryDissatisfied
        )
    }

    /// The Chinese name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            RatingLevel::VerySatisfied => "非常满意",
            RatingLevel::Satisfied => "满意",
            RatingLevel::BasicallySatisfied => "基本满意",
            RatingLevel::Dissatisfied => "不满意",
            RatingLevel::VeryDissatisfied => "非常不满意",
        }
    }
}

crate::stored_enum! {
    /// The offline indicators a rater may score (GB/T 39735 content standard).
    pub enum RatingIndicator {
        /// 服务态度
        Attitude = "attitude",
        /// 服务效率
        Efficiency = "efficiency",
        /// 服务水平
        Competence = "competence",
        /// 整体满意度
        Overall = "overall",
    }
}

crate::stored_enum! {
    /// What became of a rating's text.
    pub enum RatingTextState {
        /// The rating has no text.
        None = "none",
        /// The content check passed it: shown.
        Published = "published",
        /// The content check asked for a human: hidden until an administrator releases it.
        Held = "held",
        /// WeChat could not be asked: hidden until a job checks it.
        Unchecked = "unchecked",
        /// Held, then released by an administrator: shown.
        Released = "released",
        /// Checked late (WeChat was down when it came) and found prohibited: never shown to
        /// staff; its writer still reads it.
        Withheld = "withheld",
    }
}

impl RatingTextState {
    /// Whether staff who are not reviewing it may read the text.
    pub fn shown(self) -> bool {
        matches!(self, RatingTextState::Published | RatingTextState::Released)
    }
}

crate::stored_enum! {
    /// Where a rectification order stands.
    pub enum RectificationStatus {
        /// Opened by the bad rating; the rater is to be called back.
        Open = "open",
        /// The call-back was made (or tried): the order is to be classified and resolved.
        Verified = "verified",
        /// Classified, rectified or explained, and the rater told.
        Resolved = "resolved",
    }
}

crate::stored_enum! {
    /// How a bad rating is handled (51号: 谁办理、谁负责).
    pub enum RectificationClassification {
        /// 立行立改: clear and reasonable, fixed at once.
        Immediate = "immediate",
        /// 限期整改: complex, logged and fixed by a deadline.
        Deadline = "deadline",
        /// 解释说明: no legal basis, explained to the rater.
        Explanation = "explanation",
    }
}

crate::stored_enum! {
    /// How a case ended, for the invitation.
    pub enum CaseEnding {
        Completed = "completed",
        Terminated = "terminated",
    }
}

crate::stored_enum! {
    /// Why a unit appeals a rating (申诉复核).
    pub enum RatingAppealReason {
        /// 误评: given by mistake (the wrong case, the wrong level).
        Mistaken = "mistaken",
        /// 恶意评价: given in bad faith.
        Malicious = "malicious",
    }
}

crate::stored_enum! {
    /// Where an appeal stands.
    pub enum RatingAppealStatus {
        /// Waiting for the county administrator.
        Pending = "pending",
        /// Upheld: the rating stays on record, out of the statistics.
        Upheld = "upheld",
        /// Rejected: the rating counts.
        Rejected = "rejected",
    }
}
