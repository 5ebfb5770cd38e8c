"""The review database, split by concern (Zulip style) and re-exported here."""
from studies.models.dedup import CandidateStatus, DuplicateCandidate, MatchMethod
from studies.models.extraction import StudyExtraction
from studies.models.outcomes import (
    CHECKED_NUMBERS,
    CheckState,
    DataType,
    Direction,
    Outcome,
    OutcomeData,
    OutcomeDomain,
    Provenance,
    TimePoint,
    ValueType,
)
from studies.models.pending import PENDING_IMPORT_LIFETIME, PendingImport
from studies.models.records import FullTextStatus, ImportBatch, ImportFormat, Record, SearchSource
from studies.models.reviews import (
    CONTINUOUS_MEASURES,
    DICHOTOMOUS_MEASURES,
    EffectMeasure,
    ModelRule,
    Review,
    ReviewMembership,
    RiskOfBiasTool,
    Role,
    Tau2Estimator,
)
from studies.models.risk_of_bias import (
    Judgment,
    RiskOfBiasAssessment,
    RiskOfBiasJudgment,
    Rob2Answer,
    Rob2Assessment,
    Rob2Domain,
    Rob2DomainJudgment,
    Rob2Judgment,
    Rob2SignallingAnswer,
    RobDomain,
)
from studies.models.screening import (
    Decision,
    ExclusionReason,
    FullTextDocument,
    ScreeningDecision,
    ScreeningResolution,
    ScreeningStatus,
    Stage,
)
from studies.models.studies import (
    Arm,
    ArmRole,
    CharacteristicField,
    CharacteristicType,
    Report,
    Study,
    StudyCharacteristic,
)
from studies.models.team import INVITATION_VALID_FOR, Invitation, InvitationStatus
from studies.models.audit import AUDITED_MODELS, EVENT_MODELS  # noqa: E402 (after the models it tracks)

__all__ = [
    "CandidateStatus", "DuplicateCandidate", "MatchMethod", "CHECKED_NUMBERS", "CheckState",
    "Arm", "ArmRole", "CONTINUOUS_MEASURES", "CharacteristicField", "CharacteristicType", "DICHOTOMOUS_MEASURES",
    "DataType", "Decision", "Direction", "EffectMeasure", "ExclusionReason", "FullTextDocument", "FullTextStatus", "ImportBatch",
    "ImportFormat", "Judgment", "ModelRule", "Outcome", "OutcomeData", "OutcomeDomain", "Provenance", "Record",
    "PENDING_IMPORT_LIFETIME", "PendingImport", "Report", "Review", "ReviewMembership", "RiskOfBiasAssessment", "RiskOfBiasJudgment", "RiskOfBiasTool",
    "Rob2Answer", "Rob2Assessment", "Rob2Domain", "Rob2DomainJudgment", "Rob2Judgment", "Rob2SignallingAnswer",
    "RobDomain", "Role", "ScreeningDecision", "ScreeningResolution", "ScreeningStatus", "SearchSource", "Stage",
    "Study", "StudyExtraction",
    "StudyCharacteristic", "Tau2Estimator", "TimePoint", "ValueType", "AUDITED_MODELS", "EVENT_MODELS",
    "INVITATION_VALID_FOR", "Invitation", "InvitationStatus",
]
