//! Command handling: authorise, load, decide, append with the expected
//! version, retry on conflict, deduplicate by command id; the clock, the
//! scheduler that fires time-driven commands, and the process managers.

mod clock;
mod command_log;
mod hot_streams;
mod leave_processes;
mod pipeline;
mod processes;
mod scheduler;

pub use clock::{Clock, ManualClock, SystemClock};
pub use command_log::CommandLog;
pub use leave_processes::{
    LEAVE_SETTLE, ends_submission, holds_submission, leave_settle_handler, open_ledger, release_leave,
    release_reservation, restore_leave, take_leave,
};
pub use pipeline::{CommandContext, CommandError, Commands, Outcome, stream_name};
pub use processes::{Processes, SCHEDULED_SEND, number_document, scheduled_send_handler};
pub use scheduler::{FiredTimer, Scheduler, TimerHandler};
