//! Command handling: authorise, load, decide, append with the expected
//! version, retry on conflict, deduplicate by command id; the clock and the
//! scheduler that fires time-driven commands.

mod clock;
mod command_log;
mod pipeline;
mod scheduler;

pub use clock::{Clock, ManualClock, SystemClock};
pub use command_log::CommandLog;
pub use pipeline::{CommandContext, CommandError, Commands, Outcome, stream_name};
pub use scheduler::{FiredTimer, Scheduler, TimerHandler};
