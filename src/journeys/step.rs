//! Every step of every journey, by the name reports and targets (`step.NAME.p95`) use. A step's
//! name is the same in every journey that has it, so its figures add up across journeys.

use crate::findings::FindingKind;

/// The steps, in the order reports list them within their journeys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Step {
    Register,
    Login,
    AuthMe,
    Profile,
    CreateThread,
    WsConnect,
    FirstReply,
    History,
    ListThreads,
    UseAccess,
    Refresh,
    UseNewAccess,
    Expiry,
    ReuseOldRefresh,
    Relogin,
    Logout,
    UseAfterLogout,
    Burst,
    Recover,
    Quota,
    PostMessages,
    Export,
    Usage,
    MoreDevices,
    ConnectDevices,
    ChatAllDevices,
    LogoutOneDevice,
    OthersStillWork,
    InterruptedTurn,
    Reconnect,
    HistoryAfterDrop,
    TurnAfterReconnect,
    Health,
    Hold,
}

impl Step {
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The leak the isolation scanner can name in what this step receives, besides `data_leak`
    /// (which any answer can show): a thread list, the export, or WebSocket frames.
    pub fn exposes(self) -> Option<FindingKind> {
        match self {
            Step::ListThreads => Some(FindingKind::ListLeak),
            Step::Export => Some(FindingKind::ExportLeak),
            Step::WsConnect
            | Step::FirstReply
            | Step::UseNewAccess
            | Step::Quota
            | Step::ConnectDevices
            | Step::ChatAllDevices
            | Step::OthersStillWork
            | Step::InterruptedTurn
            | Step::Reconnect
            | Step::TurnAfterReconnect
            | Step::Hold => Some(FindingKind::WsCrosstalk),
            _ => None,
        }
    }

    /// Whether the step creates a thread, which the isolation probes may then try as another
    /// user (a run without one has nothing for them to probe).
    pub fn creates_thread(self) -> bool {
        matches!(self, Step::CreateThread | Step::ConnectDevices)
    }

    /// The findings a step checks each time it completes (the coverage ledger counts them); a
    /// journey that finds a kind with no step of its own checking it is the check as a whole.
    pub fn detects(self) -> &'static [FindingKind] {
        match self {
            Step::Refresh => &[FindingKind::TokenCollision, FindingKind::IdentityDrift],
            Step::Expiry => &[FindingKind::ExpiredTokenAccepted],
            Step::ReuseOldRefresh => &[FindingKind::RefreshReuseAccepted, FindingKind::ReuseFamilyNotRevoked],
            Step::UseAfterLogout => &[FindingKind::LogoutNotRevoked],
            Step::Burst => &[FindingKind::NoRateLimit],
            Step::Quota => &[FindingKind::QuotaNotEnforced],
            Step::HistoryAfterDrop => &[FindingKind::MessageLost],
            Step::Usage => &[FindingKind::UsageMiscounted],
            _ => &[],
        }
    }

    /// Where a step named `name` comes in reports: steps this build knows in their order,
    /// others (from another version's report) after them.
    pub fn rank(name: &str) -> usize {
        use strum::VariantArray;
        Step::VARIANTS.iter().position(|s| s.name() == name).unwrap_or(usize::MAX)
    }
}
