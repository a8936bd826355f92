//! The two state machines (附件1's 帮办服务流程图 and 代办服务流程图) as one pure function:
//! [`transition`] answers where an action takes a case, or why it may not. Services apply the
//! answer with a guarded `UPDATE … WHERE status = <from>`; nothing else decides a status.
use crate::cases::model::{
    CaseAction::{self, *},
    CaseKind,
    CaseRole::{self, *},
    CaseStatus::{self, *},
    TerminationReason,
};

/// Why a move is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionError {
    /// The action does not apply to a case of this kind in this status.
    NotAllowed { kind: CaseKind, from: CaseStatus },
    /// The role may not take this action.
    Forbidden { role: CaseRole },
}

impl From<TransitionError> for crate::error::AppError {
    fn from(error: TransitionError) -> Self {
        match error {
            TransitionError::NotAllowed { kind, from } => Self::InvalidTransition(format!(
                "not possible for a {} case that is {}",
                kind.as_str(),
                from.as_str()
            )),
            TransitionError::Forbidden { role } => Self::Forbidden(format!(
                "{} may not do this",
                match role {
                    Applicant => "the applicant",
                    HandlingAgent => "the handling agent",
                    Admin => "an administrator",
                    System => "the system",
                }
            )),
        }
    }
}

/// Where `action` takes a case of `kind` that is `from`, when `role` takes it.
pub fn transition(
    kind: CaseKind,
    from: CaseStatus,
    action: CaseAction,
    role: CaseRole,
) -> Result<CaseStatus, TransitionError> {
    let not_allowed = TransitionError::NotAllowed { kind, from };
    if !statuses(kind).contains(&from) {
        return Err(not_allowed);
    }
    let to = match (kind, from, action) {
        (_, Registered, Accept) => Accepted,
        (_, Registered, Refuse) => Refused,
        (CaseKind::Help, Accepted, StartService) => InService,
        (CaseKind::Help, InService, Submit) => Submitted,
        (CaseKind::Help, Submitted, Return) => Returned,
        (CaseKind::Help, Returned, Resume) => InService,
        // Advice or a form filled in can finish in the service itself; a filing finishes when
        // the department approves it.
        (CaseKind::Help, InService | Submitted, Complete) => Completed,
        (CaseKind::Help, Completed, Close) => Closed,
        (CaseKind::Proxy, Accepted, Entrust) => Entrusted,
        (CaseKind::Proxy, Entrusted, ReceiveMaterials) => MaterialsReceived,
        (CaseKind::Proxy, MaterialsReceived, StartProgress) => InProgress,
        (CaseKind::Proxy, InProgress, Complete) => Completed,
        (CaseKind::Proxy, Completed, Deliver) => Delivered,
        (CaseKind::Proxy, Delivered, Archive) => Archived,
        (CaseKind::Proxy, Archived, Close) => Closed,
        // Completion is the normal end of an entrustment, never a termination.
        (CaseKind::Proxy, from, Terminate(reason))
            if from.is_open() && reason != TerminationReason::MatterCompleted =>
        {
            Terminated
        }
        _ => return Err(not_allowed),
    };
    if may(role, action) {
        Ok(to)
    } else {
        Err(TransitionError::Forbidden { role })
    }
}

/// The statuses a case of `kind` can be in.
pub fn statuses(kind: CaseKind) -> &'static [CaseStatus] {
    match kind {
        CaseKind::Help => &[
            Registered, Accepted, Refused, InService, Submitted, Returned, Completed, Closed,
        ],
        CaseKind::Proxy => &[
            Registered,
            Accepted,
            Refused,
            Entrusted,
            MaterialsReceived,
            InProgress,
            Completed,
            Delivered,
            Archived,
            Closed,
            Terminated,
        ],
    }
}

/// Which role may take an action (where the action applies at all).
fn may(role: CaseRole, action: CaseAction) -> bool {
    match action {
        // The applicant may only ask to stop (or revoke the entrustment).
        Terminate(TerminationReason::RequestedByApplicant) => role != System,
        Close => matches!(role, Admin | System),
        _ => matches!(role, HandlingAgent | Admin),
    }
}

/// Every action, with one representative termination reason, for the diagrams.
const ACTIONS: [CaseAction; 14] = [
    Accept,
    Refuse,
    StartService,
    Submit,
    Return,
    Resume,
    Entrust,
    ReceiveMaterials,
    StartProgress,
    Complete,
    Deliver,
    Archive,
    Close,
    Terminate(TerminationReason::RequestedByApplicant),
];

