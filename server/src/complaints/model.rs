//! The complaints room's vocabulary: the seed's categories (考核表 举报投诉, seed §七(三)6), where a
//! complaint stands, its finding, how the complainant wants to hear back, its source, its text's
//! content-check state, its exchanges, its appeal, and the published ways to complain.
crate::stored_enum! {
    /// What the complaint is about (the seed's categories; 附件3 row 6 deducts by them).
    pub enum ComplaintCategory {
        /// 服务冷漠、态度差 (−2 each, substantiated).
        ColdService = "cold_service",
        /// 推诿拒办: shirking or refusing an eligible matter.
        Shirking = "shirking",
        /// 为中介机构拉业务 (the item scores 0, substantiated).
        SolicitingForIntermediaries = "soliciting_for_intermediaries",
        /// 违规收费 (the item scores 0, substantiated).
        IllegalCharges = "illegal_charges",
        /// 接受宴请、礼品、礼金或要求报销不当费用 (the item scores 0, substantiated).
        GiftsOrBanquets = "gifts_or_banquets",
        /// 泄露个人信息.
        LeakingPersonalInformation = "leaking_personal_information",
        /// 其他.
        Other = "other",
    }
}

crate::stored_enum! {
    /// Where a complaint stands.
    pub enum ComplaintStatus {
        /// Filed; waiting for its inspector to acknowledge it.
        Received = "received",
        /// Acknowledged (受理) and the complainant told.
        Acknowledged = "acknowledged",
        /// Being investigated.
        Investigating = "investigating",
        /// A finding is recorded.
        Concluded = "concluded",
        /// The complainant has been answered.
        Replied = "replied",
        /// The complainant appealed the finding; a different reviewer decides.
        Appealed = "appealed",
        /// Finished.
        Closed = "closed",
    }
}

crate::stored_enum! {
    /// What the investigation found.
    pub enum ComplaintFinding {
        /// 属实.
        Substantiated = "substantiated",
        /// 部分属实.
        PartlySubstantiated = "partly_substantiated",
        /// 不属实.
        NotSubstantiated = "not_substantiated",
    }
}

impl ComplaintFinding {
    /// Whether it counts against the unit (属实 or 部分属实).
    pub fn holds(self) -> bool {
        !matches!(self, ComplaintFinding::NotSubstantiated)
    }
}

crate::stored_enum! {
    /// How the complainant wants to hear back.
    pub enum ComplaintContact {
        /// WeChat push and the mini-program (real-name only).
        MiniProgram = "mini_program",
        /// A phone call to the bound number (real-name only).
        Phone = "phone",
        /// Only through the receipt code (anonymous only).
        Receipt = "receipt",
        /// No reply wanted (潍坊 art. 20 "要求不回复的除外").
        NoReply = "no_reply",
    }
}

crate::stored_enum! {
    /// Where a complaint came from.
    pub enum ComplaintSource {
        /// Filed in the mini-program.
        MiniProgram = "mini_program",
        /// Reported by a satisfaction callback's answers (fees, gifts, misconduct).
        Callback = "callback",
    }
}

crate::stored_enum! {
    /// What the content check made of a complainant's text.
    pub enum ComplaintTextState {
        /// Checked and passed (or written by staff).
        Passed = "passed",
        /// WeChat asked for a human: accepted, marked for the inspector.
        Held = "held",
        /// WeChat could not be asked: accepted, checked again by a job.
        Unchecked = "unchecked",
        /// Checked late and found prohibited: kept, marked for the inspector.
        Withheld = "withheld",
    }
}

crate::stored_enum! {
    /// What an exchange of a complaint's handling is.
    pub enum ComplaintExchangeKind {
        /// The inspector asks the accused for a statement.
        StatementRequest = "statement_request",
        /// The inspector asks the complainant for more information.
        InformationRequest = "information_request",
        /// A duplicate filed within a day, merged into this complaint.
        Addition = "addition",
    }
}

crate::stored_enum! {
    /// Where a complainant's appeal stands.
    pub enum ComplaintAppealStatus {
        /// Waiting for its reviewer.
        Pending = "pending",
        /// The finding stands.
        Upheld = "upheld",
        /// The finding was changed.
        Changed = "changed",
    }
}

crate::stored_enum! {
    /// A published way to complain (seed §八(四) 向社会公布监督投诉方式).
    pub enum ComplaintChannelKind {
        /// A telephone line.
        Phone = "phone",
        /// The mini-program.
        MiniProgram = "mini_program",
        /// A window in the hall.
        Window = "window",
        /// Any other way (a letter box, an e-mail address).
        Other = "other",
    }
}
