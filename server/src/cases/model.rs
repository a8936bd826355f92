//! What a case is: its kind, where it stands, what may be done to it, who does it, and why a
//! proxy case ends early.

crate::stored_enum! {
    /// 帮办 (the applicant present, helped) or 代办 (handled for them under an entrustment).
    pub enum CaseKind {
        /// 帮办: assisted handling, the applicant present (seed §六(一)).
        Help = "help",
        /// 代办: proxy handling under a signed entrustment (seed §六(二), 附件6).
        Proxy = "proxy",
    }
}

crate::stored_enum! {
    /// Where a case stands. Help cases use REGISTERED … SUBMITTED, RETURNED … CLOSED; proxy cases
    /// REGISTERED … ENTRUSTED, MATERIALS_RECEIVED, IN_PROGRESS … ARCHIVED, CLOSED or TERMINATED.
    pub enum CaseStatus {
        /// Registered (登记), waiting for acceptance.
        Registered = "registered",
        /// 受理: accepted by the handling unit.
        Accepted = "accepted",
        /// 不予受理: refused, with a reason code and an explanation.
        Refused = "refused",
        /// Help: the agent is helping the applicant (advice, forms, online filing).
        InService = "in_service",
        /// Help: filed with the approving department, with its reference number.
        Submitted = "submitted",
        /// Help: the department returned the filing, with its reason; followed up until done.
        Returned = "returned",
        /// Proxy: the entrustment (代办服务委托书) is signed by both sides.
        Entrusted = "entrusted",
        /// Proxy: the materials (申报材料移交清单) are in the agent's custody.
        MaterialsReceived = "materials_received",
        /// Proxy: being handled (also while transferred or escalated to another unit).
        InProgress = "in_progress",
        /// 办结: the matter is done; the outcome documents are recorded.
        Completed = "completed",
        /// Proxy: the outcome is in the applicant's hands (in person or by EMS).
        Delivered = "delivered",
        /// Proxy: archived, every record complete.
        Archived = "archived",
        /// Closed: nothing more happens.
        Closed = "closed",
        /// Proxy: ended early for one of the entrustment's reasons (附件6 (2)–(7)).
        Terminated = "terminated",
    }
}

impl CaseStatus {
    /// Whether the case is still being worked on (a proxy case may be terminated from here).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Registered
                | Self::Accepted
                | Self::InService
                | Self::Submitted
                | Self::Returned
                | Self::Entrusted
                | Self::MaterialsReceived
                | Self::InProgress
        )
    }
}

crate::stored_enum! {
    /// Why a proxy case ends early: the entrustment's termination conditions (附件6, seed
    /// §六(二)4). (1), completion, is the normal end and never a termination.
    pub enum TerminationReason {
        /// (1) 委托代办事项办结后，代办自行终止: the matter is done (the normal end, not a
        /// termination: the case is delivered and archived).
        MatterCompleted = "matter_completed",
        /// (2) 申请人请求终止: the applicant asks to stop (or revokes the entrustment); what was
        /// obtained and their materials go back to them.
        RequestedByApplicant = "requested_by_applicant",
        /// (3) 失信企业: the applicant is on the dishonest-enterprise list (a recorded credit
        /// check).
        DishonestEnterprise = "dishonest_enterprise",
        /// (4) 与现行法律、法规相冲突、不再具备办结条件: the matter conflicts with the law or can no
        /// longer be completed (with the explanation given).
        NotCompletable = "not_completable",
        /// (5) 弄虚作假、隐瞒重要事实: false materials or concealed facts; the filing is returned
        /// (退件).
        FalseMaterials = "false_materials",
        /// (6) 不按规定申报、拒不履行代办协议约定职责: the applicant does not file as required or
        /// refuses their duties under the entrustment.
        ApplicantBreach = "applicant_breach",
        /// (7) 因服务对象自身原因长期停滞: a long standstill the applicant caused, after a recorded
        /// conversation with them.
        LongStandstill = "long_standstill",
    }
}

/// What may be done to a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseAction {
    /// 受理.
    Accept,
    /// 不予受理 (with a reason code and an explanation).
    Refuse,
    /// Help: start helping the applicant.
    StartService,
    /// Help: file with the approving department.
    Submit,
    /// Help: the department returned the filing.
    Return,
    /// Help: take a returned filing up again.
    Resume,
    /// Proxy: both sides have signed the entrustment.
    Entrust,
    /// Proxy: the materials are received into custody.
    ReceiveMaterials,
    /// Proxy: start handling the matter.
    StartProgress,
    /// 办结.
    Complete,
    /// Proxy: the outcome reached the applicant.
    Deliver,
    /// Proxy: archive (the service checks completeness first).
    Archive,
    /// Close the case.
    Close,
    /// Proxy: end early, for a reason.
    Terminate(TerminationReason),
}

/// Who acts on a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseRole {
    /// The applicant (the resident or the enterprise's contact).
    Applicant,
    /// An agent of the unit holding the case.
    HandlingAgent,
    /// An administrator over the holding unit.
    Admin,
    /// A scheduled job.
    System,
}

crate::stored_enum! {
    /// Where a case came from.
    pub enum CaseOrigin {
        /// An accepted booking (`openCase`).
        Booking = "booking",
        /// A contact in the ledger: phone, window or remote (`openCaseFromContact`).
        Contact = "contact",
    }
}

crate::stored_enum! {
    /// How close a case is to its deadline, as the deadline job last found it.
    pub enum DueFlag {
        /// More than the warning days left, or no deadline yet.
        OnTrack = "on_track",
        /// Within the warning days of the deadline.
        DueSoon = "due_soon",
        /// Past its deadline.
        Overdue = "overdue",
    }
}

crate::stored_enum! {
    /// The services given in assisted handling (seed §六(一)2).
    pub enum HelpService {
        /// 政策咨询: policy advice.
        PolicyAdvice = "policy_advice",
        /// 答疑解惑: questions answered.
        QuestionsAnswered = "questions_answered",
        /// 流程讲解: the process explained.
        ProcessExplained = "process_explained",
        /// 填表辅导: help with the forms.
        FormHelp = "form_help",
        /// 网上申报: filed online for the applicant.
        OnlineFiling = "online_filing",
    }
}

crate::stored_enum! {
    /// Where a material of a proxy case is.
    pub enum MaterialStatus {
        /// In the agent's custody.
        Held = "held",
        /// Handed to the approving window (审批窗口).
        HandedOn = "handed_on",
        /// Given back to the applicant.
        Returned = "returned",
        /// Lost: flagged, an assessment deduction later.
        Lost = "lost",
    }
}

crate::stored_enum! {
    /// Down to a lower unit (转办) or up to a higher one (上报, for coordination or joint handling).
    pub enum TransferDirection {
        /// 转办: to a township or village unit below.
        Down = "down",
        /// 上报: to the township or county above.
        Up = "up",
    }
}

crate::stored_enum! {
    /// Where a transfer stands.
    pub enum TransferStatus {
        /// Waiting for the receiving unit; the sender still holds the case.
        Pending = "pending",
        /// The receiving unit took the case.
        Accepted = "accepted",
        /// The receiving unit refused, with a reason; the sender keeps the case.
        Refused = "refused",
        /// The case ended before the receiving unit answered.
        Withdrawn = "withdrawn",
    }
}
