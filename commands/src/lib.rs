//! Command handling: authorise, load, decide, append with the expected
//! version, retry on conflict, deduplicate by command id; the clock, the
//! scheduler that fires time-driven commands, and the process managers that
//! carry out what recorded events cause.

mod batches;
mod clock;
mod command_log;
mod hot_streams;
mod pipeline;
mod processes;
mod reactions;
mod scheduler;

pub use clock::{Clock, ManualClock, SystemClock};
pub use command_log::CommandLog;
pub use pipeline::{AsOf, CommandContext, CommandError, Commands, Outcome, Past, Shared, fold, stream_name};
pub use processes::{Handled, Processes};
pub use reactions::{AggregateHandle, CarriedOut, Origin, Reaction, Reactions, TimerReaction};
pub use scheduler::{Scheduler, Waiting};
