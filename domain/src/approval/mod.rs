//! E-approval (전자결재, rules A1–A11): forms and settings, absences,
//! documents with their approval lines, the boxes documents sit in, and
//! document numbers.

pub mod absence;
pub mod backup;
pub mod boxes;
pub mod document;
pub mod line;
pub mod numbering;
pub mod reactions;
pub mod setup;

#[cfg(test)]
mod document_tests;

pub use absence::{Absence, AbsenceAction, AbsenceCommand, AbsenceEvent, Absences};
pub use backup::{Backup, BackupAction, BackupCommand, BackupEvent, Backups};
pub use boxes::{Access, DocBox, Owner};
pub use document::{Document, DocumentAction, DocumentCommand, DocumentEvent, Draft, OnBehalf, Status};
pub use line::{AgreerSlot, AgreerState, ApproverSlot, Line, LineInput, Receiver, ReceiverSlot, Review, SlotState};
pub use numbering::{AssignNumber, DocumentNumbers, NumberingEvent};
pub use setup::{
    ApprovalSettings, ApprovalSetup, ApprovalSetupAction, ApprovalSetupCommand, ApprovalSetupEvent, FieldKind, Flow,
    Form, FormField, FormSpec,
};
