//! HR and leave (인사관리, 연차; rules H1–H7): HR cards and employment
//! status, leave ledgers with accrual, adjustments and leave requests.

pub mod certificate;
pub mod leave;
pub mod personnel;
pub mod reactions;

#[cfg(test)]
mod leave_tests;

pub use certificate::{
    Certificate, CertificateAction, CertificateCommand, CertificateEvent, CertificateKind, CertificateRegister,
    CertificateRequest, PrintedFacts,
};
pub use leave::{
    Accrual, AdjustmentSource, Change, GrantKind, LeaveAction, LeaveCommand, LeaveEvent, LeaveLedger, QUARTERS,
    accruals,
};
pub use personnel::{
    Card, CardDetails, EmploymentStatus, Personnel, PersonnelAction, PersonnelCommand, PersonnelEvent, ResidentNumber,
    StatusChange,
};
