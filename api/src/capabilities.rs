//! The capabilities the server is made of, each described in one value:
//! the aggregates its follow-ups command, its projectors, its reactions,
//! what its timers cause and its background workers. The server starts
//! from the one list, [`all`].

use std::sync::Arc;

use commands::{AggregateHandle, Reaction, TimerReaction};
use domain::approval::{self, Absences, ApprovalSetup, Backups, Document, DocumentNumbers};
use domain::hr::{self, CertificateRegister, LeaveLedger, Personnel};
use domain::mail::{self, Mailbox};
use domain::organisation::Organisation;
use domain::registry::DomainRegistration;
use domain::tenant::Tenant;
use domain::timer::Timer;
use projections::Projector;
use projections::projectors::audit::AuditProjector;
use projections::projectors::mailboxes::MailboxesProjector;
use projections::projectors::tenants::TenantsProjector;
use projections::projectors::users::UsersProjector;
use projections::projectors::{ApprovalProjector, HrProjector, OrganisationProjector};

use crate::workers::Worker;

/// One capability of the server.
pub struct Capability {
    pub name: &'static str,
    /// The aggregates of the capability.
    pub aggregates: Vec<AggregateHandle>,
    pub projectors: Vec<Arc<dyn Projector>>,
    /// Its reactions to recorded events (fresh memory each time it is
    /// asked).
    pub reactions: fn() -> Vec<Reaction>,
    /// What its kinds of timers cause.
    pub timers: Vec<(&'static str, TimerReaction)>,
    pub workers: Vec<Worker>,
}

impl Capability {
    fn new(name: &'static str) -> Self {
        Self { name, aggregates: vec![], projectors: vec![], reactions: Vec::new, timers: vec![], workers: vec![] }
    }
}

/// Every capability of the server, in the order they start.
pub fn all() -> Vec<Capability> {
    vec![accounts(), mail(), organisation(), approval(), hr()]
}

/// Every projector of every capability.
pub fn projectors() -> Vec<Arc<dyn Projector>> {
    all().into_iter().flat_map(|c| c.projectors).collect()
}

/// Companies, their domains and user accounts; the timers everyone uses.
fn accounts() -> Capability {
    Capability {
        aggregates: vec![
            AggregateHandle::of::<Tenant>(),
            AggregateHandle::of::<DomainRegistration>(),
            AggregateHandle::of::<Timer>(),
        ],
        projectors: vec![Arc::new(TenantsProjector), Arc::new(UsersProjector), Arc::new(AuditProjector)],
        ..Capability::new("accounts")
    }
}

/// Webmail (rules E1–E8).
fn mail() -> Capability {
    Capability {
        aggregates: vec![AggregateHandle::of::<Mailbox>()],
        projectors: vec![Arc::new(MailboxesProjector)],
        reactions: || vec![Reaction::remembering::<Mailbox, mail::reactions::Forwarders>(mail::reactions::react)],
        timers: vec![(mail::reactions::SCHEDULED_SEND, mail::reactions::on_scheduled_send)],
        workers: vec![crate::workers::OUTBOX],
        ..Capability::new("mail")
    }
}

/// The organisation chart.
fn organisation() -> Capability {
    Capability {
        aggregates: vec![AggregateHandle::of::<Organisation>()],
        projectors: vec![Arc::new(OrganisationProjector)],
        ..Capability::new("organisation")
    }
}

/// E-approval (rules A1–A11).
fn approval() -> Capability {
    Capability {
        aggregates: vec![
            AggregateHandle::of::<ApprovalSetup>(),
            AggregateHandle::of::<Absences>(),
            AggregateHandle::of::<Document>(),
            AggregateHandle::of::<DocumentNumbers>(),
            AggregateHandle::of::<Backups>(),
        ],
        projectors: vec![Arc::new(ApprovalProjector)],
        reactions: || {
            vec![
                Reaction::on::<Document>(approval::reactions::on_document),
                Reaction::on::<DocumentNumbers>(approval::reactions::on_numbering),
            ]
        },
        workers: vec![crate::workers::BACKUPS],
        ..Capability::new("approval")
    }
}

/// HR and leave (rules H1–H7).
fn hr() -> Capability {
    Capability {
        aggregates: vec![
            AggregateHandle::of::<Personnel>(),
            AggregateHandle::of::<LeaveLedger>(),
            AggregateHandle::of::<CertificateRegister>(),
        ],
        projectors: vec![Arc::new(HrProjector)],
        reactions: || {
            vec![
                Reaction::on::<Personnel>(hr::reactions::on_personnel),
                Reaction::on::<LeaveLedger>(hr::reactions::on_ledger),
                Reaction::on::<Document>(hr::reactions::on_document),
            ]
        },
        timers: vec![(hr::reactions::LEAVE_SETTLE, hr::reactions::on_settle)],
        ..Capability::new("hr")
    }
}