fn action_label(action: CaseAction) -> &'static str {
    match action {
        Accept => "受理",
        Refuse => "不予受理",
        StartService => "开始帮办",
        Submit => "提交审批部门",
        Return => "退回",
        Resume => "补正后继续",
        Entrust => "签订委托书",
        ReceiveMaterials => "接收材料",
        StartProgress => "代办",
        Complete => "办结",
        Deliver => "送达",
        Archive => "归档",
        Close => "结案",
        Terminate(_) => "终止",
    }
}

/// The state diagram of one kind (Mermaid), generated from [`transition`]: the README's
/// flowcharts (附件1) are this, checked by a test.
pub fn mermaid(kind: CaseKind) -> String {
    let mut out = String::from("stateDiagram-v2\n");
    out.push_str("    [*] --> REGISTERED\n");
    for from in statuses(kind) {
        for action in ACTIONS {
            let allowed = [Applicant, HandlingAgent, Admin, System]
                .into_iter()
                .find_map(|role| transition(kind, *from, action, role).ok());
            if let Some(to) = allowed {
                out.push_str(&format!(
                    "    {} --> {}: {}\n",
                    from.as_str().to_uppercase(),
                    to.as_str().to_uppercase(),
                    action_label(action)
                ));
            }
        }
    }
    for end in [Refused, Closed, Terminated] {
        if out.contains(&format!("--> {}", end.as_str().to_uppercase())) {
            out.push_str(&format!("    {} --> [*]\n", end.as_str().to_uppercase()));
        }
    }
    out
}

/// Whether the applicant hears of a step live (`myEvents`, `subjectEvents`, pushes): when it
/// is on their timeline (it has a public note) or it moves the case (they see its status).
/// Anything else — a service given without a note, a transfer left unanswered — is internal.
pub fn applicant_hears(public: bool, moves: bool) -> bool {
    public || moves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::model::TerminationReason::*;

    #[test]
    fn the_applicant_hears_public_steps_and_moves_only() {
        for (public, moves, hears) in [
            (true, true, true),
            (true, false, true),
            (false, true, true),
            (false, false, false),
        ] {
            assert_eq!(applicant_hears(public, moves), hears, "{public} {moves}");
        }
    }

    const HELP: CaseKind = CaseKind::Help;
    const PROXY: CaseKind = CaseKind::Proxy;

    /// Every allowed move, by the handling agent unless named.
    #[test]
    fn every_allowed_move() {
        let table = [
            (HELP, Registered, Accept, HandlingAgent, Accepted),
            (HELP, Registered, Refuse, HandlingAgent, Refused),
            (HELP, Accepted, StartService, HandlingAgent, InService),
            (HELP, InService, Submit, HandlingAgent, Submitted),
            (HELP, Submitted, Return, HandlingAgent, Returned),
            (HELP, Returned, Resume, HandlingAgent, InService),
            (HELP, InService, Complete, HandlingAgent, Completed),
            (HELP, Submitted, Complete, Admin, Completed),
            (HELP, Completed, Close, System, Closed),
            (HELP, Completed, Close, Admin, Closed),
            (PROXY, Registered, Accept, Admin, Accepted),
            (PROXY, Registered, Refuse, HandlingAgent, Refused),
            (PROXY, Accepted, Entrust, HandlingAgent, Entrusted),
            (
                PROXY,
                Entrusted,
                ReceiveMaterials,
                HandlingAgent,
                MaterialsReceived,
            ),
            (
                PROXY,
                MaterialsReceived,
                StartProgress,
                HandlingAgent,
                InProgress,
            ),
            (PROXY, InProgress, Complete, HandlingAgent, Completed),
            (PROXY, Completed, Deliver, HandlingAgent, Delivered),
            (PROXY, Delivered, Archive, Admin, Archived),
            (PROXY, Archived, Close, System, Closed),
        ];
        for (kind, from, action, role, to) in table {
            assert_eq!(
                transition(kind, from, action, role),
                Ok(to),
                "{kind:?} {from:?} {action:?} by {role:?}"
            );
        }
    }

    #[test]
    fn a_proxy_case_is_terminated_from_any_open_state_for_reasons_two_to_seven() {
        let open = [
            Registered,
            Accepted,
            Entrusted,
            MaterialsReceived,
            InProgress,
        ];
        let reasons = [
            RequestedByApplicant,
            DishonestEnterprise,
            NotCompletable,
            FalseMaterials,
            ApplicantBreach,
            LongStandstill,
        ];
        for from in open {
            for reason in reasons {
                assert_eq!(
                    transition(PROXY, from, Terminate(reason), HandlingAgent),
                    Ok(Terminated),
                    "{from:?} {reason:?}"
                );
            }
            // The applicant may only ask to stop.
            assert_eq!(
                transition(PROXY, from, Terminate(RequestedByApplicant), Applicant),
                Ok(Terminated)
            );
            assert_eq!(
                transition(PROXY, from, Terminate(FalseMaterials), Applicant),
                Err(TransitionError::Forbidden { role: Applicant })
            );
            // Completion is not a termination.
            assert!(transition(PROXY, from, Terminate(MatterCompleted), Admin).is_err());
        }
        for closed in [Completed, Delivered, Archived, Closed, Terminated, Refused] {
            assert_eq!(
                transition(PROXY, closed, Terminate(RequestedByApplicant), Admin),
                Err(TransitionError::NotAllowed {
                    kind: PROXY,
                    from: closed
                }),
                "{closed:?}"
            );
        }
    }

    /// A sample of forbidden moves: skipping a step, the other kind's steps, going back, acting
    /// on an ended case, the wrong role.
    #[test]
    fn forbidden_moves() {
        let not_allowed = [
            (PROXY, Accepted, ReceiveMaterials), // no materials before the entrustment
            (PROXY, Accepted, StartProgress),
            (PROXY, Registered, Entrust), // no entrustment before acceptance
            (PROXY, InProgress, Archive),
            (PROXY, Completed, Archive), // archived only once delivered
            (PROXY, Delivered, Close),
            (PROXY, Accepted, StartService), // a help step on a proxy case
            (HELP, Accepted, Entrust),       // a proxy step on a help case
            (HELP, Accepted, Submit),
            (HELP, Returned, Complete),
            (HELP, InService, Terminate(RequestedByApplicant)),
            (HELP, Closed, Accept),
            (HELP, Refused, Accept),
            (PROXY, Terminated, Accept),
            (HELP, Accepted, Accept),
            (PROXY, InService, Terminate(RequestedByApplicant)), // a help status on a proxy case
            (HELP, Entrusted, ReceiveMaterials),                 // and the other way round
        ];
        for (kind, from, action) in not_allowed {
            assert_eq!(
                transition(kind, from, action, Admin),
                Err(TransitionError::NotAllowed { kind, from }),
                "{kind:?} {from:?} {action:?}"
            );
        }
        let wrong_role = [
            (HELP, Registered, Accept, Applicant),
            (PROXY, Registered, Accept, System),
            (PROXY, Completed, Deliver, Applicant),
            (HELP, Completed, Close, HandlingAgent),
            (PROXY, InProgress, Terminate(LongStandstill), System),
            (PROXY, InProgress, Terminate(RequestedByApplicant), System),
        ];
        for (kind, from, action, role) in wrong_role {
            assert_eq!(
                transition(kind, from, action, role),
                Err(TransitionError::Forbidden { role }),
                "{kind:?} {from:?} {action:?} by {role:?}"
            );
        }
    }

    #[test]
    fn a_refusal_is_a_coded_error_naming_the_status() {
        let error: crate::error::AppError = TransitionError::NotAllowed {
            kind: PROXY,
            from: Delivered,
        }
        .into();
        assert_eq!(error.code(), "INVALID_TRANSITION");
        assert!(error.message().contains("delivered"), "{}", error.message());
    }

    #[test]
    fn the_diagrams_come_from_the_table() {
        let proxy = mermaid(PROXY);
        assert!(
            proxy.contains("ACCEPTED --> ENTRUSTED: 签订委托书"),
            "{proxy}"
        );
        assert!(
            proxy.contains("IN_PROGRESS --> TERMINATED: 终止"),
            "{proxy}"
        );
        assert!(!proxy.contains("SUBMITTED"), "{proxy}");
        let help = mermaid(HELP);
        assert!(
            help.contains("RETURNED --> IN_SERVICE: 补正后继续"),
            "{help}"
        );
        assert!(
            !help.contains("ENTRUSTED") && !help.contains("TERMINATED"),
            "{help}"
        );
    }

    /// Every status of a kind is reached from REGISTERED, and only the ends have no way out.
    #[test]
    fn every_status_is_reachable_and_only_the_ends_are_dead_ends() {
        let roles = [Applicant, HandlingAgent, Admin, System];
        for kind in [HELP, PROXY] {
            let mut seen = vec![Registered];
            let mut next = vec![Registered];
            while let Some(from) = next.pop() {
                for action in ACTIONS {
                    for role in roles {
                        if let Ok(to) = transition(kind, from, action, role)
                            && !seen.contains(&to)
                        {
                            seen.push(to);
                            next.push(to);
                        }
                    }
                }
            }
            for status in statuses(kind) {
                assert!(
                    seen.contains(status),
                    "{kind:?}: {status:?} is never reached"
                );
                let way_out = ACTIONS.iter().any(|a| {
                    roles
                        .iter()
                        .any(|r| transition(kind, *status, *a, *r).is_ok())
                });
                let end = matches!(status, Refused | Closed | Terminated);
                assert_eq!(way_out, !end, "{kind:?}: {status:?}");
            }
        }
    }
}
